/**
 * @file kt_depthwise_conv2d_s8.c
 * @brief DEPTHWISE_CONV_2D int8, per-channel requantization (TFLM reference
 *        DepthwiseConvPerChannel): any filter size, stride, dilation and depth multiplier.
 *
 * Output channels are processed in blocks of KT_DW_BLOCK with the accumulators on the stack
 * (no scratch buffer), filter taps outer and channels inner, so both the filter row and the input
 * pixel are read contiguously. Output channel oc reads input channel oc / depth_multiplier; the
 * index is stepped incrementally, no division in the loops.
 */
#include "kt_kernels.h"
#include "internal/kt_check.h"
#include "internal/kt_dot.h"
#include "internal/kt_requant.h"

/** Output channels accumulated together (KT_DW_BLOCK * 4 bytes of stack). */
#define KT_DW_BLOCK 32

#if KT_USE_DSP
/* The window of one output pixel, channels [c0, c0 + n) of a depth-multiplier-1 layer, as in the
   portable loop: taps [ky_lo, ky_hi) x [kx_lo, kx_hi) landing inside the image. */
typedef struct {
    const int8_t *in_b;
    int32_t in_w, ch, iy0, ix0, ky_lo, ky_hi, kx_lo, kx_hi, dil_h, dil_w, k_w;
} kt_dw_window;

/* The DSP path of one output pixel (depth multiplier 1): four channels at a time, accumulators in
   registers; per tap one word of input and one of filter give four MACs through SXTB16 /
   SXTAB16 (the input offset added in 16 bits) and SMLABB / SMLATT. The sums are the portable
   loop's integers (taken in another order, wrapping alike). Returns the channels done, a multiple
   of 4; the portable loop does the rest of the block. */
static int32_t kt_dw_pixel_dsp(const kt_dw_window *w, const int8_t *filter, int32_t c0, int32_t n,
                               int32_t in_off, const int32_t *bias,
                               const kt_per_channel_quant *quant, int32_t out_off,
                               const kt_activation *act, int8_t *y)
{
    const uint32_t off2 = ((uint32_t)in_off & 0xFFFFu) | ((uint32_t)in_off << 16);
    int32_t j = 0, ky, kx;
    for (; j + 4 <= n; j += 4) {
        const int32_t c = c0 + j;
        int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
        for (ky = w->ky_lo; ky < w->ky_hi; ++ky) {
            const int8_t *row = w->in_b + (size_t)(w->iy0 + ky * w->dil_h) * w->in_w * w->ch + c;
            const int8_t *frow = filter + (size_t)ky * w->k_w * w->ch + c;
            for (kx = w->kx_lo; kx < w->kx_hi; ++kx) {
                uint32_t wx, wf;
                memcpy(&wx, row + (size_t)(w->ix0 + kx * w->dil_w) * w->ch, 4);
                memcpy(&wf, frow + (size_t)kx * w->ch, 4);
                {
                    const uint32_t x02 = __sxtab16(off2, wx), x13 = __sxtab16(off2, KT_ROR8(wx));
                    const uint32_t f02 = __sxtb16(wf), f13 = __sxtb16(KT_ROR8(wf));
                    a0 = __smlabb((int32_t)f02, (int32_t)x02, a0);
                    a2 = __smlatt((int32_t)f02, (int32_t)x02, a2);
                    a1 = __smlabb((int32_t)f13, (int32_t)x13, a1);
                    a3 = __smlatt((int32_t)f13, (int32_t)x13, a3);
                }
            }
        }
        {
            const int32_t acc[4] = {a0, a1, a2, a3};
            for (int32_t k = 0; k < 4; ++k) {
                const int32_t v = acc[k] + (bias != NULL ? bias[c + k] : 0);
                y[j + k] = kt_requantize_s8(v, quant->multiplier[c + k], quant->shift[c + k],
                                            out_off, act->min, act->max);
            }
        }
    }
    return j;
}
#endif

kt_status kt_depthwise_conv2d_s8(const kt_dw_conv_params *dw, const kt_per_channel_quant *quant,
                                 const kt_dims *input_dims, const int8_t *input,
                                 const kt_dims *filter_dims, const int8_t *filter,
                                 const int32_t *bias, const kt_dims *output_dims, int8_t *output)
{
    int32_t acc[KT_DW_BLOCK];
    int32_t b, oy, ox, ky, kx, j, oc0;
    int32_t in_h, in_w, in_c, k_h, k_w, out_h, out_w, out_c, dm;
    int32_t st_h, st_w, pad_h, pad_w, dil_h, dil_w, in_off, out_off, act_min, act_max;

    if (dw == NULL || !kt_check_quant_ptrs(quant) ||
        !kt_check_tensor_ptrs(input_dims, input, filter_dims, filter, output_dims, output)) {
        return KT_ARG_ERROR;
    }
    in_h = input_dims->h;
    in_w = input_dims->w;
    in_c = input_dims->c;
    k_h = filter_dims->h;
    k_w = filter_dims->w;
    out_h = output_dims->h;
    out_w = output_dims->w;
    out_c = output_dims->c;
    dm = dw->depth_multiplier;
    st_h = dw->stride.h;
    st_w = dw->stride.w;
    pad_h = dw->padding.h;
    pad_w = dw->padding.w;
    dil_h = dw->dilation.h;
    dil_w = dw->dilation.w;
    in_off = dw->input_offset;
    out_off = dw->output_offset;
    act_min = dw->activation.min;
    act_max = dw->activation.max;

    if (!kt_check_dw_dims(input_dims, filter_dims, output_dims, dm) ||
        !kt_check_geometry(&dw->stride, &dw->padding, &dw->dilation) ||
        !kt_check_offsets(in_off, out_off) || !kt_check_activation(&dw->activation) ||
        !kt_check_requant_shifts(quant->shift, out_c)) {
        return KT_ARG_ERROR;
    }

    for (oc0 = 0; oc0 < out_c; oc0 += KT_DW_BLOCK) {
        const int32_t n = out_c - oc0 < KT_DW_BLOCK ? out_c - oc0 : KT_DW_BLOCK;
        const int32_t ic0 = oc0 / dm; /* once per block */
        const int32_t m0 = oc0 - ic0 * dm;
        for (b = 0; b < input_dims->n; ++b) {
            const int8_t *in_b = input + (size_t)b * in_h * in_w * in_c;
            for (oy = 0; oy < out_h; ++oy) {
                const int32_t iy0 = oy * st_h - pad_h;
                int32_t ky_lo = 0, ky_hi = k_h;
                while (ky_lo < k_h && iy0 + ky_lo * dil_h < 0) {
                    ++ky_lo;
                }
                while (ky_hi > ky_lo && iy0 + (ky_hi - 1) * dil_h >= in_h) {
                    --ky_hi;
                }
                for (ox = 0; ox < out_w; ++ox) {
                    const int32_t ix0 = ox * st_w - pad_w;
                    int8_t *y = output + (((size_t)b * out_h + oy) * out_w + ox) * out_c + oc0;
                    int32_t kx_lo = 0, kx_hi = k_w;
                    while (kx_lo < k_w && ix0 + kx_lo * dil_w < 0) {
                        ++kx_lo;
                    }
                    while (kx_hi > kx_lo && ix0 + (kx_hi - 1) * dil_w >= in_w) {
                        --kx_hi;
                    }
                    int32_t jd = 0; /* channels of the block the DSP path has done */
#if KT_USE_DSP
                    if (dm == 1) {
                        const kt_dw_window win = {in_b,  in_w,  in_c,  iy0,   ix0,   ky_lo,
                                                  ky_hi, kx_lo, kx_hi, dil_h, dil_w, k_w};
                        jd = kt_dw_pixel_dsp(&win, filter, oc0, n, in_off, bias, quant, out_off,
                                             &dw->activation, y);
                        if (jd == n) {
                            continue;
                        }
                    }
#endif
                    for (j = jd; j < n; ++j) {
                        acc[j] = 0;
                    }
                    for (ky = ky_lo; ky < ky_hi; ++ky) {
                        const int8_t *in_row = in_b + (size_t)(iy0 + ky * dil_h) * in_w * in_c;
                        for (kx = kx_lo; kx < kx_hi; ++kx) {
                            const int8_t *x = in_row + (size_t)(ix0 + kx * dil_w) * in_c + ic0;
                            const int8_t *f = filter + ((size_t)ky * k_w + kx) * out_c + oc0;
                            if (dm == 1) {
                                for (j = jd; j < n; ++j) {
                                    acc[j] += (int32_t)f[j] * ((int32_t)x[j] + in_off);
                                }
                            } else { /* jd == 0 */
                                int32_t m = m0, ic = 0;
                                for (j = 0; j < n; ++j) {
                                    acc[j] += (int32_t)f[j] * ((int32_t)x[ic] + in_off);
                                    if (++m == dm) {
                                        m = 0;
                                        ++ic;
                                    }
                                }
                            }
                        }
                    }
                    for (j = jd; j < n; ++j) {
                        const int32_t oc = oc0 + j;
                        int32_t v = acc[j];
                        if (bias != NULL) {
                            v += bias[oc];
                        }
                        y[j] = kt_requantize_s8(v, quant->multiplier[oc], quant->shift[oc], out_off,
                                                act_min, act_max);
                    }
                }
            }
        }
    }
    return KT_OK;
}
