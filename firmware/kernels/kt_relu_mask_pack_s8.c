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
    {
        /* lo < y < top (top = act_max for RELU6, else 128) as one unsigned compare */
        const int32_t lo1 = p->act_min + 1, top = p->relu6 ? p->act_max : 128;
        const uint32_t span = top - lo1 > 0 ? (uint32_t)(top - lo1) : 0u;
        for (i = 0; i < count; i += 8) {
            const int32_t n = count - i < 8 ? count - i : 8;
            uint32_t byte = 0;
            int32_t k;
            for (k = 0; k < n; ++k) {
                byte |= (uint32_t)((uint32_t)(output[i + k] - lo1) < span) << k;
            }
            mask[i / 8] = (uint8_t)byte;
        }
    }
    return KT_OK;
}
