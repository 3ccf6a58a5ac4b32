/**
 * @file kt_pad_dims.h
 * @brief Internal: a PAD's shapes extended to 4-D (leading size-1, unpadded axes), for
 *        kt_pad_s8() and its gradient kt_pad_grad_s8().
 */
#ifndef KT_INTERNAL_PAD_DIMS_H
#define KT_INTERNAL_PAD_DIMS_H

#include <stdint.h>

#include "kt_kernels.h"

/** in, before and out (= in + before + after) of the padded axes, 4-D; 0 if a size or padding is
    out of range (the caller returns KT_ARG_ERROR). */
static inline int kt_pad_dims4(const kt_pad_params *pad, const int32_t *input_shape, int32_t in[4],
                               int32_t before[4], int32_t out[4])
{
    const int32_t lead = 4 - pad->rank;
    int32_t i;
    if (pad->rank < 1 || pad->rank > KT_MAX_RANK) {
        return 0;
    }
    for (i = 0; i < 4; ++i) {
        const int32_t k = i - lead;
        const int32_t after = k < 0 ? 0 : pad->after[k];
        in[i] = k < 0 ? 1 : input_shape[k];
        before[i] = k < 0 ? 0 : pad->before[k];
        if (in[i] < 1 || before[i] < 0 || after < 0) {
            return 0;
        }
        out[i] = in[i] + before[i] + after;
    }
    return 1;
}

#endif /* KT_INTERNAL_PAD_DIMS_H */
