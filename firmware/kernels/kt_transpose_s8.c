/**
 * @file kt_transpose_s8.c
 * @brief TRANSPOSE int8, rank <= 4: output axis i is input axis perm[i]. The output is written
 *        contiguously; the input is read through permuted strides.
 */
#include "kt_kernels.h"

kt_status kt_transpose_s8(const kt_transpose_params *tr, const int32_t *input_shape,
                          const int8_t *input, int8_t *output)
{
    int32_t in[4], in_stride[4], out[4], st[4], perm[4];
    int32_t i, lead, rank, seen, i0, i1, i2, i3;
    if (tr == NULL || input_shape == NULL || input == NULL || output == NULL) {
        return KT_ARG_ERROR;
    }
    rank = tr->rank;
    if (rank < 1 || rank > KT_MAX_RANK) {
        return KT_ARG_ERROR;
    }
    seen = 0;
    for (i = 0; i < rank; ++i) {
        if (tr->perm[i] < 0 || tr->perm[i] >= rank || (seen & (1 << tr->perm[i])) ||
            input_shape[i] < 1) {
            return KT_ARG_ERROR;
        }
        seen |= 1 << tr->perm[i];
    }
    /* extend to 4-D: leading size-1 axes that map to themselves */
    lead = 4 - rank;
    for (i = 0; i < 4; ++i) {
        in[i] = i < lead ? 1 : input_shape[i - lead];
        perm[i] = i < lead ? i : tr->perm[i - lead] + lead;
    }
    in_stride[3] = 1;
    for (i = 2; i >= 0; --i) {
        in_stride[i] = in_stride[i + 1] * in[i + 1];
    }
    for (i = 0; i < 4; ++i) {
        out[i] = in[perm[i]];
        st[i] = in_stride[perm[i]];
    }
    for (i0 = 0; i0 < out[0]; ++i0) {
        for (i1 = 0; i1 < out[1]; ++i1) {
            for (i2 = 0; i2 < out[2]; ++i2) {
                const int8_t *src =
                    input + (size_t)i0 * st[0] + (size_t)i1 * st[1] + (size_t)i2 * st[2];
                if (st[3] == 1) {
                    for (i3 = 0; i3 < out[3]; ++i3) {
                        *output++ = src[i3];
                    }
                } else {
                    for (i3 = 0; i3 < out[3]; ++i3) {
                        *output++ = src[(size_t)i3 * st[3]];
                    }
                }
            }
        }
    }
    return KT_OK;
}
