/**
 * @file kt_fully_connected_input_grad_s8.c
 * @brief FULLY_CONNECTED input gradient (golden fully_connected_input_grad.py): per batch row and
 *        block of KT_GRAD_BLOCK input channels, acc[ci] += w[co, ci] * h[co] with h computed on
 *        the fly (zeros skipped).
 */
#include "kt_train_kernels.h"
#include "internal/kt_check.h"
#include "internal/kt_filter.h"
#include "internal/kt_grad_quant.h"

kt_status kt_fully_connected_input_grad_s8(const kt_fc_grad_params *p, int32_t e_gy, int32_t e_gx,
                                           const kt_dims *grad_output_dims,
                                           const int8_t *grad_output, const kt_dims *filter_dims,
                                           const int8_t *filter, const kt_dims *grad_input_dims,
                                           int8_t *grad_input, kt_grad_stats *stats)
{
    const kt_split_filter whole = {filter, NULL, filter_dims != NULL ? filter_dims->n : 0};
    return kt_fully_connected_input_grad_split_s8(p, e_gy, e_gx, grad_output_dims, grad_output,
                                                  filter_dims, &whole, grad_input_dims, grad_input,
                                                  stats);
}

kt_status kt_fully_connected_input_grad_split_s8(
    const kt_fc_grad_params *p, int32_t e_gy, int32_t e_gx, const kt_dims *grad_output_dims,
    const int8_t *grad_output, const kt_dims *filter_dims, const kt_split_filter *filter,
    const kt_dims *grad_input_dims, int8_t *grad_input, kt_grad_stats *stats)
{
    int32_t acc[KT_GRAD_BLOCK];
    int32_t b, co, j, ci0, in_c, out_c, hr, out_shift;

    if (p == NULL || !kt_check_quant_ptrs(&p->chan) ||
        !kt_check_tensor_ptrs(grad_output_dims, grad_output, filter_dims, kt_filter_any(filter),
                              grad_input_dims, grad_input) ||
        !kt_check_split_filter(filter, filter_dims->n) || stats == NULL) {
        return KT_ARG_ERROR;
    }
    in_c = grad_input_dims->c;
    out_c = grad_output_dims->c;
    hr = p->headroom;
    if (!kt_check_fc_dims(grad_input_dims, filter_dims, grad_output_dims) ||
        !kt_check_exponent(e_gy) || !kt_check_exponent(e_gx) ||
        !kt_check_input_grad_quant(&p->chan, hr, p->x_shift, out_c)) {
        return KT_ARG_ERROR;
    }
    out_shift = p->x_shift + e_gy - hr - e_gx;
    kt_grad_stats_reset(stats);

    for (b = 0; b < grad_input_dims->n; ++b) {
        const int8_t *gy = grad_output + (size_t)b * out_c;
        int8_t *gx = grad_input + (size_t)b * in_c;
        for (ci0 = 0; ci0 < in_c; ci0 += KT_GRAD_BLOCK) {
            const int32_t nb = in_c - ci0 < KT_GRAD_BLOCK ? in_c - ci0 : KT_GRAD_BLOCK;
            for (j = 0; j < nb; ++j) {
                acc[j] = 0;
            }
            for (co = 0; co < out_c; ++co) {
                const int8_t *w;
                int32_t h;
                if (gy[co] == 0) {
                    continue;
                }
                h = kt_grad_h(gy[co], &p->chan, co, hr);
                w = kt_filter_row(filter, co, (size_t)in_c) + ci0;
                for (j = 0; j < nb; ++j) {
                    acc[j] += (int32_t)w[j] * h;
                }
            }
            for (j = 0; j < nb; ++j) {
                gx[ci0 + j] =
                    kt_to_grad8(kt_scale_round(acc[j], p->x_multiplier, out_shift), stats);
            }
        }
    }
    return KT_OK;
}
