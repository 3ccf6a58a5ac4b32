/**
 * @file kt_conv2d_packed_s8.c
 * @brief CONV_2D int8 with a frozen filter packed at compile time (kt_packed_filter in
 *        kt_kernels.h; python/kilotrain/kernels/packed.py writes it).
 *
 * Per output pixel: the window's bytes are gathered (the zero point where it hangs over the
 * border, zeros past KH * KW * Cin) and widened once into 16-bit lanes; then each output channel
 * is k / 2 dual multiply-accumulates of its record's filter words against those lanes, its start
 * value added, and the short output stage (kt_rq_core(): one SMLAL) with a saturating store.
 * Folding the input offset into the start value is exact: a gathered zero point x = -input_offset
 * contributes f * x = -input_offset * f, which cancels its share of input_offset * sum(f); the
 * sums wrap modulo 2^32 like the portable loop's, so the int32 before the output stage is the
 * same integer.
 *
 * DSP builds run each pixel's channel loop in assembly: one LDM of four filter words and one of
 * four input words feed four SMLAD (eight multiply-accumulates), the record's tail is one more
 * LDM, and nothing is unpacked per channel. Windows of 8 bytes (a 1x1 layer with 8 input
 * channels) keep the widened input in registers across the channels.
 */
#include "kt_kernels.h"
#include "internal/kt_check.h"
#include "internal/kt_dot.h"
#include "internal/kt_requant.h"
#include "internal/kt_window.h"

/* A record's tail after its k / 2 filter words. */
enum { KT_PK_START = 0, KT_PK_MULT = 1, KT_PK_CHI = 2, KT_PK_SH = 3, KT_PK_OFF = 4 };

/* Every record in the short form of the output stage, with this layer's output offset. */
static int kt_packed_records_ok(const kt_packed_filter *pf, int32_t out_c, int32_t off)
{
    const int32_t half = pf->k / 2, words = KT_PACKED_RECORD_WORDS(pf->k);
    int32_t c;
    for (c = 0; c < out_c; ++c) {
        const int32_t *t = pf->records + (size_t)c * (size_t)words + half;
        const int32_t sh = t[KT_PK_SH];
        if (t[KT_PK_MULT] < 0 || sh < 1 || sh > 30 || t[KT_PK_CHI] != (int32_t)(1u << (sh - 1)) ||
            t[KT_PK_OFF] != off) {
            return 0;
        }
    }
    return 1;
}

/* The window's bytes widened into 16-bit lanes: per 4 bytes b0..b3 the words (b0, b2), (b1, b3). */
static inline void kt_packed_widen(const int8_t *win, int32_t k, uint32_t *xu)
{
    int32_t g;
    for (g = 0; g < k / 4; ++g) {
#if KT_USE_DSP
        uint32_t w;
        memcpy(&w, win + 4 * g, 4);
        xu[2 * g] = __sxtb16(w);
        xu[2 * g + 1] = kt_sxtb16_ror8(w);
#else
        const int8_t *b = win + 4 * g;
        xu[2 * g] = kt_pack16(b[0], b[2]);
        xu[2 * g + 1] = kt_pack16(b[1], b[3]);
#endif
    }
}

#if KT_USE_DSP && defined(__GNUC__)
/* The naked functions below read their arguments from r0-r3 and the stack themselves. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
/*
 * The channel loop in assembly, for windows of 8 * m bytes (m >= 1): r0 = the records (walked),
 * r1 = the widened window xu, r2 = xu + k / 2, r3 = y (walked); the end of the records is the
 * fifth argument, on the stack. Registers: r4-r7 four input words, r8-r11 four filter words (then
 * the record's tail), r12 the sum, lr the input pointer. Per channel: 2 + 8 * m + 12 instructions,
 * and BIAS (empty, or the run-time bias's three).
 */
#define KT_PACKED_LOOP_ASM(BIAS)                                                        \
    __asm__ volatile(                                                                   \
        "push {r4-r11, lr}\n\t"                                                         \
        "1:\n\t"                                                                        \
        "mov lr, r1\n\t"                                                                \
        "mov r12, #0\n\t"                                                               \
        "2:\n\t"                                                                        \
        "ldm lr!, {r4-r7}\n\t"                                                          \
        "ldm r0!, {r8-r11}\n\t"                                                         \
        "smlad r12, r8, r4, r12\n\t"                                                    \
        "smlad r12, r9, r5, r12\n\t"                                                    \
        "smlad r12, r10, r6, r12\n\t"                                                   \
        "smlad r12, r11, r7, r12\n\t"                                                   \
        "cmp lr, r2\n\t"                                                                \
        "bne 2b\n\t"                                                                    \
        "ldm r0!, {r4-r8}\n\t" /* start, multiplier, c_hi, sh, output offset */         \
        "add r12, r12, r4\n\t" BIAS                                                     \
        "and r9, r12, #0x80000000\n\t" /* kt_rq_core(): lo = 2^30 + [acc < 0] * 2^31 */ \
        "orr r9, r9, #0x40000000\n\t"                                                   \
        "add r6, r6, r12, asr #31\n\t" /* hi = c_hi - [acc < 0] */                      \
        "smlal r9, r6, r12, r5\n\t"                                                     \
        "asr r6, r6, r7\n\t"                                                            \
        "add r6, r6, r8\n\t"                                                            \
        "ssat r6, #8, r6\n\t"                                                           \
        "strb r6, [r3], #1\n\t"                                                         \
        "ldr r5, [sp, #36]\n\t" /* w_end, above the nine saved registers */             \
        "cmp r0, r5\n\t"                                                                \
        "bne 1b\n\t"                                                                    \
        "pop {r4-r11, pc}\n\t")

__attribute__((naked, noinline)) static void kt_packed_loop_dsp(const int32_t *w,
                                                                const uint32_t *xu,
                                                                const uint32_t *xu_end, int8_t *y,
                                                                const int32_t *w_end)
{
    KT_PACKED_LOOP_ASM("");
}

/* The same with a bias added at run time (a bias being trained): the sixth argument is the
   address of bias[0] minus 4 * (the first channel's y), so bias[c] is at it + 4 * y. */
__attribute__((naked, noinline)) static void kt_packed_loop_bias_dsp(
    const int32_t *w, const uint32_t *xu, const uint32_t *xu_end, int8_t *y, const int32_t *w_end,
    uint32_t bias_at)
{
    KT_PACKED_LOOP_ASM("ldr r9, [sp, #40]\n\t"
                       "ldr r9, [r9, r3, lsl #2]\n\t"
                       "add r12, r12, r9\n\t");
}

/*
 * Windows of exactly 8 bytes: r0 = the records (walked), r1 = their end, r2 = the four widened
 * input words (kept in r4-r7 for every channel), r3 = y (walked). One LDM brings a channel's four
 * filter words and its start value (into the sum's register), one more its tail: 16 instructions
 * per channel.
 */
__attribute__((naked, noinline)) static void kt_packed_loop8_dsp(const int32_t *w,
                                                                 const int32_t *w_end,
                                                                 const uint32_t *xu, int8_t *y)
{
    __asm__ volatile("push {r4-r11, lr}\n\t"
                     "ldm r2, {r4-r7}\n\t"
                     "1:\n\t"
                     "ldm r0!, {r8-r12}\n\t" /* four filter words, the start value */
                     "smlad r12, r8, r4, r12\n\t"
                     "smlad r12, r9, r5, r12\n\t"
                     "smlad r12, r10, r6, r12\n\t"
                     "smlad r12, r11, r7, r12\n\t"
                     "ldm r0!, {r8-r11}\n\t" /* multiplier, c_hi, sh, output offset */
                     "and r2, r12, #0x80000000\n\t"
                     "orr r2, r2, #0x40000000\n\t"
                     "add r9, r9, r12, asr #31\n\t"
                     "smlal r2, r9, r12, r8\n\t"
                     "asr r9, r9, r10\n\t"
                     "add r9, r9, r11\n\t"
                     "ssat r9, #8, r9\n\t"
                     "strb r9, [r3], #1\n\t"
                     "cmp r0, r1\n\t"
                     "bne 1b\n\t"
                     "pop {r4-r11, pc}\n\t");
}
#pragma GCC diagnostic pop
#endif

/* Every output channel of one pixel: y[c] from record c, the widened window xu and (a bias
   trained at run time) bias[c]. */
static void kt_packed_channels(const int32_t *w, int32_t out_c, const uint32_t *xu, int32_t k,
                               const int32_t *bias, int8_t *y)
{
#if KT_USE_DSP && defined(__GNUC__)
    const int32_t *w_end = w + (size_t)out_c * (size_t)KT_PACKED_RECORD_WORDS(k);
    if (bias != NULL) {
        kt_packed_loop_bias_dsp(w, xu, xu + k / 2, y, w_end,
                                (uint32_t)(uintptr_t)bias - 4u * (uint32_t)(uintptr_t)y);
    } else if (k == 8) {
        kt_packed_loop8_dsp(w, w_end, xu, y);
    } else {
        kt_packed_loop_dsp(w, xu, xu + k / 2, y, w_end);
    }
#else
    const int32_t half = k / 2;
    int32_t c, j;
    for (c = 0; c < out_c; ++c, w += KT_PACKED_RECORD_WORDS(k)) {
        const int32_t *t = w + half;
        uint32_t acc = 0;
        for (j = 0; j < half; ++j) {
            acc += (uint32_t)(kt_lo16((uint32_t)w[j]) * kt_lo16(xu[j]));
            acc += (uint32_t)(kt_hi16((uint32_t)w[j]) * kt_hi16(xu[j]));
        }
        acc += (uint32_t)t[KT_PK_START] + (bias != NULL ? (uint32_t)bias[c] : 0u);
        y[c] = kt_rq_sat8(kt_rq_core((int32_t)acc, t[KT_PK_MULT], t[KT_PK_CHI], t[KT_PK_SH]),
                          t[KT_PK_OFF]);
    }
#endif
}

/* The window of output pixel (iy0, ix0) (its top-left tap) into win, row by row: the taps inside
   the image copied (one run per row without dilation), the zero point for those outside. */
static void kt_packed_gather(const kt_conv_params *conv, const kt_dims *in, const int8_t *img,
                             int32_t kh, int32_t kw, int32_t iy0, int32_t ix0, int8_t zp,
                             int8_t *win)
{
    const int32_t in_c = in->c, row = kw * in_c;
    int32_t ky, kx, lo, hi;
    kt_taps_inside(ix0, kw, conv->dilation.w, in->w, &lo, &hi);
    for (ky = 0; ky < kh; ++ky) {
        const int32_t iy = iy0 + ky * conv->dilation.h;
        int8_t *dst = win + ky * row;
        if (iy < 0 || iy >= in->h || lo == hi) {
            memset(dst, zp, (size_t)row);
            continue;
        }
        if (lo > 0) {
            memset(dst, zp, (size_t)(lo * in_c));
        }
        if (conv->dilation.w == 1) {
            (void)kt_copy_short(dst + lo * in_c, img + ((size_t)iy * in->w + ix0 + lo) * in_c,
                                (hi - lo) * in_c);
        } else {
            for (kx = lo; kx < hi; ++kx) {
                (void)kt_copy_short(dst + kx * in_c,
                                    img + ((size_t)iy * in->w + ix0 + kx * conv->dilation.w) * in_c,
                                    in_c);
            }
        }
        if (hi < kw) {
            memset(dst + hi * in_c, zp, (size_t)((kw - hi) * in_c));
        }
    }
}

kt_status kt_conv2d_packed_s8(const kt_conv_params *conv, const kt_packed_filter *packed,
                              const int32_t *bias, const kt_dims *input_dims, const int8_t *input,
                              const kt_dims *filter_dims, const kt_dims *output_dims,
                              int8_t *output)
{
    int8_t win[KT_PACKED_MAX_K];
    uint32_t xu[KT_PACKED_MAX_K / 2];
    int32_t n, oy, ox, kh, kw, in_c, out_c, row, k;
    int8_t zp;

    if (conv == NULL || packed == NULL || packed->records == NULL ||
        !kt_check_tensor_ptrs(input_dims, input, filter_dims, packed->records, output_dims,
                              output) ||
        !kt_check_conv_dims(input_dims, filter_dims, output_dims) ||
        !kt_check_geometry(&conv->stride, &conv->padding, &conv->dilation) ||
        !kt_check_offsets(conv->input_offset, conv->output_offset) ||
        conv->activation.min != -128 || conv->activation.max != 127) {
        return KT_ARG_ERROR;
    }
    kh = filter_dims->h;
    kw = filter_dims->w;
    in_c = input_dims->c;
    out_c = output_dims->c;
    row = kw * in_c;
    k = packed->k;
    if (kh > KT_PACKED_MAX_K || row > KT_PACKED_MAX_K || kh * row > KT_PACKED_MAX_K ||
        k != (kh * row + 7) / 8 * 8 || !kt_packed_records_ok(packed, out_c, conv->output_offset)) {
        return KT_ARG_ERROR;
    }
    zp = (int8_t)(-conv->input_offset);
    memset(win, 0, sizeof win);
    for (n = 0; n < output_dims->n; ++n) {
        const int8_t *img = input + (size_t)n * input_dims->h * input_dims->w * in_c;
        for (oy = 0; oy < output_dims->h; ++oy) {
            const int32_t iy0 = oy * conv->stride.h - conv->padding.h;
            const size_t step_h = (size_t)conv->dilation.h * (size_t)input_dims->w * (size_t)in_c;
            /* every row of the window inside the image, and (below) every column: the rows are
               runs of `row` bytes copied straight, no tap tests */
            const int rows_in = iy0 >= 0 && iy0 + (kh - 1) * conv->dilation.h < input_dims->h;
            for (ox = 0; ox < output_dims->w; ++ox) {
                const int32_t ix0 = ox * conv->stride.w - conv->padding.w;
                const int8_t *src = win;
                if (kh == 1 && kw == 1 && k == in_c && iy0 >= 0 && iy0 < input_dims->h &&
                    ix0 >= 0 && ix0 < input_dims->w) {
                    src = img + ((size_t)iy0 * input_dims->w + ix0) * in_c; /* the pixel itself */
                } else if (rows_in && conv->dilation.w == 1 && ix0 >= 0 &&
                           ix0 + kw <= input_dims->w) {
                    const int8_t *s = img + ((size_t)iy0 * input_dims->w + ix0) * in_c;
                    int8_t *d = win;
                    int32_t ky;
                    for (ky = 0; ky < kh; ++ky, s += step_h) {
                        d = kt_copy_short(d, s, row);
                    }
                } else {
                    kt_packed_gather(conv, input_dims, img, kh, kw, iy0, ix0, zp, win);
                }
                kt_packed_widen(src, k, xu);
                kt_packed_channels(packed->records, out_c, xu, k, bias, output);
                output += out_c;
            }
        }
    }
    return KT_OK;
}
