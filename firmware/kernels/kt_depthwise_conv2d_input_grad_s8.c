/**
 * @file kt_depthwise_conv2d_input_grad_s8.c
 * @brief DEPTHWISE_CONV_2D input gradient (golden depthwise_conv2d_input_grad.py).
 *
 * Gather form, no scratch: per input pixel and block of KT_GRAD_BLOCK input channels, the taps
 * that read the pixel name output pixels; input channel ci sums filter[0, kh, kw, co] * h[co]
 * over co = ci * depth_multiplier + m, with h computed on the fly (zeros skipped).
 */
#include "kt_train_kernels.h"
#include "internal/kt_check.h"
#include "internal/kt_grad_quant.h"

kt_status kt_depthwise_conv2d_input_grad_s8(const kt_dw_conv_grad_params *p, int32_t e_gy,
                                            int32_t e_gx, const kt_dims *grad_output_dims,
                                            const int8_t *grad_output, const kt_dims *filter_dims,
                                            const int8_t *filter, const kt_dims *grad_input_dims,
                                            int8_t *grad_input, kt_grad_stats *stats)
{
    int32_t acc[KT_GRAD_BLOCK];
    int32_t b, iy, ix, ky, kx, m, j, ci0;
    int32_t in_h, in_w, in_c, k_h, k_w, out_h, out_w, out_c, dm, hr, out_shift;

    if (p == NULL || !kt_check_quant_ptrs(&p->chan) ||
        !kt_check_tensor_ptrs(grad_output_dims, grad_output, filter_dims, filter, grad_input_dims,
                              grad_input) ||
        stats == NULL) {
        return KT_ARG_ERROR;
    }
    in_h = grad_input_dims->h;
    in_w = grad_input_dims->w;
    in_c = grad_input_dims->c;
    k_h = filter_dims->h;
    k_w = filter_dims->w;
    out_h = grad_output_dims->h;
    out_w = grad_output_dims->w;
    out_c = grad_output_dims->c;
    dm = p->depth_multiplier;
    hr = p->headroom;
    if (!kt_check_dw_dims(grad_input_dims, filter_dims, grad_output_dims, dm) ||
        !kt_check_geometry(&p->stride, &p->padding, &p->dilation) || !kt_check_exponent(e_gy) ||
        !kt_check_exponent(e_gx) || !kt_check_input_grad_quant(&p->chan, hr, p->x_shift, out_c)) {
        return KT_ARG_ERROR;
    }
    out_shift = p->x_shift + e_gy - hr - e_gx;
    kt_grad_stats_reset(stats);

    for (b = 0; b < grad_input_dims->n; ++b) {
        const int8_t *gy_b = grad_output + (size_t)b * out_h * out_w * out_c;
        for (iy = 0; iy < in_h; ++iy) {
            for (ix = 0; ix < in_w; ++ix) {
                int8_t *gx = grad_input + (((size_t)b * in_h + iy) * in_w + ix) * in_c;
                for (ci0 = 0; ci0 < in_c; ci0 += KT_GRAD_BLOCK) {
                    const int32_t nb = in_c - ci0 < KT_GRAD_BLOCK ? in_c - ci0 : KT_GRAD_BLOCK;
                    for (j = 0; j < nb; ++j) {
                        acc[j] = 0;
                    }
                    for (ky = 0; ky < k_h; ++ky) {
                        const int32_t ty = iy + p->padding.h - ky * p->dilation.h;
                        int32_t oy;
                        if (ty < 0) {
                            break;
                        }
                        if (ty % p->stride.h != 0) {
                            continue;
                        }
                        oy = ty / p->stride.h;
                        if (oy >= out_h) {
                            continue;
                        }
                        for (kx = 0; kx < k_w; ++kx) {
                            const int32_t tx = ix + p->padding.w - kx * p->dilation.w;
                            const int8_t *gy;
                            const int8_t *f;
                            int32_t ox;
                            if (tx < 0) {
                                break;
                            }
                            if (tx % p->stride.w != 0) {
                                continue;
                            }
                            ox = tx / p->stride.w;
                            if (ox >= out_w) {
                                continue;
                            }
                            gy = gy_b + ((size_t)oy * out_w + ox) * out_c + (size_t)ci0 * dm;
                            f = filter + ((size_t)ky * k_w + kx) * out_c + (size_t)ci0 * dm;
                            for (j = 0; j < nb; ++j) {
                                for (m = 0; m < dm; ++m) {
                                    const int32_t k = j * dm + m;
                                    const int32_t co = ci0 * dm + k;
                                    if (gy[k] != 0) {
                                        acc[j] += (int32_t)f[k] *
                                                  kt_scale_round(gy[k], p->chan.multiplier[co],
                                                                 p->chan.shift[co] + hr);
                                    }
                                }
                            }
                        }
                    }
                    for (j = 0; j < nb; ++j) {
                        gx[ci0 + j] =
                            kt_to_grad8(kt_scale_round(acc[j], p->x_multiplier, out_shift), stats);
                    }
                }
            }
        }
    }
    return KT_OK;
}
