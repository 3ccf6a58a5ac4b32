/**
 * @file kt_conv2d_s8.c
 * @brief CONV_2D int8 with per-output-channel requantization (TFLM reference ConvPerChannel).
 */
#include "kt_kernels.h"
#include "internal/kt_check.h"
#include "internal/kt_dot.h"
#include "internal/kt_filter.h"
#include "internal/kt_mm.h"
#include "internal/kt_requant.h"
#include "internal/kt_window.h"

#if KT_USE_DSP
/** Filter volumes (KH * KW * Cin) up to this run the small-filter DSP path (stems: 3x3x3 = 27). */
#define KT_CONV_SMALL_K 32

/* Fill n bytes with v; returns the end. */
static inline int8_t *kt_fill_short(int8_t *dst, int8_t v, int32_t n)
{
    memset(dst, v, (size_t)n);
    return dst + n;
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

/* Where one output pixel's window lies (the small-filter DSP paths). */
typedef struct {
    int32_t in_h, in_w, in_c, k_h, k_w;
    int32_t st_h, st_w, pad_h, pad_w, dil_h, dil_w;
    int8_t zp; /* the input zero point, -input_offset: what the padding contributes once offset */
} kt_win_geo;

static kt_win_geo kt_win_geo_make(const kt_conv_params *conv, const kt_dims *in, const kt_dims *f)
{
    kt_win_geo g;
    g.in_h = in->h;
    g.in_w = in->w;
    g.in_c = in->c;
    g.k_h = f->h;
    g.k_w = f->w;
    g.st_h = conv->stride.h;
    g.st_w = conv->stride.w;
    g.pad_h = conv->padding.h;
    g.pad_w = conv->padding.w;
    g.dil_h = conv->dilation.h;
    g.dil_w = conv->dilation.w;
    g.zp = (int8_t)(-conv->input_offset); /* in [-128, 127]: the offset is in [-127, 128] */
    return g;
}

/* Copy output pixel (oy, ox)'s window, in filter order, to dst (KH * KW * Cin bytes): a run of
   KW * Cin adjacent bytes per filter row when dilation is 1 and the row lies inside the image, the
   zero point for taps in the padding. */
static void kt_win_gather(const kt_win_geo *g, const int8_t *in_b, int32_t oy, int32_t ox,
                          int8_t *dst)
{
    const int32_t in_c = g->in_c, row_bytes = g->k_w * in_c, ix0 = ox * g->st_w - g->pad_w;
    const int whole_row = g->dil_w == 1 && ix0 >= 0 && ix0 + g->k_w <= g->in_w;
    int32_t ky, kx;
    for (ky = 0; ky < g->k_h; ++ky) {
        const int32_t iy = oy * g->st_h - g->pad_h + ky * g->dil_h;
        const int8_t *row = in_b + (size_t)iy * g->in_w * in_c;
        if (iy < 0 || iy >= g->in_h) {
            dst = kt_fill_short(dst, g->zp, row_bytes);
        } else if (whole_row) {
            dst = kt_copy_short(dst, row + (size_t)ix0 * in_c, row_bytes);
        } else {
            for (kx = 0; kx < g->k_w; ++kx) {
                const int32_t ix = ix0 + kx * g->dil_w;
                dst = ix >= 0 && ix < g->in_w ? kt_copy_short(dst, row + (size_t)ix * in_c, in_c)
                                              : kt_fill_short(dst, g->zp, in_c);
            }
        }
    }
}

/* Channels oc and oc + 1 lie in one part of the filter with a row after them in it: reading k
   bytes (k < big_k + 4) from each stays inside the part. */
static int kt_small_pair_inside(const kt_split_filter *f, int32_t oc, int32_t out_c)
{
    return oc + 2 < f->split || (oc >= f->split && oc + 2 < out_c);
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
    const int32_t groups = full + (rem != 0);
    const int32_t in_off = conv->input_offset, out_off = conv->output_offset;
    const kt_win_geo geo = kt_win_geo_make(conv, input_dims, filter_dims);
    const uint32_t off2 = kt_pack16(in_off, in_off);
    /* locals, so the int8 output stores (which may alias anything) force no reloads */
    const int32_t *mult = quant->multiplier, *shift = quant->shift;
    const kt_split_filter fl = *filter;
    const kt_rq stage = kt_rq_make(0, 0, out_off, conv->activation.min, conv->activation.max);
    int32_t b, oy, ox, oc, g, k;
    kt_fill_short(colb, geo.zp, KT_CONV_SMALL_K);
    for (b = 0; b < input_dims->n; ++b) {
        const int8_t *in_b = input + (size_t)b * in_h * in_w * in_c;
        for (oy = 0; oy < out_h; ++oy) {
            for (ox = 0; ox < out_w; ++ox) {
                int8_t *y = output + (((size_t)b * out_h + oy) * out_w + ox) * out_c;
                kt_win_gather(&geo, in_b, oy, ox, colb);
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
                        if (kt_small_pair_inside(&fl, oc, out_c)) {
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

/** Output pixels whose windows the matrix-product path gathers at a time (KT_CONV_SMALL_K bytes of
    stack each), and its largest layer width (an int32 start value each). */
#define KT_CONV_MM_PX 8
#define KT_CONV_MM_MAX_OC 16

/* Whether the matrix-product path takes a layer: an even number of at most KT_CONV_MM_MAX_OC
   output channels, all of them in the output stage's short form. */
static int kt_small_mm_ok(const kt_per_channel_quant *quant, int32_t out_c)
{
    int32_t oc;
    if (out_c % 2 != 0 || out_c > KT_CONV_MM_MAX_OC) {
        return 0;
    }
    for (oc = 0; oc < out_c; ++oc) {
        if (!kt_rq_short_ok(quant->multiplier[oc], quant->shift[oc])) {
            return 0;
        }
    }
    return 1;
}

/* The matrix-product form of a small-filter convolution (kt_small_mm_ok()): the windows of up to
   KT_CONV_MM_PX output pixels of a row are gathered as int8 columns of k = K rounded up to a
   multiple of 4 bytes (the zero point past K), then each pair of output channels runs
   kt_mm_pair_il_s8() over them, the input offset folded into the start values (bias + offset x the
   sum of the k filter bytes each row meets: the bytes past K meet the zero point, so whatever
   they are they add f (zp + offset) = 0). A pair whose rows end a part of the filter is copied,
   zero-padded, so nothing past the filter's arrays is read. The same integers as the portable
   loop. */
static KT_NOINLINE void kt_conv2d_small_mm(const kt_conv_params *conv,
                                           const kt_per_channel_quant *quant,
                                           const kt_dims *input_dims, const int8_t *input,
                                           const kt_dims *filter_dims,
                                           const kt_split_filter *filter, const int32_t *bias,
                                           const kt_dims *output_dims, int8_t *output)
{
    int8_t cols[KT_CONV_MM_PX * KT_CONV_SMALL_K]; /* pairwise interleaved (kt_mm_pair_il_s8()) */
    int8_t ends[2][KT_CONV_SMALL_K]; /* a pair's rows copied, zero-padded to k; before the pair
                                        loop ends[1] holds one window, the zero point past K */
    uint32_t start[KT_CONV_MM_MAX_OC];
    const kt_win_geo geo = kt_win_geo_make(conv, input_dims, filter_dims);
    const int32_t out_h = output_dims->h, out_w = output_dims->w, out_c = output_dims->c;
    const int32_t big_k = geo.k_h * geo.k_w * geo.in_c, k = (big_k + 3) / 4 * 4;
    const int32_t in_off = conv->input_offset, out_off = conv->output_offset;
    const int32_t act_min = conv->activation.min, act_max = conv->activation.max;
    const kt_split_filter fl = *filter;
    int32_t b, oy, ox0, oc, i;
    kt_fill_short(cols, geo.zp, KT_CONV_MM_PX * KT_CONV_SMALL_K);
    for (oc = 0; oc < out_c; ++oc) {
        const int8_t *f = kt_filter_row(&fl, oc, (size_t)big_k);
        const int32_t n = kt_small_pair_inside(&fl, oc & ~1, out_c) ? k : big_k;
        start[oc] =
            (uint32_t)(bias != NULL ? bias[oc] : 0) + (uint32_t)kt_sum_s8(f, n) * (uint32_t)in_off;
    }
    for (b = 0; b < input_dims->n; ++b) {
        const int8_t *in_b = input + (size_t)b * geo.in_h * geo.in_w * geo.in_c;
        for (oy = 0; oy < out_h; ++oy) {
            for (ox0 = 0; ox0 < out_w; ox0 += KT_CONV_MM_PX) {
                const int32_t np = out_w - ox0 < KT_CONV_MM_PX ? out_w - ox0 : KT_CONV_MM_PX;
                int8_t *y = output + (((size_t)b * out_h + oy) * out_w + ox0) * out_c;
                /* a pair's copy below may have overwritten the zero point past K */
                kt_fill_short(ends[1] + big_k, geo.zp, KT_CONV_SMALL_K - big_k);
                for (i = 0; i < np; ++i) { /* window i to pair i / 2, words 8g + 4 (i % 2) */
                    int8_t *dst = cols + (size_t)(i / 2) * 2 * k + 4 * (i % 2);
                    int32_t g;
                    kt_win_gather(&geo, in_b, oy, ox0 + i, ends[1]);
                    for (g = 0; g < k; g += 4) {
                        memcpy(dst + 2 * g, ends[1] + g, 4);
                    }
                }
                for (oc = 0; oc < out_c; oc += 2) {
                    const kt_rq q0 = kt_rq_make(quant->multiplier[oc], quant->shift[oc], out_off,
                                                act_min, act_max);
                    const kt_rq q1 = kt_rq_make(quant->multiplier[oc + 1], quant->shift[oc + 1],
                                                out_off, act_min, act_max);
                    const int8_t *f0 = kt_filter_row(&fl, oc, (size_t)big_k);
                    int32_t fs = big_k;
                    if (!kt_small_pair_inside(&fl, oc, out_c)) {
                        memset(ends, 0, sizeof ends);
                        memcpy(ends[0], f0, (size_t)big_k);
                        memcpy(ends[1], kt_filter_row(&fl, oc + 1, (size_t)big_k), (size_t)big_k);
                        f0 = ends[0];
                        fs = KT_CONV_SMALL_K;
                    }
                    kt_mm_pair_il_s8(cols, np, k, f0, fs, start[oc], start[oc + 1], &q0, &q1,
                                     y + oc, out_c);
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
    if (filter_dims->h * filter_dims->w * input_dims->c <= KT_CONV_SMALL_K &&
        kt_small_mm_ok(quant, output_dims->c)) {
        kt_conv2d_small_mm(conv, quant, input_dims, input, filter_dims, filter, bias, output_dims,
                           output);
        return KT_OK;
    }
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
