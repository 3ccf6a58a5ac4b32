/**
 * @file kt_depthwise_conv2d_input_grad_s8.c
 * @brief DEPTHWISE_CONV_2D input gradient (golden depthwise_conv2d_input_grad.py).
 *
 * Gather form: per input pixel, the taps that read the pixel name output pixels; input channel ci
 * sums filter[0, kh, kw, co] * h[co] over co = ci * depth_multiplier + m. Small layers of depth
 * multiplier 1 stage each h once (kt_dwig_staged()); the rest compute h on the fly at every tap.
 */
#include "kt_train_kernels.h"
#include "internal/kt_check.h"
#include "internal/kt_dot.h"
#include "internal/kt_grad_quant.h"

/** Output pixels up to this take the staged path (8 bytes of stack each). */
#define KT_DWIG_MAX_PX 64

/* Four channels' h at one output pixel, staged as two words in SXTB16 lane order:
   w[0] = (h[c], h[c + 2]), w[1] = (h[c + 1], h[c + 3]) (16 bits each). */
typedef struct {
    uint32_t w[2];
} kt_h4;

/* The four filter bytes of channels [c, c + 4) at one tap (zeros past the last channel). */
static inline uint32_t kt_dwig_fword(const int8_t *f, int32_t n)
{
    uint32_t w = 0;
    if (n >= 4) {
        memcpy(&w, f, 4);
    } else {
        for (int32_t j = 0; j < n; ++j) {
            w |= (uint32_t)(uint8_t)f[j] << (8 * j);
        }
    }
    return w;
}

/* lane j of the SXTB16 unpacking of a byte word: byte j sign-extended */
static inline int32_t kt_byte(uint32_t w, int32_t j)
{
    return (int32_t)(int8_t)(uint8_t)(w >> (8 * j));
}

/*
 * The staged path (depth multiplier 1, at most KT_DWIG_MAX_PX output pixels, every h of every
 * channel within int16: kt_h16_ok()): four channels at a time, the group's h at every output
 * pixel is computed once and staged (the gather form computes it once per tap that reads it), then
 * each input pixel sums filter x h over the taps that read it, the four accumulators in registers
 * (SMLABB / SMLATT of the SXTB16-unpacked filter word with the staged pairs on the DSP path). Same
 * integers as the gather loop, in another order (int32 wraps alike).
 */
static KT_NOINLINE void kt_dwig_staged(const kt_dw_conv_grad_params *p, int32_t out_shift,
                                       const kt_dims *gyd, const int8_t *grad_output,
                                       const kt_dims *fd, const int8_t *filter, const kt_dims *gxd,
                                       int8_t *grad_input, kt_grad_stats *stats)
{
    kt_h4 hs[KT_DWIG_MAX_PX];
    const int32_t in_h = gxd->h, in_w = gxd->w, ch = gxd->c, out_h = gyd->h, out_w = gyd->w;
    const int32_t k_h = fd->h, k_w = fd->w, hr = p->headroom;
    int32_t b, c, o, iy, ix, ky, kx, j;
    for (b = 0; b < gxd->n; ++b) {
        const int8_t *gy_b = grad_output + (size_t)b * out_h * out_w * ch;
        int8_t *gx_b = grad_input + (size_t)b * in_h * in_w * ch;
        for (c = 0; c < ch; c += 4) {
            const int32_t n = ch - c < 4 ? ch - c : 4;
            for (o = 0; o < out_h * out_w; ++o) {
                int32_t h[4] = {0, 0, 0, 0};
                for (j = 0; j < n; ++j) {
                    h[j] = kt_grad_h(gy_b[(size_t)o * ch + c + j], &p->chan, c + j, hr);
                }
                hs[o].w[0] = kt_pack16(h[0], h[2]);
                hs[o].w[1] = kt_pack16(h[1], h[3]);
            }
            for (iy = 0; iy < in_h; ++iy) {
                for (ix = 0; ix < in_w; ++ix) {
                    int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
                    int8_t *gx = gx_b + ((size_t)iy * in_w + ix) * ch + c;
                    for (ky = 0; ky < k_h; ++ky) {
                        const int32_t ty = iy + p->padding.h - ky * p->dilation.h;
                        int32_t oy;
                        if (ty < 0) {
                            break;
                        }
                        if (ty % p->stride.h != 0 || (oy = ty / p->stride.h) >= out_h) {
                            continue;
                        }
                        for (kx = 0; kx < k_w; ++kx) {
                            const int32_t tx = ix + p->padding.w - kx * p->dilation.w;
                            int32_t ox;
                            uint32_t wf;
                            const kt_h4 *hh;
                            if (tx < 0) {
                                break;
                            }
                            if (tx % p->stride.w != 0 || (ox = tx / p->stride.w) >= out_w) {
                                continue;
                            }
                            wf = kt_dwig_fword(filter + ((size_t)ky * k_w + kx) * ch + c, n);
                            hh = &hs[oy * out_w + ox];
#if KT_USE_DSP
                            {
                                const uint32_t f02 = __sxtb16(wf), f13 = kt_sxtb16_ror8(wf);
                                a0 = __smlabb((int32_t)f02, (int32_t)hh->w[0], a0);
                                a2 = __smlatt((int32_t)f02, (int32_t)hh->w[0], a2);
                                a1 = __smlabb((int32_t)f13, (int32_t)hh->w[1], a1);
                                a3 = __smlatt((int32_t)f13, (int32_t)hh->w[1], a3);
                            }
#else
                            a0 = (int32_t)((uint32_t)a0 +
                                           (uint32_t)(kt_byte(wf, 0) * kt_lo16(hh->w[0])));
                            a2 = (int32_t)((uint32_t)a2 +
                                           (uint32_t)(kt_byte(wf, 2) * kt_hi16(hh->w[0])));
                            a1 = (int32_t)((uint32_t)a1 +
                                           (uint32_t)(kt_byte(wf, 1) * kt_lo16(hh->w[1])));
                            a3 = (int32_t)((uint32_t)a3 +
                                           (uint32_t)(kt_byte(wf, 3) * kt_hi16(hh->w[1])));
#endif
                        }
                    }
                    {
                        const int32_t a[4] = {a0, a1, a2, a3};
                        for (j = 0; j < n; ++j) {
                            gx[j] = kt_to_grad8(kt_scale_round(a[j], p->x_multiplier, out_shift),
                                                stats);
                        }
                    }
                }
            }
        }
    }
}

/* The gather loop (any depth multiplier and size): per input pixel and block of KT_GRAD_BLOCK
   channels, h computed on the fly at every tap (zeros skipped). Not inlined: its accumulator
   block is never on the stack with the staged path's. */
static KT_NOINLINE void kt_dwig_gather(const kt_dw_conv_grad_params *p, int32_t out_shift,
                                       const kt_dims *grad_output_dims, const int8_t *grad_output,
                                       const kt_dims *filter_dims, const int8_t *filter,
                                       const kt_dims *grad_input_dims, int8_t *grad_input,
                                       kt_grad_stats *stats)
{
    int32_t acc[KT_GRAD_BLOCK];
    int32_t b, iy, ix, ky, kx, m, j, ci0;
    const int32_t in_h = grad_input_dims->h, in_w = grad_input_dims->w, in_c = grad_input_dims->c;
    const int32_t k_h = filter_dims->h, k_w = filter_dims->w, hr = p->headroom;
    const int32_t out_h = grad_output_dims->h, out_w = grad_output_dims->w;
    const int32_t out_c = grad_output_dims->c, dm = p->depth_multiplier;

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
                                        acc[j] +=
                                            (int32_t)f[k] * kt_grad_h(gy[k], &p->chan, co, hr);
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
}

kt_status kt_depthwise_conv2d_input_grad_s8(const kt_dw_conv_grad_params *p, int32_t e_gy,
                                            int32_t e_gx, const kt_dims *grad_output_dims,
                                            const int8_t *grad_output, const kt_dims *filter_dims,
                                            const int8_t *filter, const kt_dims *grad_input_dims,
                                            int8_t *grad_input, kt_grad_stats *stats)
{
    int32_t out_h, out_w, out_c, dm, hr, out_shift;

    if (p == NULL || !kt_check_quant_ptrs(&p->chan) ||
        !kt_check_tensor_ptrs(grad_output_dims, grad_output, filter_dims, filter, grad_input_dims,
                              grad_input) ||
        stats == NULL) {
        return KT_ARG_ERROR;
    }
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

    if (dm == 1 && out_h * out_w <= KT_DWIG_MAX_PX && kt_h16_ok(&p->chan, hr, out_c)) {
        kt_dwig_staged(p, out_shift, grad_output_dims, grad_output, filter_dims, filter,
                       grad_input_dims, grad_input, stats);
    } else {
        kt_dwig_gather(p, out_shift, grad_output_dims, grad_output, filter_dims, filter,
                       grad_input_dims, grad_input, stats);
    }
    return KT_OK;
}
