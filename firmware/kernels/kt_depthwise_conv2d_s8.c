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
/** The padded form (DSP builds): 3x3 stride-1 layers whose input with a one-pixel margin has at
    most this many pixels stage four channels of it on the stack (4 bytes a pixel). */
#define KT_DW_MAX_PAD_PX 100

#if KT_USE_DSP
/* One tap of four channels: a0..a3 += f * (x + input offset), lanes (0, 2) and (1, 3) of the
   input word (SXTAB16 adds the offset in 16 bits) and of the filter word (SXTB16). */
#define KT_DW_TAP(xp, fp)                                     \
    do {                                                      \
        uint32_t wx_, wf_;                                    \
        memcpy(&wx_, (xp), 4);                                \
        memcpy(&wf_, (fp), 4);                                \
        {                                                     \
            const uint32_t x02_ = __sxtab16(off2, wx_);       \
            const uint32_t x13_ = kt_sxtab16_ror8(off2, wx_); \
            const uint32_t f02_ = __sxtb16(wf_);              \
            const uint32_t f13_ = kt_sxtb16_ror8(wf_);        \
            a0 = __smlabb((int32_t)f02_, (int32_t)x02_, a0);  \
            a2 = __smlatt((int32_t)f02_, (int32_t)x02_, a2);  \
            a1 = __smlabb((int32_t)f13_, (int32_t)x13_, a1);  \
            a3 = __smlatt((int32_t)f13_, (int32_t)x13_, a3);  \
        }                                                     \
    } while (0)

/* KT_DW_TAP with the filter word already unpacked (u[0] = lanes (0, 2), u[1] = lanes (1, 3)). */
#define KT_DW_TAP_U(xp, u)                                     \
    do {                                                       \
        uint32_t wx_;                                          \
        memcpy(&wx_, (xp), 4);                                 \
        {                                                      \
            const uint32_t x02_ = __sxtab16(off2, wx_);        \
            const uint32_t x13_ = kt_sxtab16_ror8(off2, wx_);  \
            a0 = __smlabb((int32_t)(u)[0], (int32_t)x02_, a0); \
            a2 = __smlatt((int32_t)(u)[0], (int32_t)x02_, a2); \
            a1 = __smlabb((int32_t)(u)[1], (int32_t)x13_, a1); \
            a3 = __smlatt((int32_t)(u)[1], (int32_t)x13_, a3); \
        }                                                      \
    } while (0)

#if defined(__GNUC__)
/* One tap in assembly: the input word at ADDR (x02 in place of the word, x13 beside it, the input
   offset added by SXTAB16), the unpacked filter pair fp[T] by one LDRD, four SMLAxy. */
#define KT_DW_ASM_TAP(ADDR, T)                    \
    "ldr %[wx], " ADDR "\n\t"                     \
    "ldrd %[f02], %[f13], [%[fw], #" #T "*8]\n\t" \
    "sxtab16 %[x13], %[o2], %[wx], ror #8\n\t"    \
    "sxtab16 %[wx], %[o2], %[wx]\n\t"             \
    "smlabb %[a0], %[f02], %[wx], %[a0]\n\t"      \
    "smlatt %[a2], %[f02], %[wx], %[a2]\n\t"      \
    "smlabb %[a1], %[f13], %[x13], %[a1]\n\t"     \
    "smlatt %[a3], %[f13], %[x13], %[a3]\n\t"

/* The nine taps of one output pixel, four channels (the C taps KT_DW_TAP_U below, in assembly:
   the 13 registers they need, four sums, the window's row pointer (stepped down its three rows),
   the row and column steps, the filter and offset words and four temporaries, leave one of a
   Cortex-M's 14 to the compiler; GCC 12 spilled a third of the loop's values on the same C). The
   third column is at 2 x col_step (LSL #1 of the step). */
#define KT_DW3X3_ASM(P_, RS_, CS_, FP_, OFF2_)                                                     \
    do {                                                                                           \
        uint32_t wx_, x13_, f02_, f13_;                                                            \
        __asm__ volatile(                                                                          \
            KT_DW_ASM_TAP("[%[p0]]", 0) KT_DW_ASM_TAP("[%[p0], %[st]]", 1)                         \
                KT_DW_ASM_TAP("[%[p0], %[st], lsl #1]",                                            \
                              2) "add %[p0], %[p0], %[rs]\n\t" KT_DW_ASM_TAP("[%[p0]]", 3)         \
                    KT_DW_ASM_TAP("[%[p0], %[st]]", 4)                                             \
                        KT_DW_ASM_TAP("[%[p0], %[st], lsl #1]",                                    \
                                      5) "add %[p0], %[p0], %[rs]\n\t" KT_DW_ASM_TAP("[%[p0]]", 6) \
                            KT_DW_ASM_TAP("[%[p0], %[st]]", 7)                                     \
                                KT_DW_ASM_TAP("[%[p0], %[st], lsl #1]", 8)                         \
            : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [wx] "=&r"(wx_),         \
              [x13] "=&r"(x13_), [f02] "=&r"(f02_), [f13] "=&r"(f13_), [p0] "+r"(P_)               \
            : [rs] "r"(RS_), [st] "r"(CS_), [fw] "r"(FP_), [o2] "r"(OFF2_)                         \
            : "memory");                                                                           \
    } while (0)
#endif

/* The output stages of four channels (out of line: keeps the pixel loop's registers free). */
static KT_NOINLINE void kt_dw_store4(const kt_rq *q, int32_t a0, int32_t a1, int32_t a2, int32_t a3,
                                     int8_t *y)
{
    if (q[0].fast & q[1].fast & q[2].fast & q[3].fast) { /* the short form, no branch per value */
        const int32_t lo = q[0].lo, hi = q[0].hi, off = q[0].output_offset; /* the layer's */
        if (q[0].full) {
            y[0] = kt_rq_sat8(kt_rq_short(&q[0], a0), off);
            y[1] = kt_rq_sat8(kt_rq_short(&q[1], a1), off);
            y[2] = kt_rq_sat8(kt_rq_short(&q[2], a2), off);
            y[3] = kt_rq_sat8(kt_rq_short(&q[3], a3), off);
            return;
        }
        y[0] = (int8_t)(kt_clamp(kt_rq_short(&q[0], a0), lo, hi) + off);
        y[1] = (int8_t)(kt_clamp(kt_rq_short(&q[1], a1), lo, hi) + off);
        y[2] = (int8_t)(kt_clamp(kt_rq_short(&q[2], a2), lo, hi) + off);
        y[3] = (int8_t)(kt_clamp(kt_rq_short(&q[3], a3), lo, hi) + off);
        return;
    }
    y[0] = kt_rq_apply(&q[0], a0);
    y[1] = kt_rq_apply(&q[1], a1);
    y[2] = kt_rq_apply(&q[2], a2);
    y[3] = kt_rq_apply(&q[3], a3);
}

/* What four channels of a layer share across its pixels: output stages, bias and (3x3) the
   unpacked filter taps; when all four take the short output stage and the clamp is the whole int8
   range (ff), their constants also as one table qt = (m, c_hi, sh) per channel, then the output
   offset, for the assembly output stage. */
typedef struct {
    kt_rq q[4];
    int32_t start[4];
    uint32_t fp[9][2];
    int32_t qt[13];
    int32_t ff;
} kt_dw_group;

#if defined(__GNUC__)
/* One channel of the assembly output stage: kt_rq_core() (lo = 2^30 + [acc < 0] 2^31, hi = c_hi
   - [acc < 0], one SMLAL, hi >> sh) and kt_rq_sat8() (the offset added, SSAT), from the table's
   words at byte O; stored at y[K]. */
#define KT_DW_OUT_ASM(A, O, K)               \
    "ldrd %[m], %[c], [%[t], #" #O "]\n\t"   \
    "ldr %[s], [%[t], #" #O " + 8]\n\t"      \
    "and %[lo], %[" #A "], #0x80000000\n\t"  \
    "orr %[lo], %[lo], #0x40000000\n\t"      \
    "add %[c], %[c], %[" #A "], asr #31\n\t" \
    "smlal %[lo], %[c], %[" #A "], %[m]\n\t" \
    "asr %[c], %[c], %[s]\n\t"               \
    "add %[c], %[c], %[off]\n\t"             \
    "ssat %[c], #8, %[c]\n\t"                \
    "strb %[c], [%[y], #" #K "]\n\t"

/* The four channels' output stages from g->qt (g->ff), in place of kt_dw_store4(). */
#define KT_DW_STORE4_ASM(A0, A1, A2, A3, Y, QT)                                               \
    do {                                                                                      \
        uint32_t m_, c_, s_, lo_, off_;                                                       \
        __asm__ volatile(                                                                     \
            "ldr %[off], [%[t], #48]\n\t" KT_DW_OUT_ASM(a0, 0, 0) KT_DW_OUT_ASM(a1, 12, 1)    \
                KT_DW_OUT_ASM(a2, 24, 2) KT_DW_OUT_ASM(a3, 36, 3)                             \
            : [m] "=&r"(m_), [c] "=&r"(c_), [s] "=&r"(s_), [lo] "=&r"(lo_), [off] "=&r"(off_) \
            : [a0] "r"(A0), [a1] "r"(A1), [a2] "r"(A2), [a3] "r"(A3), [y] "r"(Y), [t] "r"(QT) \
            : "memory");                                                                      \
    } while (0)
#endif

/* A run of `count` output pixels of one row whose 3x3 windows lie inside the image, four channels:
   the filter's nine taps unpacked once by the caller (g->fp[t] = lanes (0, 2) and (1, 3)), the
   window's top-left tap a pointer that steps one output pixel (`px_step` bytes) at a time, no
   bounds and no index arithmetic in the loop; the output stage in assembly too when g->ff. */
static KT_NOINLINE void kt_dw3x3_run(const int8_t *x, size_t row_step, size_t col_step,
                                     size_t px_step, const kt_dw_group *g, uint32_t off2, int8_t *y,
                                     size_t y_step, int32_t count)
{
    const uint32_t(*fp)[2] = (const uint32_t(*)[2])g->fp;
    const int32_t *start = g->start;
    for (; count > 0; --count, x += px_step, y += y_step) {
        int32_t a0 = start[0], a1 = start[1], a2 = start[2], a3 = start[3];
#if defined(__GNUC__)
        const int8_t *p = x; /* walked down the window's rows by the assembly */
        KT_DW3X3_ASM(p, row_step, col_step, fp, off2);
        if (g->ff) {
            KT_DW_STORE4_ASM(a0, a1, a2, a3, y, g->qt);
            continue;
        }
#else
        const int8_t *r0 = x, *r1 = x + row_step, *r2 = x + 2 * row_step;
        const size_t col2 = 2 * col_step;
        KT_DW_TAP_U(r0, fp[0]);
        KT_DW_TAP_U(r0 + col_step, fp[1]);
        KT_DW_TAP_U(r0 + col2, fp[2]);
        KT_DW_TAP_U(r1, fp[3]);
        KT_DW_TAP_U(r1 + col_step, fp[4]);
        KT_DW_TAP_U(r1 + col2, fp[5]);
        KT_DW_TAP_U(r2, fp[6]);
        KT_DW_TAP_U(r2 + col_step, fp[7]);
        KT_DW_TAP_U(r2 + col2, fp[8]);
#endif
        kt_dw_store4(g->q, a0, a1, a2, a3, y);
    }
}

/* One output pixel's window, four channels from `filter` on (rows [ky_lo, ky_hi) inside the image). */
typedef struct {
    const int8_t *in_b;   /* the batch's input, at the group's first channel */
    const int8_t *filter; /* the filter, at the group's first channel */
    int32_t in_w, ch, k_w, dil_h, dil_w, iy0, ky_lo, ky_hi;
    uint32_t off2;
} kt_dw_win;

/* Any output pixel (at the border, or of a filter other than 3x3): the taps inside the image. */
static KT_NOINLINE void kt_dw_px(const kt_dw_win *w, int32_t ix0, const int32_t *start,
                                 const kt_rq *q, int8_t *y)
{
    const uint32_t off2 = w->off2;
    const int32_t ch = w->ch, k_w = w->k_w, dil_w = w->dil_w;
    const size_t col_step = (size_t)dil_w * ch;
    int32_t kx_lo = 0, kx_hi = k_w, ky;
    int32_t a0 = start[0], a1 = start[1], a2 = start[2], a3 = start[3];
    while (kx_lo < k_w && ix0 + kx_lo * dil_w < 0) {
        ++kx_lo;
    }
    while (kx_hi > kx_lo && ix0 + (kx_hi - 1) * dil_w >= w->in_w) {
        --kx_hi;
    }
    for (ky = w->ky_lo; ky < w->ky_hi; ++ky) {
        const int8_t *x = w->in_b + (size_t)(w->iy0 + ky * w->dil_h) * w->in_w * ch +
                          (size_t)(ix0 + kx_lo * dil_w) * ch;
        const int8_t *f = w->filter + ((size_t)ky * k_w + kx_lo) * ch;
        int32_t kx;
        for (kx = kx_lo; kx < kx_hi; ++kx, x += col_step, f += ch) {
            KT_DW_TAP(x, f);
        }
    }
    kt_dw_store4(q, a0, a1, a2, a3, y);
}

static KT_NOINLINE void kt_dw_group_make(kt_dw_group *g, const kt_dw_conv_params *dw,
                                         const kt_per_channel_quant *quant, const int8_t *filter,
                                         const int32_t *bias, int32_t ch, int32_t c, int is3x3)
{
    int32_t t;
    for (t = 0; t < 4; ++t) {
        g->q[t] = kt_rq_make(quant->multiplier[c + t], quant->shift[c + t], dw->output_offset,
                             dw->activation.min, dw->activation.max);
        g->start[t] = bias != NULL ? bias[c + t] : 0;
    }
    g->ff = g->q[0].full;
    for (t = 0; t < 4; ++t) {
        g->ff &= g->q[t].fast;
        g->qt[3 * t] = g->q[t].multiplier;
        g->qt[3 * t + 1] = g->q[t].c_hi;
        g->qt[3 * t + 2] = g->q[t].sh;
    }
    g->qt[12] = dw->output_offset;
    for (t = 0; is3x3 && t < 9; ++t) {
        uint32_t wf;
        memcpy(&wf, filter + (size_t)t * ch + c, 4);
        g->fp[t][0] = __sxtb16(wf);
        g->fp[t][1] = kt_sxtb16_ror8(wf);
    }
}

/* The padded form of a 3x3 stride-1 layer on a small map: four channels of the input staged with a
   one-pixel margin of the zero point (whose products, the input offset added, are 0: taps in the
   padding contribute nothing), st[(iy + 1) * (in_w + 2) + ix + 1] = the four bytes at (iy, ix), so
   every output pixel runs the interior taps of kt_dw3x3_run(), none the border path. A layer of
   its own (kt_dw3x3_padded_ok(): padding <= 1, every window within the margin, a small map): the
   staged map is on the stack only then, not under the row runner's larger layers. Returns the
   channels done. */
static int kt_dw3x3_padded_ok(const kt_dw_conv_params *dw, const kt_dims *in, const kt_dims *f,
                              const kt_dims *out)
{
    return f->h == 3 && f->w == 3 && dw->stride.h == 1 && dw->stride.w == 1 &&
           dw->dilation.h == 1 && dw->dilation.w == 1 && dw->padding.h <= 1 && dw->padding.w <= 1 &&
           out->h - dw->padding.h + 1 <= in->h && out->w - dw->padding.w + 1 <= in->w &&
           (in->h + 2) * (in->w + 2) <= KT_DW_MAX_PAD_PX;
}

static KT_NOINLINE int32_t kt_dw3x3_padded(const kt_dw_conv_params *dw,
                                           const kt_per_channel_quant *quant,
                                           const kt_dims *input_dims, const int8_t *input,
                                           const int8_t *filter, const int32_t *bias,
                                           const kt_dims *output_dims, int8_t *output)
{
    uint32_t st[KT_DW_MAX_PAD_PX];
    kt_dw_group g;
    const int32_t in_h = input_dims->h, in_w = input_dims->w, ch = input_dims->c, sw = in_w + 2;
    const int32_t out_h = output_dims->h, out_w = output_dims->w;
    const int32_t pad_h = dw->padding.h, pad_w = dw->padding.w, in_off = dw->input_offset;
    const uint32_t off2 = ((uint32_t)in_off & 0xFFFFu) | ((uint32_t)in_off << 16);
    const uint32_t zp4 = 0x01010101u * (uint8_t)(-in_off);
    int32_t c, b, iy, ix;
    for (c = 0; c + 4 <= ch; c += 4) {
        kt_dw_group_make(&g, dw, quant, filter, bias, ch, c, 1);
        for (b = 0; b < input_dims->n; ++b) {
            const int8_t *in_b = input + (size_t)b * in_h * in_w * ch + c;
            int8_t *y = output + (size_t)b * out_h * out_w * ch + c;
            for (ix = 0; ix < sw; ++ix) {
                st[ix] = zp4;
                st[(size_t)(in_h + 1) * sw + ix] = zp4;
            }
            for (iy = 0; iy < in_h; ++iy) {
                uint32_t *row = st + (size_t)(iy + 1) * sw;
                const int8_t *x = in_b + (size_t)iy * in_w * ch;
                row[0] = zp4;
                row[sw - 1] = zp4;
                for (ix = 0; ix < in_w; ++ix, x += ch) {
                    memcpy(&row[ix + 1], x, 4);
                }
            }
            for (iy = 0; iy < out_h; ++iy) { /* output row iy: staged rows from iy - pad_h + 1 */
                kt_dw3x3_run((const int8_t *)(st + (size_t)(iy - pad_h + 1) * sw + (1 - pad_w)),
                             (size_t)sw * 4, 4, 4, &g, off2, y + (size_t)iy * out_w * ch,
                             (size_t)ch, out_w);
            }
        }
    }
    return c;
}

/* The DSP path of a depth-multiplier-1 layer over channels [0, out_c - out_c % 4), all pixels.
   Channels go four at a time in the outer loop, so each group's output stages are worked out once
   (kt_rq); every output pixel then costs, per tap in the image, one input and one filter load, four
   sign extensions and four SMLABB / SMLATT into accumulators kept in registers (a row of three
   taps inside the image is unrolled). The sums are the portable loop's integers (taken in another
   order, wrapping alike). Not inlined: its frame and the portable loop's accumulators are never
   on the stack together. Returns the channels done. */
static KT_NOINLINE int32_t kt_dw_dsp(const kt_dw_conv_params *dw, const kt_per_channel_quant *quant,
                                     const kt_dims *input_dims, const int8_t *input,
                                     const kt_dims *filter_dims, const int8_t *filter,
                                     const int32_t *bias, const kt_dims *output_dims,
                                     int8_t *output)
{
    const int32_t in_h = input_dims->h, in_w = input_dims->w, ch = input_dims->c;
    const int32_t k_h = filter_dims->h, k_w = filter_dims->w;
    const int32_t out_h = output_dims->h, out_w = output_dims->w;
    const int32_t st_h = dw->stride.h, st_w = dw->stride.w, pad_h = dw->padding.h;
    const int32_t pad_w = dw->padding.w, dil_h = dw->dilation.h, dil_w = dw->dilation.w;
    const int32_t in_off = dw->input_offset;
    const uint32_t off2 = ((uint32_t)in_off & 0xFFFFu) | ((uint32_t)in_off << 16);
    int32_t c, b, oy, ox;

    /* output columns whose windows lie inside the image: [ox_lo, ox_hi) */
    int32_t ox_lo = 0, ox_hi = out_w;
    const int is3x3 = k_h == 3 && k_w == 3;
    while (ox_lo < out_w && ox_lo * st_w - pad_w < 0) {
        ++ox_lo;
    }
    while (ox_hi > ox_lo && (ox_hi - 1) * st_w - pad_w + 2 * dil_w >= in_w) {
        --ox_hi;
    }
    kt_dw_win win;
    kt_dw_group g;
    win.in_w = in_w;
    win.ch = ch;
    win.k_w = k_w;
    win.dil_h = dil_h;
    win.dil_w = dil_w;
    win.off2 = off2;
    for (c = 0; c + 4 <= ch; c += 4) {
        kt_dw_group_make(&g, dw, quant, filter, bias, ch, c, is3x3);
        win.filter = filter + c;
        for (b = 0; b < input_dims->n; ++b) {
            const int8_t *in_b = input + (size_t)b * in_h * in_w * ch + c;
            int8_t *y = output + (size_t)b * out_h * out_w * ch + c;
            win.in_b = in_b;
            for (oy = 0; oy < out_h; ++oy) {
                const int32_t iy0 = oy * st_h - pad_h;
                int32_t ky_lo = 0, ky_hi = k_h;
                while (ky_lo < k_h && iy0 + ky_lo * dil_h < 0) {
                    ++ky_lo;
                }
                while (ky_hi > ky_lo && iy0 + (ky_hi - 1) * dil_h >= in_h) {
                    --ky_hi;
                }
                for (ox = 0; ox < out_w; ++ox, y += ch) {
                    const int32_t ix0 = ox * st_w - pad_w;
                    if (is3x3 && ox == ox_lo && ox_hi > ox_lo && ky_lo == 0 && ky_hi == 3) {
                        kt_dw3x3_run(in_b + ((size_t)iy0 * in_w + ix0) * ch,
                                     (size_t)dil_h * in_w * ch, (size_t)dil_w * ch,
                                     (size_t)st_w * ch, &g, off2, y, (size_t)ch, ox_hi - ox_lo);
                        ox = ox_hi - 1;
                        y += (size_t)(ox_hi - 1 - ox_lo) * ch;
                        continue;
                    }
                    win.iy0 = iy0;
                    win.ky_lo = ky_lo;
                    win.ky_hi = ky_hi;
                    kt_dw_px(&win, ix0, g.start, g.q, y);
                }
            }
        }
    }
    return c;
}
#endif

/* The portable loop over output channels [oc_start, out_c) (arguments checked by the caller; not
   inlined, so its accumulator block is not on the stack while the DSP path runs). */
static KT_NOINLINE void kt_dw_portable(const kt_dw_conv_params *dw,
                                       const kt_per_channel_quant *quant, const kt_dims *input_dims,
                                       const int8_t *input, const kt_dims *filter_dims,
                                       const int8_t *filter, const int32_t *bias,
                                       const kt_dims *output_dims, int8_t *output, int32_t oc_start)
{
    int32_t acc[KT_DW_BLOCK];
    int32_t b, oy, ox, ky, kx, j, oc0;
    int32_t in_h, in_w, in_c, k_h, k_w, out_h, out_w, out_c, dm;
    int32_t st_h, st_w, pad_h, pad_w, dil_h, dil_w, in_off, out_off, act_min, act_max;

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

    for (oc0 = oc_start; oc0 < out_c; oc0 += KT_DW_BLOCK) {
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
                    for (j = 0; j < n; ++j) {
                        acc[j] = 0;
                    }
                    for (ky = ky_lo; ky < ky_hi; ++ky) {
                        const int8_t *in_row = in_b + (size_t)(iy0 + ky * dil_h) * in_w * in_c;
                        for (kx = kx_lo; kx < kx_hi; ++kx) {
                            const int8_t *x = in_row + (size_t)(ix0 + kx * dil_w) * in_c + ic0;
                            const int8_t *f = filter + ((size_t)ky * k_w + kx) * out_c + oc0;
                            if (dm == 1) {
                                for (j = 0; j < n; ++j) {
                                    acc[j] += (int32_t)f[j] * ((int32_t)x[j] + in_off);
                                }
                            } else {
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
                    for (j = 0; j < n; ++j) {
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
}

#if KT_HOST_SIMD
/* The host path for depth multiplier 1: one tile of w (8, 16 or 32; a constant at each call, so
   the lanes are the compiler's vectors) channels from oc0, every output pixel's taps summed across
   the tile and its output stage kt_rq_lane() over the tile. The sums are the portable loop's (the
   same products, exact in int32), the multipliers >= 0 (checked by the caller). */
static inline void kt_dw_host_tile(const kt_dw_conv_params *dw, const kt_per_channel_quant *quant,
                                   const kt_dims *input_dims, const int8_t *input,
                                   const kt_dims *filter_dims, const int8_t *filter,
                                   const int32_t *bias, const kt_dims *output_dims, int8_t *output,
                                   int32_t oc0, int32_t w)
{
    const int32_t in_h = input_dims->h, in_w = input_dims->w, c = input_dims->c;
    const int32_t k_h = filter_dims->h, k_w = filter_dims->w;
    const int32_t out_h = output_dims->h, out_w = output_dims->w;
    const int32_t in_off = dw->input_offset, off = dw->output_offset;
    const int32_t lo = dw->activation.min - off, hi = dw->activation.max - off;
    int32_t start[KT_DW_BLOCK], mult[KT_DW_BLOCK], left[KT_DW_BLOCK], right[KT_DW_BLOCK];
    int32_t b, oy, ox, ky, kx, j;
    for (j = 0; j < w; ++j) {
        const int32_t shift = quant->shift[oc0 + j];
        start[j] = bias != NULL ? bias[oc0 + j] : 0;
        mult[j] = quant->multiplier[oc0 + j];
        left[j] = shift > 0 ? shift : 0;
        right[j] = shift > 0 ? 0 : -shift;
    }
    for (b = 0; b < input_dims->n; ++b) {
        const int8_t *in_b = input + (size_t)b * in_h * in_w * c;
        for (oy = 0; oy < out_h; ++oy) {
            const int32_t iy0 = oy * dw->stride.h - dw->padding.h;
            for (ox = 0; ox < out_w; ++ox) {
                const int32_t ix0 = ox * dw->stride.w - dw->padding.w;
                int32_t acc[KT_DW_BLOCK];
                int8_t y[KT_DW_BLOCK];
                for (j = 0; j < w; ++j) {
                    acc[j] = start[j];
                }
                for (ky = 0; ky < k_h; ++ky) {
                    const int32_t iy = iy0 + ky * dw->dilation.h;
                    if (iy < 0 || iy >= in_h) {
                        continue;
                    }
                    for (kx = 0; kx < k_w; ++kx) {
                        const int32_t ix = ix0 + kx * dw->dilation.w;
                        const int8_t *x, *f;
                        if (ix < 0 || ix >= in_w) {
                            continue;
                        }
                        x = in_b + ((size_t)iy * in_w + ix) * c + oc0;
                        f = filter + ((size_t)ky * k_w + kx) * c + oc0;
                        for (j = 0; j < w; ++j) {
                            acc[j] += (int32_t)f[j] * ((int32_t)x[j] + in_off);
                        }
                    }
                }
                for (j = 0; j < w; ++j) {
                    y[j] = (int8_t)kt_rq_lane(acc[j], mult[j], left[j], right[j], lo, hi, off);
                }
                memcpy(output + (((size_t)b * out_h + oy) * out_w + ox) * c + oc0, y, (size_t)w);
            }
        }
    }
}

/* Host path (depth multiplier 1, multipliers >= 0): tiles of 32, 16 and 8 channels. Returns the
   channels done (a multiple of 8); the portable loop does the rest. */
static int32_t kt_dw_host(const kt_dw_conv_params *dw, const kt_per_channel_quant *quant,
                          const kt_dims *input_dims, const int8_t *input,
                          const kt_dims *filter_dims, const int8_t *filter, const int32_t *bias,
                          const kt_dims *output_dims, int8_t *output)
{
    const int32_t out_c = output_dims->c;
    int32_t oc = 0;
    if (dw->depth_multiplier != 1) {
        return 0;
    }
    if (!kt_rq_lanes_ok(quant->multiplier, out_c)) {
        return 0;
    }
    for (oc = 0; oc + 32 <= out_c; oc += 32) {
        kt_dw_host_tile(dw, quant, input_dims, input, filter_dims, filter, bias, output_dims,
                        output, oc, 32);
    }
    for (; oc + 16 <= out_c; oc += 16) {
        kt_dw_host_tile(dw, quant, input_dims, input, filter_dims, filter, bias, output_dims,
                        output, oc, 16);
    }
    for (; oc + 8 <= out_c; oc += 8) {
        kt_dw_host_tile(dw, quant, input_dims, input, filter_dims, filter, bias, output_dims,
                        output, oc, 8);
    }
    return oc;
}
#endif

kt_status kt_depthwise_conv2d_s8(const kt_dw_conv_params *dw, const kt_per_channel_quant *quant,
                                 const kt_dims *input_dims, const int8_t *input,
                                 const kt_dims *filter_dims, const int8_t *filter,
                                 const int32_t *bias, const kt_dims *output_dims, int8_t *output)
{
    int32_t oc0 = 0;

    if (dw == NULL || !kt_check_quant_ptrs(quant) ||
        !kt_check_tensor_ptrs(input_dims, input, filter_dims, filter, output_dims, output)) {
        return KT_ARG_ERROR;
    }
    if (!kt_check_dw_dims(input_dims, filter_dims, output_dims, dw->depth_multiplier) ||
        !kt_check_geometry(&dw->stride, &dw->padding, &dw->dilation) ||
        !kt_check_offsets(dw->input_offset, dw->output_offset) ||
        !kt_check_activation(&dw->activation) ||
        !kt_check_requant_shifts(quant->shift, output_dims->c)) {
        return KT_ARG_ERROR;
    }

#if KT_USE_DSP
    if (dw->depth_multiplier == 1) {
        oc0 = kt_dw3x3_padded_ok(dw, input_dims, filter_dims, output_dims)
                  ? kt_dw3x3_padded(dw, quant, input_dims, input, filter, bias, output_dims, output)
                  : kt_dw_dsp(dw, quant, input_dims, input, filter_dims, filter, bias, output_dims,
                              output);
    }
#elif KT_HOST_SIMD
    oc0 = kt_dw_host(dw, quant, input_dims, input, filter_dims, filter, bias, output_dims, output);
#endif
    kt_dw_portable(dw, quant, input_dims, input, filter_dims, filter, bias, output_dims, output,
                   oc0);
    return KT_OK;
}
