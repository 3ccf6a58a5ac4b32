/**
 * @file kt_relu_mask_apply_s8.c
 * @brief Apply a packed ReLU mask to a gradient: out = bit ? grad : 0 (golden relu_mask.py:
 *        relu_mask_apply). In place allowed.
 */
#include "kt_train_kernels.h"

kt_status kt_relu_mask_apply_s8(int32_t count, const uint8_t *mask, const int8_t *grad, int8_t *out)
{
    int32_t i;
    if (count < 0 || (count > 0 && (mask == NULL || grad == NULL || out == NULL))) {
        return KT_ARG_ERROR;
    }
    for (i = 0; i < count; ++i) {
        out[i] = ((mask[i >> 3] >> (i & 7)) & 1u) ? grad[i] : (int8_t)0;
    }
    return KT_OK;
}
