/**
 * @file kt_conv2d_1x1_s8.c
 * @brief CONV_2D int8 fast path: 1x1 filter, stride 1, no padding (a per-pixel matrix product).
 *
 * The input offset is folded into the accumulator start value once per output channel:
 * sum_c f[c] * (x[c] + o) == sum_c f[c] * x[c] + o * sum_c f[c] (exact in int32 arithmetic), so the
 * inner loop is a plain int8 dot product. Output channels are the outer loop so one filter row
 * stays hot while all pixels stream past it.
 */
#include "kt_kernels.h"
#include "internal/kt_check.h"
#include "internal/kt_dot.h"
#include "internal/kt_filter.h"
#include "internal/kt_mm.h"
#include "internal/kt_requant.h"

#if KT_USE_DSP
/* One 4-byte group of two filter rows against two pixels: each loaded word feeds two dual MACs
   pairs, so 16 multiply-accumulates cost 4 loads, 8 SXTB16 and 8 SMLAD. */
#define KT_1X1_GROUP(f0, f1, x0, x1, a00, a01, a10, a11)                   \
    do {                                                                   \
        uint32_t wf0, wf1, wx0, wx1;                                       \
        memcpy(&wf0, (f0), 4);                                             \
        memcpy(&wf1, (f1), 4);                                             \
        memcpy(&wx0, (x0), 4);                                             \
        memcpy(&wx1, (x1), 4);                                             \
        {                                                                  \
            const uint32_t fa0 = __sxtb16(wf0), fb0 = kt_sxtb16_ror8(wf0); \
            const uint32_t fa1 = __sxtb16(wf1), fb1 = kt_sxtb16_ror8(wf1); \
            const uint32_t xa0 = __sxtb16(wx0), xb0 = kt_sxtb16_ror8(wx0); \
            const uint32_t xa1 = __sxtb16(wx1), xb1 = kt_sxtb16_ror8(wx1); \
            a00 = __smlad(fa0, xa0, a00);                                  \
            a00 = __smlad(fb0, xb0, a00);                                  \
            a01 = __smlad(fa0, xa1, a01);                                  \
            a01 = __smlad(fb0, xb1, a01);                                  \
            a10 = __smlad(fa1, xa0, a10);                                  \
            a10 = __smlad(fb1, xb0, a10);                                  \
            a11 = __smlad(fa1, xa1, a11);                                  \
            a11 = __smlad(fb1, xb1, a11);                                  \
        }                                                                  \
    } while (0)

#if defined(__GNUC__)
/*
 * The 2x2 block's loop in inline assembly: `n` >= 1 groups of 4 bytes of two filter rows (f,
 * f + fs) against two columns (wx0, wx1 loaded by the caller's two instructions). Each group: 4
 * loads, 8 SXTB16, 8 SMLAD, the loop's ADDS, SUBS and BNE, nothing spilled: the 14 registers it
 * needs (four sums, two pointers, a stride, the count, six temporaries) are all a Cortex-M has,
 * which GCC 12's allocation of the same C (KT_1X1_GROUP above) did not find. Lanes: SXTB16 of a
 * word pairs bytes 0 and 2, of the word rotated by 8 bytes 1 and 3, the filter and the column
 * alike, so SMLAD sums the right products: the same integers as the C loop.
 */
#define KT_MM_ASM_BODY                        \
    "sxtb16 %[d], %[wf]\n\t"                  \
    "sxtb16 %[e], %[wx0]\n\t"                 \
    "smlad %[a00], %[d], %[e], %[a00]\n\t"    \
    "sxtb16 %[g], %[wx1]\n\t"                 \
    "smlad %[a01], %[d], %[g], %[a01]\n\t"    \
    "sxtb16 %[wf], %[wf], ror #8\n\t"         \
    "sxtb16 %[wx0], %[wx0], ror #8\n\t"       \
    "smlad %[a00], %[wf], %[wx0], %[a00]\n\t" \
    "sxtb16 %[wx1], %[wx1], ror #8\n\t"       \
    "smlad %[a01], %[wf], %[wx1], %[a01]\n\t" \
    "ldr %[d], [%[f], %[fs]]\n\t"             \
    "adds %[f], %[f], #4\n\t"                 \
    "sxtb16 %[wf], %[d]\n\t"                  \
    "smlad %[a10], %[wf], %[e], %[a10]\n\t"   \
    "smlad %[a11], %[wf], %[g], %[a11]\n\t"   \
    "sxtb16 %[d], %[d], ror #8\n\t"           \
    "smlad %[a10], %[d], %[wx0], %[a10]\n\t"  \
    "smlad %[a11], %[d], %[wx1], %[a11]\n\t"  \
    "subs %[n], %[n], #1\n\t"                 \
    "bne 1b\n\t"
#define KT_MM_ASM_OUTPUTS                                                                \
    [a00] "+r"(a[0]), [a01] "+r"(a[1]), [a10] "+r"(a[2]), [a11] "+r"(a[3]), [f] "+r"(f), \
        [x] "+r"(x), [n] "+r"(n), [wf] "=&r"(wf), [wx0] "=&r"(wx0), [wx1] "=&r"(wx1),    \
        [d] "=&r"(d), [e] "=&r"(e), [g] "=&r"(g)

/* The loop over `n` groups, after the loads of the group's two column words (LOAD_X: the second
   column's word into wx1, then the first's with x's step). */
#define KT_MM_LOOP_ASM(LOAD_X)                                                           \
    do {                                                                                 \
        uint32_t wf, wx0, wx1, d, e, g;                                                  \
        __asm__ volatile("1:\n\t"                                                        \
                         "ldr %[wf], [%[f]]\n\t" LOAD_X KT_MM_ASM_BODY:KT_MM_ASM_OUTPUTS \
                         : [fs] "r"(fs)                                                  \
                         : "cc", "memory");                                              \
    } while (0)

/* Columns x and x + fs (the 1x1 case: pixels and filter rows both in_c bytes apart). */
static inline void kt_mm_loop_same(const int8_t *f, const int8_t *x, int32_t fs, int32_t n,
                                   uint32_t a[4])
{
    KT_MM_LOOP_ASM("ldr %[wx1], [%[x], %[fs]]\n\t"
                   "ldr %[wx0], [%[x]], #4\n\t");
}

/* Columns stored pairwise interleaved by group: x[8g .. 8g + 3] and x[8g + 4 .. 8g + 7]. */
static inline void kt_mm_loop_il(const int8_t *f, const int8_t *x, int32_t fs, int32_t n,
                                 uint32_t a[4])
{
    KT_MM_LOOP_ASM("ldr %[wx1], [%[x], #4]\n\t"
                   "ldr %[wx0], [%[x]], #8\n\t");
}
#endif

/* The 2x2 block over k bytes: a[0..3] = (f0 x0, f0 x1, f1 x0, f1 x1) added to a[], f1 = f + fs, the
   columns x0 = x and x1 = x + fs (il == 0) or interleaved by group (il == 1: x0's group g at
   x + 8g, x1's at x + 8g + 4). */
static inline void kt_mm_block(const int8_t *f, const int8_t *x, int32_t fs, int32_t k, int il,
                               uint32_t a[4])
{
#if defined(__GNUC__)
    if (il) {
        kt_mm_loop_il(f, x, fs, k / 4, a);
    } else {
        kt_mm_loop_same(f, x, fs, k / 4, a);
    }
#else
    const int8_t *const f_end = f + k;
    const int32_t x_step = il ? 8 : 4, xs = il ? 4 : fs;
    uint32_t a00 = a[0], a01 = a[1], a10 = a[2], a11 = a[3];
    for (; f != f_end; f += 4, x += x_step) {
        KT_1X1_GROUP(f, f + fs, x, x + xs, a00, a01, a10, a11);
    }
    a[0] = a00;
    a[1] = a01;
    a[2] = a10;
    a[3] = a11;
#endif
}

void kt_mm_pair_s8(const int8_t *x, int32_t stride, int32_t pixels, int32_t k, const int8_t *f0,
                   uint32_t start0, uint32_t start1, const kt_rq *q0, const kt_rq *q1, int8_t *y,
                   int32_t y_stride)
{
    int32_t p;
    for (p = 0; p + 2 <= pixels; p += 2) {
        uint32_t a[4];
        a[0] = a[1] = start0;
        a[2] = a[3] = start1;
        kt_mm_block(f0, x, stride, k, 0, a);
        kt_rq_short2(q0, (int32_t)a[0], (int32_t)a[1], &y[0], &y[y_stride]);
        kt_rq_short2(q1, (int32_t)a[2], (int32_t)a[3], &y[1], &y[y_stride + 1]);
        x += 2 * (size_t)stride;
        y += 2 * (size_t)y_stride;
    }
    if (p < pixels) { /* the odd last pixel */
        y[0] = kt_rq_out(q0, kt_rq_short(q0, (int32_t)((uint32_t)kt_dot_s8(f0, x, k, 0) + start0)));
        y[1] = kt_rq_out(
            q1, kt_rq_short(q1, (int32_t)((uint32_t)kt_dot_s8(f0 + stride, x, k, 0) + start1)));
    }
}

void kt_mm_pair_il_s8(const int8_t *x, int32_t pixels, int32_t k, const int8_t *f0,
                      int32_t f_stride, uint32_t start0, uint32_t start1, const kt_rq *q0,
                      const kt_rq *q1, int8_t *y, int32_t y_stride)
{
    int32_t p;
    for (p = 0; p < pixels; p += 2, x += 2 * (size_t)k, y += 2 * (size_t)y_stride) {
        uint32_t a[4];
        int8_t y1[2];
        a[0] = a[1] = start0;
        a[2] = a[3] = start1;
        kt_mm_block(f0, x, f_stride, k, 1, a);
        /* an odd last pixel's partner column is the caller's filler: its outputs are dropped */
        kt_rq_short2(q0, (int32_t)a[0], (int32_t)a[1], &y[0],
                     p + 1 < pixels ? &y[y_stride] : &y1[0]);
        kt_rq_short2(q1, (int32_t)a[2], (int32_t)a[3], &y[1],
                     p + 1 < pixels ? &y[y_stride + 1] : &y1[1]);
    }
}

/* The DSP path over output channels [0, out_c - out_c % 2) and pixels [0, pixels - pixels % 2):
   two channels by two pixels at a time (the sums are the same integers as the portable loop's,
   taken in another order: exact, as int32 wraps modulo 2^32 either way). Returns the channels
   done; the caller finishes the rest (and the odd pixel of each pair of channels). */
static int32_t kt_conv2d_1x1_dsp(const kt_conv_params *conv, const kt_per_channel_quant *quant,
                                 const int8_t *input, const kt_split_filter *filter,
                                 const int32_t *bias, int32_t pixels, int32_t in_c, int32_t out_c,
                                 int8_t *output)
{
    const int32_t in_off = conv->input_offset, out_off = conv->output_offset;
    const int32_t act_min = conv->activation.min, act_max = conv->activation.max;
    int32_t oc;
    for (oc = 0; oc + 2 <= out_c; oc += 2) {
        const int8_t *f0 = kt_filter_row(filter, oc, (size_t)in_c);
        const int8_t *f1 = kt_filter_row(filter, oc + 1, (size_t)in_c);
        const uint32_t start0 = (uint32_t)(bias != NULL ? bias[oc] : 0) +
                                (uint32_t)kt_sum_s8(f0, in_c) * (uint32_t)in_off;
        const uint32_t start1 = (uint32_t)(bias != NULL ? bias[oc + 1] : 0) +
                                (uint32_t)kt_sum_s8(f1, in_c) * (uint32_t)in_off;
        const kt_rq q0 =
            kt_rq_make(quant->multiplier[oc], quant->shift[oc], out_off, act_min, act_max);
        const kt_rq q1 =
            kt_rq_make(quant->multiplier[oc + 1], quant->shift[oc + 1], out_off, act_min, act_max);
        int32_t p;
        if (in_c % 4 == 0 && q0.fast && q1.fast && f1 == f0 + in_c) {
            kt_mm_pair_s8(input, in_c, pixels, in_c, f0, start0, start1, &q0, &q1, output + oc,
                          out_c);
            continue;
        }
        for (p = 0; p + 2 <= pixels; p += 2) {
            const int8_t *x0 = input + (size_t)p * in_c;
            const int8_t *x1 = x0 + in_c;
            uint32_t a00 = start0, a01 = start0, a10 = start1, a11 = start1;
            int32_t c = 0;
            for (; c + 4 <= in_c; c += 4) {
                KT_1X1_GROUP(f0 + c, f1 + c, x0 + c, x1 + c, a00, a01, a10, a11);
            }
            for (; c < in_c; ++c) {
                a00 += (uint32_t)((int32_t)f0[c] * x0[c]);
                a01 += (uint32_t)((int32_t)f0[c] * x1[c]);
                a10 += (uint32_t)((int32_t)f1[c] * x0[c]);
                a11 += (uint32_t)((int32_t)f1[c] * x1[c]);
            }
            output[(size_t)p * out_c + oc] = kt_rq_apply(&q0, (int32_t)a00);
            output[(size_t)p * out_c + oc + 1] = kt_rq_apply(&q1, (int32_t)a10);
            output[(size_t)(p + 1) * out_c + oc] = kt_rq_apply(&q0, (int32_t)a01);
            output[(size_t)(p + 1) * out_c + oc + 1] = kt_rq_apply(&q1, (int32_t)a11);
        }
        for (; p < pixels; ++p) { /* the odd last pixel */
            const int8_t *x = input + (size_t)p * in_c;
            output[(size_t)p * out_c + oc] =
                kt_rq_apply(&q0, (int32_t)((uint32_t)kt_dot_s8(f0, x, in_c, 0) + start0));
            output[(size_t)p * out_c + oc + 1] =
                kt_rq_apply(&q1, (int32_t)((uint32_t)kt_dot_s8(f1, x, in_c, 0) + start1));
        }
    }
    return oc;
}
#endif

#if KT_HOST_SIMD
/* The host path's tiles: up to KT_1X1_HOST_C output channels, their filter rows transposed
   (k-major) for inputs of up to KT_1X1_HOST_K channels (wider inputs vectorise as dot products in
   the portable loop already). */
#define KT_1X1_HOST_C 32
#define KT_1X1_HOST_K 64

/* One tile of w <= KT_1X1_HOST_C output channels from oc, n <= w of them real (a last partial
   tile is padded with zero rows): the rows are transposed once, then each pixel's sums run across
   the tile's channels (x[k] times a row of the tile: one lane per channel) and the output stage
   is kt_rq_lane() over the tile. w is a constant at each call, so the lanes are the compiler's
   vectors. The sums wrap like the portable loop's from the same folded start value: the same
   integers. */
static inline void kt_1x1_host_tile(const kt_conv_params *conv, const kt_per_channel_quant *quant,
                                    const int8_t *input, const kt_split_filter *filter,
                                    const int32_t *bias, int32_t pixels, int32_t in_c,
                                    int32_t out_c, int32_t oc, int32_t n, int32_t w, int8_t *output)
{
    const int32_t off = conv->output_offset;
    const int32_t lo = conv->activation.min - off, hi = conv->activation.max - off;
    int8_t ft[KT_1X1_HOST_K * KT_1X1_HOST_C] = {0};
    int32_t start[KT_1X1_HOST_C] = {0}, mult[KT_1X1_HOST_C] = {0}, left[KT_1X1_HOST_C] = {0},
            right[KT_1X1_HOST_C] = {0};
    int32_t j, k, p;
    for (j = 0; j < n; ++j) {
        const int8_t *f = kt_filter_row(filter, oc + j, (size_t)in_c);
        const int32_t shift = quant->shift[oc + j];
        for (k = 0; k < in_c; ++k) {
            ft[k * w + j] = f[k];
        }
        start[j] = (int32_t)((uint32_t)(bias != NULL ? bias[oc + j] : 0) +
                             (uint32_t)kt_sum_s8(f, in_c) * (uint32_t)conv->input_offset);
        mult[j] = quant->multiplier[oc + j];
        left[j] = shift > 0 ? shift : 0;
        right[j] = shift > 0 ? 0 : -shift;
    }
    for (p = 0; p < pixels; ++p) {
        const int8_t *x = input + (size_t)p * in_c;
        int32_t acc[KT_1X1_HOST_C];
        int8_t y[KT_1X1_HOST_C];
        for (j = 0; j < w; ++j) {
            acc[j] = start[j];
        }
        for (k = 0; k < in_c; ++k) {
            const int32_t xv = x[k];
            const int8_t *fk = ft + k * w;
            for (j = 0; j < w; ++j) {
                acc[j] = (int32_t)((uint32_t)acc[j] + (uint32_t)(xv * fk[j]));
            }
        }
        for (j = 0; j < w; ++j) {
            y[j] = (int8_t)kt_rq_lane(acc[j], mult[j], left[j], right[j], lo, hi, off);
        }
        memcpy(output + (size_t)p * out_c + oc, y, (size_t)n);
    }
}

/* Host path: tiles of 32 output channels (8 for narrow layers). Returns the channels done: all,
   or 0 (in_c too wide, or a negative multiplier: the portable loop then does the layer). */
static int32_t kt_conv2d_1x1_host(const kt_conv_params *conv, const kt_per_channel_quant *quant,
                                  const int8_t *input, const kt_split_filter *filter,
                                  const int32_t *bias, int32_t pixels, int32_t in_c, int32_t out_c,
                                  int8_t *output)
{
    int32_t oc;
    if (in_c > KT_1X1_HOST_K) {
        return 0;
    }
    if (!kt_rq_lanes_ok(quant->multiplier, out_c)) {
        return 0;
    }
    for (oc = 0; oc < out_c; oc += KT_1X1_HOST_C) {
        const int32_t n = out_c - oc < KT_1X1_HOST_C ? out_c - oc : KT_1X1_HOST_C;
        if (n <= 8) {
            kt_1x1_host_tile(conv, quant, input, filter, bias, pixels, in_c, out_c, oc, n, 8,
                             output);
        } else {
            kt_1x1_host_tile(conv, quant, input, filter, bias, pixels, in_c, out_c, oc, n,
                             KT_1X1_HOST_C, output);
        }
    }
    return out_c;
}
#endif

kt_status kt_conv2d_1x1_s8(const kt_conv_params *conv, const kt_per_channel_quant *quant,
                           const kt_dims *input_dims, const int8_t *input,
                           const kt_dims *filter_dims, const int8_t *filter, const int32_t *bias,
                           const kt_dims *output_dims, int8_t *output)
{
    const kt_split_filter whole = {filter, NULL, filter_dims != NULL ? filter_dims->n : 0};
    return kt_conv2d_1x1_split_s8(conv, quant, input_dims, input, filter_dims, &whole, bias,
                                  output_dims, output);
}

kt_status kt_conv2d_1x1_split_s8(const kt_conv_params *conv, const kt_per_channel_quant *quant,
                                 const kt_dims *input_dims, const int8_t *input,
                                 const kt_dims *filter_dims, const kt_split_filter *filter,
                                 const int32_t *bias, const kt_dims *output_dims, int8_t *output)
{
    int32_t oc, p, in_c, out_c, pixels, in_off, out_off, act_min, act_max;

    if (conv == NULL || !kt_check_quant_ptrs(quant) ||
        !kt_check_tensor_ptrs(input_dims, input, filter_dims, kt_filter_any(filter), output_dims,
                              output) ||
        !kt_check_split_filter(filter, filter_dims->n)) {
        return KT_ARG_ERROR;
    }
    in_c = input_dims->c;
    out_c = output_dims->c;
    in_off = conv->input_offset;
    out_off = conv->output_offset;
    act_min = conv->activation.min;
    act_max = conv->activation.max;
    /* the fast path's shape is spelled out (it implies kt_check_conv_dims() and
       kt_check_geometry() but is stricter); the value checks are the shared ones */
    if (filter_dims->h != 1 || filter_dims->w != 1 || conv->stride.h != 1 || conv->stride.w != 1 ||
        conv->padding.h != 0 || conv->padding.w != 0 || conv->dilation.h < 1 ||
        conv->dilation.w < 1 || input_dims->n < 1 || input_dims->h < 1 || input_dims->w < 1 ||
        in_c < 1 || out_c < 1 || output_dims->n != input_dims->n ||
        output_dims->h != input_dims->h || output_dims->w != input_dims->w ||
        filter_dims->n != out_c || filter_dims->c != in_c || !kt_check_offsets(in_off, out_off) ||
        !kt_check_activation(&conv->activation) || !kt_check_requant_shifts(quant->shift, out_c)) {
        return KT_ARG_ERROR;
    }

    pixels = input_dims->n * input_dims->h * input_dims->w;
    oc = 0;
#if KT_USE_DSP
    oc = kt_conv2d_1x1_dsp(conv, quant, input, filter, bias, pixels, in_c, out_c, output);
#elif KT_HOST_SIMD
    oc = kt_conv2d_1x1_host(conv, quant, input, filter, bias, pixels, in_c, out_c, output);
#endif
    for (; oc < out_c; ++oc) {
        const int8_t *f = kt_filter_row(filter, oc, (size_t)in_c);
        const kt_rq q =
            kt_rq_make(quant->multiplier[oc], quant->shift[oc], out_off, act_min, act_max);
        const int8_t *x = input;
        int8_t *y = output + oc;
        const int32_t fsum = kt_sum_s8(f, in_c);
        uint32_t start;
        /* unsigned: the folded start value wraps exactly like the int32 sum it replaces */
        start = (uint32_t)(bias != NULL ? bias[oc] : 0) + (uint32_t)fsum * (uint32_t)in_off;
        for (p = 0; p < pixels; ++p) {
            int32_t acc = kt_dot_s8(f, x, in_c, 0);
            acc = (int32_t)((uint32_t)acc + start);
            *y = kt_rq_apply(&q, acc);
            x += in_c;
            y += out_c;
        }
    }
    return KT_OK;
}
