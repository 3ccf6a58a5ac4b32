/**
 * @file kt_conv2d_s8.c
 * @brief CONV_2D int8 with per-output-channel requantization (TFLM reference ConvPerChannel).
 */
#include "kt_kernels.h"
#include "internal/kt_check.h"
#include "internal/kt_dot.h"
#include "internal/kt_filter.h"
#include "internal/kt_requant.h"
#include "internal/kt_window.h"

#if KT_USE_DSP
/** Filter volumes (KH * KW * Cin) up to this run the small-filter DSP path (stems: 3x3x3 = 27). */
#define KT_CONV_SMALL_K 32

/* Copy n bytes (word loads and stores while four remain: the window rows are short). */
static inline int8_t *kt_copy_short(int8_t *dst, const int8_t *src, int32_t n)
{
    for (; n >= 4; n -= 4, src += 4, dst += 4) {
        uint32_t w;
        memcpy(&w, src, 4);
        memcpy(dst, &w, 4);
    }
    for (; n > 0; --n) {
        *dst++ = *src++;
    }
    return dst;
}

/* Fill n bytes with v. */
static inline int8_t *kt_fill_short(int8_t *dst, int8_t v, int32_t n)
{
    for (; n > 0; --n) {
        *dst++ = v;
    }
    return dst;
}

/* One group of four window values, as 16-bit lane pairs c02 = (x0, x2) and c13 = (x1, x3) with
   the input offset added, against the four filter bytes of two rows (w0, w1): *a0 and *a1 gain
   four products each (SXTB16 of a filter word pairs bytes 0 and 2, of the word rotated by 8 bytes
   1 and 3). */
static inline void kt_col_mac2(uint32_t w0, uint32_t w1, const uint32_t *cg, uint32_t *a0,
                               uint32_t *a1)
{
    const uint32_t c02 = cg[0], c13 = cg[1];
    *a0 = __smlad(__sxtb16(w0), c02, *a0);
    *a0 = __smlad(kt_sxtb16_ror8(w0), c13, *a0);
    *a1 = __smlad(__sxtb16(w1), c02, *a1);
    *a1 = __smlad(kt_sxtb16_ror8(w1), c13, *a1);
}

/* The DSP path of a convolution with a small filter volume (K = KH * KW * Cin <= KT_CONV_SMALL_K):
   per output pixel the window is copied once, in filter order, into an int8 column (a run of
   KW * Cin adjacent bytes per filter row when dilation is 1 and the row lies inside the image;
   the input zero point, which adds nothing once offset, for taps in the padding and for the
   column's positions past K), then turned into 16-bit lane pairs with the input offset added (two
   SXTAB16 a word); each pair of output channels is then a dot product of the column with two
   contiguous filter rows: 8 MACs per 2 filter loads, 2 column loads, 4 SXTB16 and 4 SMLAD. A last
   group of fewer than four taps reads whole filter words (the bytes past the row meet the
   column's zeros) except at the end of a part of the filter, where its bytes are assembled. The
   same integer sums as the portable loop. */
static KT_NOINLINE void kt_conv2d_small_dsp(const kt_conv_params *conv,
                                            const kt_per_channel_quant *quant,
                                            const kt_dims *input_dims, const int8_t *input,
                                            const kt_dims *filter_dims,
                                            const kt_split_filter *filter, const int32_t *bias,
                                            const kt_dims *output_dims, int8_t *output)
{
    int8_t colb[KT_CONV_SMALL_K];
    uint32_t col[KT_CONV_SMALL_K / 2];
    const int32_t in_h = input_dims->h, in_w = input_dims->w, in_c = input_dims->c;
    const int32_t k_h = filter_dims->h, k_w = filter_dims->w;
    const int32_t out_h = output_dims->h, out_w = output_dims->w, out_c = output_dims->c;
    const int32_t big_k = k_h * k_w * in_c, full = big_k / 4, rem = big_k % 4;
    const int32_t groups = full + (rem != 0), row_bytes = k_w * in_c;
    const int32_t in_off = conv->input_offset, out_off = conv->output_offset;
    const int32_t st_h = conv->stride.h, st_w = conv->stride.w;
    const int32_t pad_h = conv->padding.h, pad_w = conv->padding.w;
    const int32_t dil_h = conv->dilation.h, dil_w = conv->dilation.w;
    const int8_t zp = (int8_t)(-in_off); /* in [-128, 127]: in_off is in [-127, 128] */
    const uint32_t off2 = kt_pack16(in_off, in_off);
    /* locals, so the int8 output stores (which may alias anything) force no reloads */
    const int32_t *mult = quant->multiplier, *shift = quant->shift;
    const kt_split_filter fl = *filter;
    const kt_rq stage = kt_rq_make(0, 0, out_off, conv->activation.min, conv->activation.max);
    int32_t b, oy, ox, ky, kx, oc, g, k;
    kt_fill_short(colb, zp, KT_CONV_SMALL_K);
    for (b = 0; b < input_dims->n; ++b) {
        const int8_t *in_b = input + (size_t)b * in_h * in_w * in_c;
        for (oy = 0; oy < out_h; ++oy) {
            for (ox = 0; ox < out_w; ++ox) {
                int8_t *y = output + (((size_t)b * out_h + oy) * out_w + ox) * out_c;
                const int32_t ix0 = ox * st_w - pad_w;
                const int whole_row = dil_w == 1 && ix0 >= 0 && ix0 + k_w <= in_w;
                int8_t *pc = colb;
                for (ky = 0; ky < k_h; ++ky) {
                    const int32_t iy = oy * st_h - pad_h + ky * dil_h;
                    const int8_t *row = in_b + (size_t)iy * in_w * in_c;
                    if (iy < 0 || iy >= in_h) {
                        pc = kt_fill_short(pc, zp, row_bytes);
                    } else if (whole_row) {
                        pc = kt_copy_short(pc, row + (size_t)ix0 * in_c, row_bytes);
                    } else {
                        for (kx = 0; kx < k_w; ++kx) {
                            const int32_t ix = ix0 + kx * dil_w;
                            pc = ix >= 0 && ix < in_w
                                     ? kt_copy_short(pc, row + (size_t)ix * in_c, in_c)
                                     : kt_fill_short(pc, zp, in_c);
                        }
                    }
                }
                for (g = 0; g < groups; ++g) {
                    uint32_t w;
                    memcpy(&w, colb + 4 * g, 4);
                    col[2 * g] = __sxtab16(off2, w);
                    col[2 * g + 1] = kt_sxtab16_ror8(off2, w);
                }
                for (oc = 0; oc < out_c; oc += 2) {
                    const int two = oc + 1 < out_c;
                    const int8_t *f0 = kt_filter_row(&fl, oc, (size_t)big_k);
                    const int8_t *f1 = two ? kt_filter_row(&fl, oc + 1, (size_t)big_k) : f0;
                    const uint32_t *cg = col;
                    uint32_t a0 = (uint32_t)(bias != NULL ? bias[oc] : 0);
                    uint32_t a1 = (uint32_t)(bias != NULL && two ? bias[oc + 1] : 0);
                    for (g = 0; g < full; ++g, f0 += 4, f1 += 4, cg += 2) {
                        uint32_t w0, w1;
                        memcpy(&w0, f0, 4);
                        memcpy(&w1, f1, 4);
                        kt_col_mac2(w0, w1, cg, &a0, &a1);
                    }
                    if (rem != 0) {
                        uint32_t w0 = 0, w1 = 0;
                        if (oc + 2 < fl.split || (oc >= fl.split && oc + 2 < out_c)) {
                            memcpy(&w0, f0, 4);
                            memcpy(&w1, f1, 4);
                        } else {
                            for (k = 0; k < rem; ++k) {
                                w0 |= (uint32_t)(uint8_t)f0[k] << (8 * k);
                                w1 |= (uint32_t)(uint8_t)f1[k] << (8 * k);
                            }
                        }
                        kt_col_mac2(w0, w1, cg, &a0, &a1);
                    }
                    y[oc] = kt_rq_apply_ch(mult[oc], shift[oc], &stage, (int32_t)a0);
                    if (two) {
                        y[oc + 1] =
                            kt_rq_apply_ch(mult[oc + 1], shift[oc + 1], &stage, (int32_t)a1);
                    }
                }
            }
        }
    }
}
#endif

static int kt_conv_is_1x1_fast(const kt_conv_params *conv, const kt_dims *in, const kt_dims *f,
                               const kt_dims *out)
{
    return f->h == 1 && f->w == 1 && conv->stride.h == 1 && conv->stride.w == 1 &&
           conv->padding.h == 0 && conv->padding.w == 0 && out->h == in->h && out->w == in->w;
}

kt_status kt_conv2d_s8(const kt_conv_params *conv, const kt_per_channel_quant *quant,
                       const kt_dims *input_dims, const int8_t *input, const kt_dims *filter_dims,
                       const int8_t *filter, const int32_t *bias, const kt_dims *output_dims,
                       int8_t *output)
{
    const kt_split_filter whole = {filter, NULL, filter_dims != NULL ? filter_dims->n : 0};
    return kt_conv2d_split_s8(conv, quant, input_dims, input, filter_dims, &whole, bias,
                              output_dims, output);
}

/* The portable loop (any geometry; arguments checked by the caller). Not inlined: its frame and the
   small-filter DSP path's are never on the stack together. */
static KT_NOINLINE void kt_conv2d_general(const kt_conv_params *conv,
                                          const kt_per_channel_quant *quant,
                                          const kt_dims *input_dims, const int8_t *input,
                                          const kt_dims *filter_dims, const kt_split_filter *filter,
                                          const int32_t *bias, const kt_dims *output_dims,
                                          int8_t *output)
{
    int32_t b, oy, ox, oc, ky, kx;
    const int32_t in_h = input_dims->h, in_w = input_dims->w, in_c = input_dims->c;
    const int32_t k_h = filter_dims->h, k_w = filter_dims->w;
    const int32_t out_h = output_dims->h, out_w = output_dims->w, out_c = output_dims->c;
    const int32_t st_h = conv->stride.h, st_w = conv->stride.w;
    const int32_t pad_h = conv->padding.h, pad_w = conv->padding.w;
    const int32_t dil_h = conv->dilation.h, dil_w = conv->dilation.w;
    const int32_t in_off = conv->input_offset, out_off = conv->output_offset;
    const int32_t act_min = conv->activation.min, act_max = conv->activation.max;

    for (b = 0; b < input_dims->n; ++b) {
        const int8_t *in_b = input + (size_t)b * in_h * in_w * in_c;
        for (oy = 0; oy < out_h; ++oy) {
            const int32_t iy0 = oy * st_h - pad_h;
            /* the filter rows that land inside the image, without per-tap tests */
            int32_t ky_lo, ky_hi;
            kt_taps_inside(iy0, k_h, dil_h, in_h, &ky_lo, &ky_hi);
            for (ox = 0; ox < out_w; ++ox) {
                const int32_t ix0 = ox * st_w - pad_w;
                int32_t kx_lo, kx_hi;
                kt_taps_inside(ix0, k_w, dil_w, in_w, &kx_lo, &kx_hi);
                for (oc = 0; oc < out_c; ++oc) {
                    const int8_t *f_oc = kt_filter_row(filter, oc, (size_t)k_h * k_w * in_c);
                    int32_t acc = 0;
                    for (ky = ky_lo; ky < ky_hi; ++ky) {
                        const int8_t *in_row = in_b + (size_t)(iy0 + ky * dil_h) * in_w * in_c;
                        const int8_t *f_row = f_oc + (size_t)ky * k_w * in_c;
                        if (dil_w == 1) {
                            /* the taps of one filter row are adjacent pixels: one dot product
                               over (kx_hi - kx_lo) * in_c contiguous bytes of input and filter */
                            acc = kt_dot_offset_s8(f_row + (size_t)kx_lo * in_c,
                                                   in_row + (size_t)(ix0 + kx_lo) * in_c,
                                                   (kx_hi - kx_lo) * in_c, in_off, acc);
                            continue;
                        }
                        for (kx = kx_lo; kx < kx_hi; ++kx) {
                            const int8_t *x = in_row + (size_t)(ix0 + kx * dil_w) * in_c;
                            const int8_t *f = f_row + (size_t)kx * in_c;
                            acc = kt_dot_offset_s8(f, x, in_c, in_off, acc);
                        }
                    }
                    if (bias != NULL) {
                        acc += bias[oc];
                    }
                    output[(((size_t)b * out_h + oy) * out_w + ox) * out_c + oc] = kt_requantize_s8(
                        acc, quant->multiplier[oc], quant->shift[oc], out_off, act_min, act_max);
                }
            }
        }
    }
}

kt_status kt_conv2d_split_s8(const kt_conv_params *conv, const kt_per_channel_quant *quant,
                             const kt_dims *input_dims, const int8_t *input,
                             const kt_dims *filter_dims, const kt_split_filter *filter,
                             const int32_t *bias, const kt_dims *output_dims, int8_t *output)
{
    if (conv == NULL || !kt_check_quant_ptrs(quant) ||
        !kt_check_tensor_ptrs(input_dims, input, filter_dims, kt_filter_any(filter), output_dims,
                              output) ||
        !kt_check_split_filter(filter, filter_dims->n)) {
        return KT_ARG_ERROR;
    }
    if (kt_conv_is_1x1_fast(conv, input_dims, filter_dims, output_dims)) {
        return kt_conv2d_1x1_split_s8(conv, quant, input_dims, input, filter_dims, filter, bias,
                                      output_dims, output);
    }
    if (!kt_check_conv_dims(input_dims, filter_dims, output_dims) ||
        !kt_check_geometry(&conv->stride, &conv->padding, &conv->dilation) ||
        !kt_check_offsets(conv->input_offset, conv->output_offset) ||
        !kt_check_activation(&conv->activation) ||
        !kt_check_requant_shifts(quant->shift, output_dims->c)) {
        return KT_ARG_ERROR;
    }

#if KT_USE_DSP
    if (filter_dims->h * filter_dims->w * input_dims->c <= KT_CONV_SMALL_K) {
        kt_conv2d_small_dsp(conv, quant, input_dims, input, filter_dims, filter, bias, output_dims,
                            output);
        return KT_OK;
    }
#endif
    kt_conv2d_general(conv, quant, input_dims, input, filter_dims, filter, bias, output_dims,
                      output);
    return KT_OK;
}
