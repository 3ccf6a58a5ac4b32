/**
 * @file kt_relu_mask_pack_s8.c
 * @brief Pack the ReLU mask of a forward output, one bit per element, LSB first
 *        (golden relu_mask.py: relu_mask_pack).
 */
#include "kt_train_kernels.h"

kt_status kt_relu_mask_pack_s8(const kt_relu_mask_params *p, int32_t count, const int8_t *output,
                               uint8_t *mask)
{
    int32_t i;
    if (p == NULL || count < 0 || (count > 0 && (output == NULL || mask == NULL)) ||
        p->act_min < -128 || p->act_max > 127 || p->act_min > p->act_max) {
        return KT_ARG_ERROR;
    }
    for (i = 0; i < count; i += 8) {
        const int32_t n = count - i < 8 ? count - i : 8;
        uint32_t byte = 0;
        int32_t k;
        for (k = 0; k < n; ++k) {
            const int32_t y = output[i + k];
            const int32_t bit = y > p->act_min && (!p->relu6 || y < p->act_max);
            byte |= (uint32_t)bit << k;
        }
        mask[i / 8] = (uint8_t)byte;
    }
    return KT_OK;
}
