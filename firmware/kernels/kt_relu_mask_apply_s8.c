/**
 * @file kt_relu_mask_apply_s8.c
 * @brief Apply a packed ReLU mask to a gradient: out = bit ? grad : 0 (golden relu_mask.py:
 *        relu_mask_apply). In place allowed.
 */
#include <string.h>

#include "kt_train_kernels.h"

kt_status kt_relu_mask_apply_s8(int32_t count, const uint8_t *mask, const int8_t *grad, int8_t *out)
{
    int32_t i;
    if (count < 0 || (count > 0 && (mask == NULL || grad == NULL || out == NULL))) {
        return KT_ARG_ERROR;
    }
    i = 0;
#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    /* eight values per mask byte: each nibble becomes a word of 0x00 / 0xFF bytes (the multiply
       moves bit k to bit 8k: 0x00204081 = 2^0 + 2^7 + 2^14 + 2^21) that masks four values (value
       k of a word is its byte k: little-endian; other byte orders take the loop below) */
    for (; i + 8 <= count; i += 8) {
        const uint32_t b = mask[i >> 3];
        uint32_t g0, g1;
        memcpy(&g0, grad + i, 4);
        memcpy(&g1, grad + i + 4, 4);
        g0 &= (((b & 0xFu) * 0x00204081u) & 0x01010101u) * 0xFFu;
        g1 &= (((b >> 4) * 0x00204081u) & 0x01010101u) * 0xFFu;
        memcpy(out + i, &g0, 4);
        memcpy(out + i + 4, &g1, 4);
    }
#endif
    for (; i < count; ++i) {
        out[i] = ((mask[i >> 3] >> (i & 7)) & 1u) ? grad[i] : (int8_t)0;
    }
    return KT_OK;
}
