/**
 * @file kt_conv2d_input_grad_s8.c
 * @brief CONV_2D input gradient (docs/numerics.md; golden conv2d_input_grad.py).
 *
 * Gather form, no scratch: for each input pixel and block of KT_GRAD_BLOCK input channels, the
 * accumulators live on the stack; every filter tap that reads the pixel in the forward pass
 * names one output pixel (oh, ow), whose h[co] = scale_round(gy, chan.m[co], chan.s[co] + H)
 * is computed on the fly (zero gradients, e.g. masked by a ReLU, are skipped) and multiplied
 * into a contiguous filter row W[co, kh, kw, ci0..].
 */
#include "kt_train_kernels.h"
#include "internal/kt_check.h"
#include "internal/kt_filter.h"
#include "internal/kt_grad_quant.h"

kt_status kt_conv2d_input_grad_s8(const kt_conv_grad_params *p, int32_t e_gy, int32_t e_gx,
                                  const kt_dims *grad_output_dims, const int8_t *grad_output,
                                  const kt_dims *filter_dims, const int8_t *filter,
                                  const kt_dims *grad_input_dims, int8_t *grad_input,
                                  kt_grad_stats *stats)
{
    const kt_split_filter whole = {filter, NULL, filter_dims != NULL ? filter_dims->n : 0};
    return kt_conv2d_input_grad_split_s8(p, e_gy, e_gx, grad_output_dims, grad_output, filter_dims,
                                         &whole, grad_input_dims, grad_input, stats);
}

kt_status kt_conv2d_input_grad_split_s8(const kt_conv_grad_params *p, int32_t e_gy, int32_t e_gx,
                                        const kt_dims *grad_output_dims, const int8_t *grad_output,
                                        const kt_dims *filter_dims, const kt_split_filter *filter,
                                        const kt_dims *grad_input_dims, int8_t *grad_input,
                                        kt_grad_stats *stats)
{
    int32_t acc[KT_GRAD_BLOCK];
    int32_t b, iy, ix, ky, kx, co, j, ci0;
    int32_t in_h, in_w, in_c, k_h, k_w, out_h, out_w, out_c, hr, out_shift;

    if (p == NULL || !kt_check_quant_ptrs(&p->chan) ||
        !kt_check_tensor_ptrs(grad_output_dims, grad_output, filter_dims, kt_filter_any(filter),
                              grad_input_dims, grad_input) ||
        !kt_check_split_filter(filter, filter_dims->n) || stats == NULL) {
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
    hr = p->headroom;
    if (!kt_check_conv_dims(grad_input_dims, filter_dims, grad_output_dims) ||
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
                        /* forward: iy = oy * stride - pad + ky * dil */
                        const int32_t ty = iy + p->padding.h - ky * p->dilation.h;
                        int32_t oy;
                        if (ty < 0) {
                            break; /* ty only decreases with ky */
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
                            gy = gy_b + ((size_t)oy * out_w + ox) * out_c;
                            for (co = 0; co < out_c; ++co) {
                                const int8_t *f;
                                int32_t h;
                                if (gy[co] == 0) {
                                    continue;
                                }
                                h = kt_scale_round(gy[co], p->chan.multiplier[co],
                                                   p->chan.shift[co] + hr);
                                f = kt_filter_row(filter, co, (size_t)k_h * k_w * in_c) +
                                    ((size_t)ky * k_w + kx) * in_c + ci0;
                                for (j = 0; j < nb; ++j) {
                                    acc[j] += (int32_t)f[j] * h;
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
