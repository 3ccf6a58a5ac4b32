/**
 * @file kt_fully_connected_update_s8.c
 * @brief FULLY_CONNECTED fused QAS update, in place (golden fully_connected_update.py):
 *        acc[co, ci] = sum_n gy[n, co] * (x[n, ci] - zx) per block of KT_GRAD_BLOCK input
 *        channels on the stack, applied at once; bias from sum_n gy[n, co].
 */
#include "kt_train_kernels.h"
#include "internal/kt_check.h"
#include "internal/kt_grad_quant.h"

kt_status kt_fully_connected_update_s8(const kt_update_params *p, int32_t e_gy, uint32_t key,
                                       const kt_dims *input_dims, const int8_t *input,
                                       const kt_dims *grad_output_dims, const int8_t *grad_output,
                                       const kt_dims *filter_dims, int8_t *filter, int32_t *bias)
{
    int32_t acc[KT_GRAD_BLOCK];
    int32_t b, co, j, ci0, batch, in_c, out_c, nw, zx;

    if (!kt_check_update_ptrs(p) || !kt_check_tensor_ptrs(input_dims, input, grad_output_dims,
                                                          grad_output, filter_dims, filter)) {
        return KT_ARG_ERROR;
    }
    batch = input_dims->n;
    in_c = input_dims->c;
    out_c = grad_output_dims->c;
    nw = p->n_weight_channels;
    zx = p->input_zero_point;
    if (!kt_check_fc_dims(input_dims, filter_dims, grad_output_dims) || !kt_check_exponent(e_gy) ||
        !kt_check_update_params(p, out_c)) {
        return KT_ARG_ERROR;
    }

    for (co = 0; co < nw; ++co) {
        int8_t *w = filter + (size_t)co * in_c;
        for (ci0 = 0; ci0 < in_c; ci0 += KT_GRAD_BLOCK) {
            const int32_t nb = in_c - ci0 < KT_GRAD_BLOCK ? in_c - ci0 : KT_GRAD_BLOCK;
            for (j = 0; j < nb; ++j) {
                acc[j] = 0;
            }
            for (b = 0; b < batch; ++b) {
                const int32_t g = grad_output[(size_t)b * out_c + co];
                const int8_t *x = input + (size_t)b * in_c + ci0;
                if (g == 0) {
                    continue;
                }
                for (j = 0; j < nb; ++j) {
                    acc[j] += g * ((int32_t)x[j] - zx);
                }
            }
            for (j = 0; j < nb; ++j) {
                w[ci0 + j] = kt_update_weight_q(w[ci0 + j], acc[j], p->weight.multiplier[co],
                                                p->weight.shift[co] + e_gy, p->stochastic, key,
                                                (uint32_t)((size_t)co * in_c + (size_t)(ci0 + j)));
            }
        }
    }
    if (bias != NULL) {
        for (co = 0; co < out_c; ++co) {
            int32_t s = 0;
            for (b = 0; b < batch; ++b) {
                s += grad_output[(size_t)b * out_c + co];
            }
            bias[co] =
                kt_update_bias(bias[co], s, p->bias.multiplier[co], p->bias.shift[co] + e_gy);
        }
    }
    return KT_OK;
}
