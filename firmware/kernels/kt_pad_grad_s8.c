/**
 * @file kt_pad_grad_s8.c
 * @brief PAD / PADV2 and TRANSPOSE input gradients (golden pad_grad.py, transpose_grad.py): bytes
 *        moved, no arithmetic. PAD's: the middle of the output gradient, row by row (innermost
 *        axis) with memcpy; TRANSPOSE's: kt_transpose_s8() by the inverse permutation.
 */
#include <string.h>

#include "kt_train_kernels.h"
#include "internal/kt_pad_dims.h"

kt_status kt_pad_grad_s8(const kt_pad_params *pad, const int32_t *input_shape,
                         const int8_t *grad_output, int8_t *grad_input)
{
    int32_t in[4], before[4], out[4];
    int32_t i0, i1, i2;
    if (pad == NULL || input_shape == NULL || grad_output == NULL || grad_input == NULL ||
        !kt_pad_dims4(pad, input_shape, in, before, out)) {
        return KT_ARG_ERROR;
    }
    for (i0 = 0; i0 < in[0]; ++i0) {
        for (i1 = 0; i1 < in[1]; ++i1) {
            for (i2 = 0; i2 < in[2]; ++i2) {
                const int8_t *src =
                    grad_output +
                    ((((size_t)(i0 + before[0]) * out[1] + (size_t)(i1 + before[1])) * out[2] +
                      (size_t)(i2 + before[2])) *
                         out[3] +
                     (size_t)before[3]);
                memcpy(grad_input + (((size_t)i0 * in[1] + i1) * in[2] + i2) * in[3], src,
                       (size_t)in[3]);
            }
        }
    }
    return KT_OK;
}

kt_status kt_transpose_grad_s8(const kt_transpose_params *tr, const int32_t *input_shape,
                               const int8_t *grad_output, int8_t *grad_input)
{
    kt_transpose_params inv;
    int32_t out_shape[KT_MAX_RANK];
    int32_t i, seen = 0;
    if (tr == NULL || input_shape == NULL || grad_output == NULL || grad_input == NULL ||
        tr->rank < 1 || tr->rank > KT_MAX_RANK) {
        return KT_ARG_ERROR;
    }
    inv.rank = tr->rank;
    for (i = 0; i < tr->rank; ++i) {
        const int32_t a = tr->perm[i];
        if (a < 0 || a >= tr->rank || (seen & (1 << a)) != 0) {
            return KT_ARG_ERROR; /* not a permutation */
        }
        seen |= 1 << a;
        inv.perm[a] = i;
        out_shape[i] = input_shape[a];
    }
    for (i = tr->rank; i < KT_MAX_RANK; ++i) {
        inv.perm[i] = 0;
        out_shape[i] = 1;
    }
    /* grad_output has the forward output's shape; axis j of the result is its axis inv.perm[j] */
    return kt_transpose_s8(&inv, out_shape, grad_output, grad_input);
}
