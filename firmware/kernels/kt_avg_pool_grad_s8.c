/**
 * @file kt_avg_pool_grad_s8.c
 * @brief AVERAGE_POOL_2D / MEAN input gradient, equal windows without padding (golden
 *        avg_pool_grad.py). Gather form: each input element sums gy over the windows that
 *        contain it, oy in [ceil((iy - fh + 1) / sh), floor(iy / sh)] clipped to [0, OH).
 */
#include <string.h>

#include "kt_train_kernels.h"
#include "internal/kt_check.h"
#include "internal/kt_grad_quant.h"

kt_status kt_avg_pool_grad_s8(const kt_pool_grad_params *p, int32_t e_gy, int32_t e_gx,
                              const kt_dims *grad_output_dims, const int8_t *grad_output,
                              const kt_dims *grad_input_dims, int8_t *grad_input,
                              kt_grad_stats *stats)
{
    int32_t b, iy, ix, oy, ox, c;
    int32_t in_h, in_w, ch, out_h, out_w, fh, fw, sh, sw, shift;

    if (p == NULL || grad_output_dims == NULL || grad_output == NULL || grad_input_dims == NULL ||
        grad_input == NULL || stats == NULL) {
        return KT_ARG_ERROR;
    }
    in_h = grad_input_dims->h;
    in_w = grad_input_dims->w;
    ch = grad_input_dims->c;
    out_h = grad_output_dims->h;
    out_w = grad_output_dims->w;
    fh = p->filter.h;
    fw = p->filter.w;
    sh = p->stride.h;
    sw = p->stride.w;
    if (grad_input_dims->n < 1 || grad_output_dims->n != grad_input_dims->n || ch < 1 ||
        grad_output_dims->c != ch || in_h < 1 || in_w < 1 || out_h < 1 || out_w < 1 || fh < 1 ||
        fw < 1 || sh < 1 || sw < 1 || (out_h - 1) * sh + fh > in_h ||
        (out_w - 1) * sw + fw > in_w || !kt_check_exponent(e_gy) || !kt_check_exponent(e_gx) ||
        !kt_check_grad_shift(p->count_shift)) {
        return KT_ARG_ERROR;
    }
    shift = p->count_shift + e_gy - e_gx;
    kt_grad_stats_reset(stats);

    for (b = 0; b < grad_input_dims->n; ++b) {
        /* input pixels read by the same output windows get the same gradient: the last computed
           pixel is copied, its saturation count added again (a global MEAN computes one pixel) */
        const int8_t *last = NULL;
        int32_t last_win[4] = {0, 0, 0, 0}, last_sat = 0;
        for (iy = 0; iy < in_h; ++iy) {
            const int32_t oy_lo = iy - fh + 1 <= 0 ? 0 : (iy - fh + 1 + sh - 1) / sh;
            const int32_t oy_hi = iy / sh < out_h - 1 ? iy / sh : out_h - 1; /* inclusive */
            for (ix = 0; ix < in_w; ++ix) {
                const int32_t ox_lo = ix - fw + 1 <= 0 ? 0 : (ix - fw + 1 + sw - 1) / sw;
                const int32_t ox_hi = ix / sw < out_w - 1 ? ix / sw : out_w - 1;
                int8_t *gx = grad_input + (((size_t)b * in_h + iy) * in_w + ix) * ch;
                const int32_t sat0 = stats->saturated;
                if (last != NULL && last_win[0] == oy_lo && last_win[1] == oy_hi &&
                    last_win[2] == ox_lo && last_win[3] == ox_hi) {
                    memcpy(gx, last, (size_t)ch);
                    stats->saturated += last_sat;
                    continue;
                }
                for (c = 0; c < ch; ++c) {
                    int32_t acc = 0;
                    for (oy = oy_lo; oy <= oy_hi; ++oy) {
                        const int8_t *gy =
                            grad_output + (((size_t)b * out_h + oy) * out_w) * ch + c;
                        for (ox = ox_lo; ox <= ox_hi; ++ox) {
                            acc += gy[(size_t)ox * ch];
                        }
                    }
                    gx[c] = kt_to_grad8(kt_scale_round(acc, p->count_multiplier, shift), stats);
                }
                last = gx;
                last_win[0] = oy_lo;
                last_win[1] = oy_hi;
                last_win[2] = ox_lo;
                last_win[3] = ox_hi;
                last_sat = stats->saturated - sat0;
            }
        }
    }
    return KT_OK;
}
