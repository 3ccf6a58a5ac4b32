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
#include "internal/kt_dot.h"
#include "internal/kt_grad_pack.h"
#include "internal/kt_grad_quant.h"

/** Output channels staged at a time by the pointwise path (h of one pixel on the stack). */
#define KT_IG_PW_MAX_CO 128
/** Input channels summed at a time by the wide pointwise path (over chunks of KT_IG_PW_MAX_CO output
    channels, their sums on the stack); two pixels at a time (DSP builds, over chunks of half as
    many output channels): KT_IG_PW_CI_BLOCK2 of each, so the frame stays the one-pixel path's (the
    stack below the step is budgeted: STACK_BASE_BYTES). */
#define KT_IG_PW_CI_BLOCK 64
#define KT_IG_PW_CI_BLOCK2 32

/*
 * The pointwise path: a 1x1 filter, stride 1, no padding (each input pixel reads its own output
 * pixel), Cout <= KT_IG_PW_MAX_CO, and every h of every channel fits int16 (kt_h16_ok()), as
 * all of the compiler's layers do (|h| <= 128 * 2^H * scale, scale <= 1, H <= 8). Per pixel the
 * Cout values h are computed once (not once per block of input channels and filter tap) and
 * staged as 16-bit pairs (h[2i], h[2i+1]); then each input channel's sum runs over the output
 * channels with the accumulators in registers. The DSP path takes four input channels per pass:
 * two filter rows' words give, through SXTB16 and PKHBT / PKHTB, the pairs (W[2i][c], W[2i+1][c])
 * that one SMLAD multiplies with one staged h pair. Same integer sums as the gather loop (in
 * another order; int32 wraps alike).
 */

/* Stage the h of one pixel's output channels [co0, co0 + n) as 16-bit pairs hp[i] = (h[co0 + 2i]
   low, h[co0 + 2i + 1] high), a zero high half after an odd last channel. Returns 0 iff every h is
   zero. */
static int kt_ig_stage_h(const int8_t *gy, const kt_per_channel_quant *chan, int32_t hr,
                         int32_t co0, int32_t n, uint32_t *hp)
{
    uint32_t any = 0;
    int32_t i;
    for (i = 0; i < n; i += 2) {
        const int32_t h0 = kt_grad_h16(gy[co0 + i], chan, co0 + i, hr);
        const int32_t h1 = i + 1 < n ? kt_grad_h16(gy[co0 + i + 1], chan, co0 + i + 1, hr) : 0;
        hp[i / 2] = kt_pack16(h0, h1);
        any |= hp[i / 2];
    }
    return any != 0;
}

#if KT_USE_DSP
/* The output stages of four sums, two to g0 and two to g1 (g1 = g0 + 2: four in a row): packed
   (kt_grad8_store2x2()) in the short form, else value by value. Out of line: the accumulators stay
   in the registers the loops keep them in, and the general form's 64-bit code is here once. */
static KT_NOINLINE void kt_ig_store4(const kt_scale_round_q *out, const uint32_t *a, int8_t *g0,
                                     int8_t *g1, uint32_t *lanes, kt_grad_stats *st)
{
    if (out->k != 0) {
        kt_grad8_store2x2(kt_scale_round_k((int32_t)a[0], out->m, out->c_hi, out->k),
                          kt_scale_round_k((int32_t)a[1], out->m, out->c_hi, out->k), g0,
                          kt_scale_round_k((int32_t)a[2], out->m, out->c_hi, out->k),
                          kt_scale_round_k((int32_t)a[3], out->m, out->c_hi, out->k), g1, lanes,
                          st);
        return;
    }
    g0[0] = kt_to_grad8(kt_scale_round_q_apply(out, (int32_t)a[0]), st);
    g0[1] = kt_to_grad8(kt_scale_round_q_apply(out, (int32_t)a[1]), st);
    g1[0] = kt_to_grad8(kt_scale_round_q_apply(out, (int32_t)a[2]), st);
    g1[1] = kt_to_grad8(kt_scale_round_q_apply(out, (int32_t)a[3]), st);
}

/* a[0..3] += sum over the n staged output channels (rows w, w + in_c, ...) of W[co][c + j] h[co],
   j = 0..3: two filter rows' words give, through SXTB16 and PKHBT / PKHTB, the pairs (W[2i][c],
   W[2i+1][c]) that one SMLAD multiplies with one staged h pair. */
static KT_NOINLINE void kt_ig_mac4(const int8_t *w, int32_t in_c, const uint32_t *hp, int32_t n,
                                   uint32_t *a)
{
    const uint32_t *h = hp, *const h_end = hp + n / 2;
    uint32_t a0 = a[0], a1 = a[1], a2 = a[2], a3 = a[3];
    if (n % 2 != 0) { /* the odd last channel first: h in the low half, no row 2i+1 */
        uint32_t wl;
        memcpy(&wl, w + (size_t)(n - 1) * in_c, 4);
        {
            const uint32_t e0 = __sxtb16(wl), o0 = kt_sxtb16_ror8(wl), hv = *h_end;
            a0 = __smlad(kt_pack_lo16(e0, 0), hv, a0);
            a2 = __smlad(kt_pack_hi16(e0, 0), hv, a2);
            a1 = __smlad(kt_pack_lo16(o0, 0), hv, a1);
            a3 = __smlad(kt_pack_hi16(o0, 0), hv, a3);
        }
    }
#if defined(__GNUC__)
    if (h != h_end) { /* the pair loop below in assembly: 18 instructions, nothing spilled */
        uint32_t w0, w1, o0, o1, t, hv;
        __asm__ volatile("1:\n\t"
                         "ldr %[w1], [%[w], %[ic]]\n\t"
                         "ldr %[w0], [%[w]]\n\t"
                         "add %[w], %[w], %[ic], lsl #1\n\t"
                         "ldr %[hv], [%[h]], #4\n\t"
                         "sxtb16 %[o0], %[w0], ror #8\n\t"
                         "sxtb16 %[o1], %[w1], ror #8\n\t"
                         "sxtb16 %[w0], %[w0]\n\t"
                         "sxtb16 %[w1], %[w1]\n\t"
                         "pkhbt %[t], %[w0], %[w1], lsl #16\n\t"
                         "smlad %[a0], %[t], %[hv], %[a0]\n\t"
                         "pkhtb %[t], %[w1], %[w0], asr #16\n\t"
                         "smlad %[a2], %[t], %[hv], %[a2]\n\t"
                         "pkhbt %[t], %[o0], %[o1], lsl #16\n\t"
                         "smlad %[a1], %[t], %[hv], %[a1]\n\t"
                         "pkhtb %[t], %[o1], %[o0], asr #16\n\t"
                         "smlad %[a3], %[t], %[hv], %[a3]\n\t"
                         "cmp %[h], %[he]\n\t"
                         "bne 1b\n\t"
                         : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [w] "+r"(w),
                           [h] "+r"(h), [w0] "=&r"(w0), [w1] "=&r"(w1), [o0] "=&r"(o0),
                           [o1] "=&r"(o1), [t] "=&r"(t), [hv] "=&r"(hv)
                         : [ic] "r"(in_c), [he] "r"(h_end)
                         : "cc", "memory");
    }
#endif
    for (; h != h_end; ++h, w += 2 * (size_t)in_c) { /* full pairs of output channels */
        uint32_t w0, w1;
        memcpy(&w0, w, 4);
        memcpy(&w1, w + in_c, 4);
        {
            const uint32_t e0 = __sxtb16(w0), e1 = __sxtb16(w1), hv = *h;
            a0 = __smlad(kt_pack_lo16(e0, e1), hv, a0); /* (W[2i][c], W[2i+1][c]) */
            a2 = __smlad(kt_pack_hi16(e0, e1), hv, a2); /* (W[2i][c+2], W[2i+1][c+2]) */
        }
        {
            const uint32_t o0 = kt_sxtb16_ror8(w0), o1 = kt_sxtb16_ror8(w1), hv = *h;
            a1 = __smlad(kt_pack_lo16(o0, o1), hv, a1);
            a3 = __smlad(kt_pack_hi16(o0, o1), hv, a3);
        }
    }
    a[0] = a0;
    a[1] = a1;
    a[2] = a2;
    a[3] = a3;
}
#endif

#if KT_USE_DSP
/* Stage the h of two pixels' output channels [co0, co0 + n) interleaved: hp[2i] = pixel 0's pair
   (h[co0 + 2i], h[co0 + 2i + 1]) as in kt_ig_stage_h(), hp[2i + 1] = pixel 1's. Returns 0 iff
   every h of both pixels is zero. */
static int kt_ig_stage_h2(const int8_t *gy0, const int8_t *gy1, const kt_per_channel_quant *chan,
                          int32_t hr, int32_t co0, int32_t n, uint32_t *hp)
{
    uint32_t any = 0;
    int32_t i;
    for (i = 0; i < n; i += 2) {
        const int32_t c = co0 + i, two = i + 1 < n;
        hp[i] = kt_pack16(kt_grad_h16(gy0[c], chan, c, hr),
                          two ? kt_grad_h16(gy0[c + 1], chan, c + 1, hr) : 0);
        hp[i + 1] = kt_pack16(kt_grad_h16(gy1[c], chan, c, hr),
                              two ? kt_grad_h16(gy1[c + 1], chan, c + 1, hr) : 0);
        any |= hp[i] | hp[i + 1];
    }
    return any != 0;
}

/* a[] += the sums of input channels c, c + 1 (w = row 0 at c) of two pixels over the n output
   channels staged by kt_ig_stage_h2() (a[0], a[1]: pixel 0's; a[2], a[3]: pixel 1's). Per pair of
   output channels the two rows' halfwords make one word (W[2i][c], W[2i][c+1], W[2i+1][c],
   W[2i+1][c+1]) through PKHBT, whose SXTB16 gives the pair (W[2i][c], W[2i+1][c]) and, rotated by
   8, (W[2i][c+1], W[2i+1][c+1]): each multiplies both pixels' staged h pairs, four SMLAD for 8
   multiply-accumulates in 13 instructions. Same integer sums as the gather loop's. */
static KT_NOINLINE void kt_ig_mac2x2(const int8_t *w, int32_t in_c, const uint32_t *hp, int32_t n,
                                     uint32_t *a)
{
    const uint32_t *h = hp, *const h_end = hp + 2 * (n / 2);
    uint32_t a0 = a[0], a1 = a[1], b0 = a[2], b1 = a[3];
    if (n % 2 != 0) { /* the odd last channel first: h in the low half, no row 2i+1 */
        uint16_t r;
        memcpy(&r, w + (size_t)(n - 1) * in_c, 2);
        {
            const uint32_t e = __sxtb16(r), o = kt_sxtb16_ror8(r), h0 = h_end[0], h1 = h_end[1];
            a0 = __smlad(e, h0, a0);
            b0 = __smlad(e, h1, b0);
            a1 = __smlad(o, h0, a1);
            b1 = __smlad(o, h1, b1);
        }
    }
#if defined(__GNUC__)
    if (h != h_end) { /* the pair loop below in assembly: 13 instructions, 12 registers */
        uint32_t w0, w1, h0, h1;
        __asm__ volatile(
            "1:\n\t"
            "ldrh %[w0], [%[w]]\n\t"
            "ldrh %[w1], [%[w], %[ic]]\n\t"
            "add %[w], %[w], %[ic], lsl #1\n\t"
            "ldrd %[h0], %[h1], [%[h]], #8\n\t"
            "pkhbt %[w0], %[w0], %[w1], lsl #16\n\t"
            "sxtb16 %[w1], %[w0]\n\t"
            "sxtb16 %[w0], %[w0], ror #8\n\t"
            "smlad %[a0], %[w1], %[h0], %[a0]\n\t"
            "smlad %[b0], %[w1], %[h1], %[b0]\n\t"
            "smlad %[a1], %[w0], %[h0], %[a1]\n\t"
            "smlad %[b1], %[w0], %[h1], %[b1]\n\t"
            "cmp %[h], %[he]\n\t"
            "bne 1b\n\t"
            : [a0] "+r"(a0), [a1] "+r"(a1), [b0] "+r"(b0), [b1] "+r"(b1), [w] "+r"(w), [h] "+r"(h),
              [w0] "=&r"(w0), [w1] "=&r"(w1), [h0] "=&r"(h0), [h1] "=&r"(h1)
            : [ic] "r"(in_c), [he] "r"(h_end)
            : "cc", "memory");
    }
#endif
    for (; h != h_end; h += 2, w += 2 * (size_t)in_c) { /* full pairs of output channels */
        uint16_t r0, r1;
        memcpy(&r0, w, 2);
        memcpy(&r1, w + in_c, 2);
        {
            const uint32_t q = kt_pack_lo16(r0, r1), e = __sxtb16(q), o = kt_sxtb16_ror8(q);
            a0 = __smlad(e, h[0], a0);
            b0 = __smlad(e, h[1], b0);
            a1 = __smlad(o, h[0], a1);
            b1 = __smlad(o, h[1], b1);
        }
    }
    a[0] = a0;
    a[1] = a1;
    a[2] = b0;
    a[3] = b1;
}

/* a[0] (pixel 0), a[1] (pixel 1) += the sums of input channel 0 of w over the n output channels
   staged by kt_ig_stage_h2(). */
static void kt_ig_mac1x2(const int8_t *w, int32_t in_c, const uint32_t *hp, int32_t n, uint32_t *a)
{
    int32_t i;
    for (i = 0; i < n; i += 2, w += 2 * (size_t)in_c) {
        a[0] += (uint32_t)((int32_t)w[0] * kt_lo16(hp[i]));
        a[1] += (uint32_t)((int32_t)w[0] * kt_lo16(hp[i + 1]));
        if (i + 1 < n) {
            a[0] += (uint32_t)((int32_t)w[in_c] * kt_hi16(hp[i]));
            a[1] += (uint32_t)((int32_t)w[in_c] * kt_hi16(hp[i + 1]));
        }
    }
}
#endif

/* acc += sum over the n staged output channels (rows w, w + in_c, ...) of W[co][0] h[co]. */
static inline uint32_t kt_ig_mac1(const int8_t *w, int32_t in_c, const uint32_t *hp, int32_t n,
                                  uint32_t acc)
{
    int32_t i;
    for (i = 0; i < n; i += 2, w += 2 * (size_t)in_c) {
        acc += (uint32_t)((int32_t)w[0] * kt_lo16(hp[i / 2]));
        if (i + 1 < n) {
            acc += (uint32_t)((int32_t)w[in_c] * kt_hi16(hp[i / 2]));
        }
    }
    return acc;
}

/*
 * The pointwise path with at most KT_IG_PW_MAX_CO output channels: the h of a pixel (DSP builds: of
 * two pixels, interleaved) are staged once and each group of input channels sums over them with
 * its accumulators in registers, straight into the output stage.
 */
static KT_NOINLINE void kt_ig_pointwise(const kt_conv_grad_params *p, int32_t out_shift,
                                        const int8_t *grad_output, const int8_t *filter,
                                        int32_t pixels, int32_t in_c, int32_t out_c,
                                        int8_t *grad_input, kt_grad_stats *stats)
{
    uint32_t hp[KT_IG_PW_MAX_CO / 2]; /* one pixel's pairs, or (DSP, Cout <= 64) two pixels' */
    const kt_scale_round_q out = kt_scale_round_q_make(p->x_multiplier, out_shift);
    kt_grad_stats st = *stats; /* a local copy: the int8 stores below could alias *stats */
    uint32_t lanes = 0;        /* kt_grad8_pack4()'s lane maxima */
    int32_t px = 0, c;
#if KT_USE_DSP
    for (; out_c <= KT_IG_PW_MAX_CO / 2 && px + 2 <= pixels;
         px += 2) {               /* two pixels, interleaved */
        uint32_t *const hp2 = hp; /* KT_IG_PW_MAX_CO words: both pixels' pairs */
        int8_t *gx0 = grad_input + (size_t)px * in_c, *gx1 = gx0 + in_c;
        const int8_t *gy0 = grad_output + (size_t)px * out_c;
        if (!kt_ig_stage_h2(gy0, gy0 + out_c, &p->chan, p->headroom, 0, out_c, hp2)) {
            memset(gx0, 0, 2 * (size_t)in_c); /* as below: 0, the stats unchanged */
            continue;
        }
        for (c = 0; c + 2 <= in_c; c += 2) {
            uint32_t a[4] = {0, 0, 0, 0};
            kt_ig_mac2x2(filter + c, in_c, hp2, out_c, a);
            kt_ig_store4(&out, a, gx0 + c, gx1 + c, &lanes, &st);
        }
        if (c < in_c) {
            uint32_t a[2] = {0, 0};
            kt_ig_mac1x2(filter + c, in_c, hp2, out_c, a);
            gx0[c] = kt_to_grad8(kt_scale_round_q_apply(&out, (int32_t)a[0]), &st);
            gx1[c] = kt_to_grad8(kt_scale_round_q_apply(&out, (int32_t)a[1]), &st);
        }
    }
#endif
    for (; px < pixels; ++px) { /* one pixel at a time (portable builds; an odd last pixel) */
        int8_t *gx = grad_input + (size_t)px * in_c;
        if (!kt_ig_stage_h(grad_output + (size_t)px * out_c, &p->chan, p->headroom, 0, out_c, hp)) {
            memset(gx, 0, (size_t)in_c); /* to_grad8(scale_round(0)): 0, the stats unchanged */
            continue;
        }
        c = 0;
#if KT_USE_DSP
        for (; c + 4 <= in_c; c += 4) {
            uint32_t a[4] = {0, 0, 0, 0};
            kt_ig_mac4(filter + c, in_c, hp, out_c, a);
            kt_ig_store4(&out, a, gx + c, gx + c + 2, &lanes, &st);
        }
#endif
        for (; c < in_c; ++c) {
            const uint32_t acc = kt_ig_mac1(filter + c, in_c, hp, out_c, 0);
            gx[c] = kt_to_grad8(kt_scale_round_q_apply(&out, (int32_t)acc), &st);
        }
    }
    kt_grad8_finish(lanes, grad_input, (size_t)pixels * (size_t)in_c, &st);
    *stats = st;
}

#if KT_USE_DSP
/*
 * The pointwise path with more output channels (DSP builds: more than KT_IG_PW_MAX_CO / 2, which
 * the two-pixel loop of kt_ig_pointwise() cannot stage): per pair of pixels and block of KT_IG_PW_CI_BLOCK2
 * input channels (an odd last pixel alone, KT_IG_PW_CI_BLOCK), the output channels go in chunks of
 * KT_IG_PW_MAX_CO / 2 (alone: KT_IG_PW_MAX_CO), each staged once per block (a chunk whose h are all zero is skipped),
 * the block's sums carried in acc[] between chunks. DSP
 * builds only: the portable gather loop skips each zero gradient, which the chunked sums cannot,
 * and is the faster of the two in portable C.
 */
/* The rows of a chunk of at most `max` output channels from co0 that lie in one part of a split
   filter (a partially updated layer: rows [0, split) in SRAM, the rest in flash); *n = their count. */
static const int8_t *kt_ig_chunk(const kt_split_filter *f, int32_t co0, int32_t out_c, int32_t in_c,
                                 int32_t max, int32_t *n)
{
    const int32_t end = co0 < f->split ? f->split : out_c;
    *n = end - co0 < max ? end - co0 : max;
    return kt_filter_row(f, co0, (size_t)in_c);
}

static KT_NOINLINE void kt_ig_pointwise_wide(const kt_conv_grad_params *p, int32_t out_shift,
                                             const int8_t *grad_output,
                                             const kt_split_filter *filter, int32_t pixels,
                                             int32_t in_c, int32_t out_c, int8_t *grad_input,
                                             kt_grad_stats *stats)
{
    uint32_t hp[KT_IG_PW_MAX_CO / 2];
    uint32_t acc[2 * KT_IG_PW_CI_BLOCK2 > KT_IG_PW_CI_BLOCK ? 2 * KT_IG_PW_CI_BLOCK2
                                                            : KT_IG_PW_CI_BLOCK];
    const kt_scale_round_q out = kt_scale_round_q_make(p->x_multiplier, out_shift);
    kt_grad_stats st = *stats; /* a local copy: the int8 stores below could alias *stats */
    uint32_t lanes = 0;        /* kt_grad8_pack4()'s lane maxima */
    int32_t px, c0, co0, c, n;
    for (px = 0; px + 2 <= pixels; px += 2) { /* two pixels: chunks of KT_IG_PW_MAX_CO / 2 */
        const int8_t *gy0 = grad_output + (size_t)px * out_c;
        for (c0 = 0; c0 < in_c; c0 += KT_IG_PW_CI_BLOCK2) {
            const int32_t nc = in_c - c0 < KT_IG_PW_CI_BLOCK2 ? in_c - c0 : KT_IG_PW_CI_BLOCK2;
            int8_t *gx0 = grad_input + (size_t)px * in_c + c0, *gx1 = gx0 + in_c;
            uint32_t *const acc1 = acc + KT_IG_PW_CI_BLOCK2;
            memset(acc, 0, sizeof acc);
            for (co0 = 0; co0 < out_c; co0 += n) {
                const int8_t *w =
                    kt_ig_chunk(filter, co0, out_c, in_c, KT_IG_PW_MAX_CO / 2, &n) + c0;
                if (!kt_ig_stage_h2(gy0, gy0 + out_c, &p->chan, p->headroom, co0, n, hp)) {
                    continue;
                }
                for (c = 0; c + 2 <= nc; c += 2) {
                    uint32_t a[4];
                    a[0] = acc[c];
                    a[1] = acc[c + 1];
                    a[2] = acc1[c];
                    a[3] = acc1[c + 1];
                    kt_ig_mac2x2(w + c, in_c, hp, n, a);
                    acc[c] = a[0];
                    acc[c + 1] = a[1];
                    acc1[c] = a[2];
                    acc1[c + 1] = a[3];
                }
                if (c < nc) {
                    uint32_t a[2];
                    a[0] = acc[c];
                    a[1] = acc1[c];
                    kt_ig_mac1x2(w + c, in_c, hp, n, a);
                    acc[c] = a[0];
                    acc1[c] = a[1];
                }
            }
            /* all-zero h give 0 with the stats unchanged, as above */
            for (c = 0; c + 4 <= nc; c += 4) {
                kt_ig_store4(&out, acc + c, gx0 + c, gx0 + c + 2, &lanes, &st);
                kt_ig_store4(&out, acc1 + c, gx1 + c, gx1 + c + 2, &lanes, &st);
            }
            for (; c < nc; ++c) {
                gx0[c] = kt_to_grad8(kt_scale_round_q_apply(&out, (int32_t)acc[c]), &st);
                gx1[c] = kt_to_grad8(kt_scale_round_q_apply(&out, (int32_t)acc1[c]), &st);
            }
        }
    }
    for (; px < pixels; ++px) { /* an odd last pixel: chunks of KT_IG_PW_MAX_CO */
        const int8_t *gy = grad_output + (size_t)px * out_c;
        for (c0 = 0; c0 < in_c; c0 += KT_IG_PW_CI_BLOCK) {
            const int32_t nc = in_c - c0 < KT_IG_PW_CI_BLOCK ? in_c - c0 : KT_IG_PW_CI_BLOCK;
            int8_t *gx = grad_input + (size_t)px * in_c + c0;
            memset(acc, 0, (size_t)nc * sizeof acc[0]);
            for (co0 = 0; co0 < out_c; co0 += n) {
                const int8_t *w = kt_ig_chunk(filter, co0, out_c, in_c, KT_IG_PW_MAX_CO, &n) + c0;
                if (!kt_ig_stage_h(gy, &p->chan, p->headroom, co0, n, hp)) {
                    continue;
                }
                for (c = 0; c + 4 <= nc; c += 4) {
                    kt_ig_mac4(w + c, in_c, hp, n, acc + c);
                }
                for (; c < nc; ++c) {
                    acc[c] = kt_ig_mac1(w + c, in_c, hp, n, acc[c]);
                }
            }
            /* all-zero h give 0 with the stats unchanged, as above */
            for (c = 0; c + 4 <= nc; c += 4) {
                kt_ig_store4(&out, acc + c, gx + c, gx + c + 2, &lanes, &st);
            }
            for (; c < nc; ++c) {
                gx[c] = kt_to_grad8(kt_scale_round_q_apply(&out, (int32_t)acc[c]), &st);
            }
        }
    }
    kt_grad8_finish(lanes, grad_input, (size_t)pixels * (size_t)in_c, &st);
    *stats = st;
}
#endif

#if KT_HOST_SIMD
/* The host path's bounds: the h of up to KT_IG_HOST_CO output channels staged per pixel (8 KB on
   the host's stack), input channels in tiles of KT_IG_HOST_CI. */
#define KT_IG_HOST_CO 2048
#define KT_IG_HOST_CI 32

/* One tile of w (8 or 32, a constant at each call) input channels from c0 of one pixel: the sums
   over the nz output channels with h != 0 (co[], their h in hv[]) of h W[co][c0 + j] run across
   the tile (a filter row's w bytes: one lane per input channel), then the output stage across it.
   |h| < 2^15 (kt_h16_ok()), so each product is exact in int32 and the sums wrap modulo 2^32 like
   the portable loop's: the same integers. */
static inline void kt_ig_host_tile(const kt_scale_round_q *out, const int8_t *filter, int32_t in_c,
                                   const int32_t *co, const int32_t *hv, int32_t nz, int32_t c0,
                                   int32_t w, int8_t *gx, kt_grad_stats *st)
{
    uint32_t acc[KT_IG_HOST_CI] = {0};
    int32_t i, j, sat = 0, amax = st->amax;
    for (i = 0; i < nz; ++i) {
        const int8_t *row = filter + (size_t)co[i] * in_c + c0;
        const int32_t h = hv[i];
        for (j = 0; j < w; ++j) {
            acc[j] += (uint32_t)(h * (int32_t)row[j]);
        }
    }
    for (j = 0; j < w; ++j) {
        const int32_t v = kt_scale_round_k((int32_t)acc[j], out->m, out->c_hi, out->k);
        const int32_t g = v > 127 ? 127 : (v < -127 ? -127 : v);
        const int32_t a = g < 0 ? -g : g;
        sat += v != g;
        amax = a > amax ? a : amax;
        gx[c0 + j] = (int8_t)g;
    }
    st->saturated += sat;
    st->amax = amax;
}

/* Host path of the pointwise input gradient (the caller's conditions, out_c <= KT_IG_HOST_CO and
   the output stage's short form): per pixel the nonzero h are listed once, then tiles of 32 and 8
   input channels and a portable tail. */
static KT_NOINLINE void kt_ig_pointwise_host(const kt_conv_grad_params *p, int32_t out_shift,
                                             const int8_t *grad_output, const int8_t *filter,
                                             int32_t pixels, int32_t in_c, int32_t out_c,
                                             int8_t *grad_input, kt_grad_stats *stats)
{
    int32_t co[KT_IG_HOST_CO], hv[KT_IG_HOST_CO];
    const kt_scale_round_q out = kt_scale_round_q_make(p->x_multiplier, out_shift);
    kt_grad_stats st = *stats; /* a local copy: the int8 stores below could alias *stats */
    int32_t px, c, i;
    for (px = 0; px < pixels; ++px) {
        const int8_t *gy = grad_output + (size_t)px * out_c;
        int8_t *gx = grad_input + (size_t)px * in_c;
        int32_t nz = 0;
        for (i = 0; i < out_c; ++i) {
            const int32_t h = kt_grad_h(gy[i], &p->chan, i, p->headroom);
            co[nz] = i;
            hv[nz] = h;
            nz += h != 0;
        }
        for (c = 0; c + KT_IG_HOST_CI <= in_c; c += KT_IG_HOST_CI) {
            kt_ig_host_tile(&out, filter, in_c, co, hv, nz, c, KT_IG_HOST_CI, gx, &st);
        }
        for (; c + 8 <= in_c; c += 8) {
            kt_ig_host_tile(&out, filter, in_c, co, hv, nz, c, 8, gx, &st);
        }
        for (; c < in_c; ++c) {
            uint32_t acc = 0;
            for (i = 0; i < nz; ++i) {
                acc += (uint32_t)(hv[i] * (int32_t)filter[(size_t)co[i] * in_c + c]);
            }
            gx[c] = kt_to_grad8(kt_scale_round_q_apply(&out, (int32_t)acc), &st);
        }
    }
    *stats = st;
}
#endif

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

/* The gather loop (any geometry): per input pixel and block of KT_GRAD_BLOCK input channels, the
   taps that read it name output pixels whose h are computed on the fly (zeros skipped). Not
   inlined: its accumulator block is never on the stack together with the pointwise path's h. */
static KT_NOINLINE void kt_ig_gather(const kt_conv_grad_params *p, int32_t out_shift,
                                     const kt_dims *grad_output_dims, const int8_t *grad_output,
                                     const kt_dims *filter_dims, const kt_split_filter *filter,
                                     const kt_dims *grad_input_dims, int8_t *grad_input,
                                     kt_grad_stats *stats)
{
    int32_t acc[KT_GRAD_BLOCK];
    int32_t b, iy, ix, ky, kx, co, j, ci0;
    const int32_t in_h = grad_input_dims->h, in_w = grad_input_dims->w, in_c = grad_input_dims->c;
    const int32_t k_h = filter_dims->h, k_w = filter_dims->w, hr = p->headroom;
    const int32_t out_h = grad_output_dims->h, out_w = grad_output_dims->w;
    const int32_t out_c = grad_output_dims->c;

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
                                h = kt_grad_h(gy[co], &p->chan, co, hr);
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
}

kt_status kt_conv2d_input_grad_split_s8(const kt_conv_grad_params *p, int32_t e_gy, int32_t e_gx,
                                        const kt_dims *grad_output_dims, const int8_t *grad_output,
                                        const kt_dims *filter_dims, const kt_split_filter *filter,
                                        const kt_dims *grad_input_dims, int8_t *grad_input,
                                        kt_grad_stats *stats)
{
    int32_t in_h, in_w, in_c, k_h, k_w, out_c, hr, out_shift;

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
    out_c = grad_output_dims->c;
    hr = p->headroom;
    if (!kt_check_conv_dims(grad_input_dims, filter_dims, grad_output_dims) ||
        !kt_check_geometry(&p->stride, &p->padding, &p->dilation) || !kt_check_exponent(e_gy) ||
        !kt_check_exponent(e_gx) || !kt_check_input_grad_quant(&p->chan, hr, p->x_shift, out_c)) {
        return KT_ARG_ERROR;
    }
    out_shift = p->x_shift + e_gy - hr - e_gx;
    kt_grad_stats_reset(stats);
    if (k_h == 1 && k_w == 1 && p->stride.h == 1 && p->stride.w == 1 && p->padding.h == 0 &&
        p->padding.w == 0 && kt_h16_ok(&p->chan, hr, out_c)) {
        /* a filter in one part, or (DSP builds: the chunked path) split between SRAM and flash */
        const int whole = filter->split == 0 || filter->split == out_c;
        const int8_t *f = filter->split == 0 ? filter->tail : filter->head;
        const int32_t pixels = grad_input_dims->n * in_h * in_w;
#if KT_HOST_SIMD
        if (whole && out_c <= KT_IG_HOST_CO && kt_scale_round_k_ok(p->x_multiplier, out_shift)) {
            kt_ig_pointwise_host(p, out_shift, grad_output, f, pixels, in_c, out_c, grad_input,
                                 stats);
            return KT_OK;
        }
#endif
#if KT_USE_DSP
        if (out_c > KT_IG_PW_MAX_CO / 2 || !whole) { /* the two-pixel path over chunks */
            kt_ig_pointwise_wide(p, out_shift, grad_output, filter, pixels, in_c, out_c, grad_input,
                                 stats);
            return KT_OK;
        }
#endif
        if (whole && out_c <= KT_IG_PW_MAX_CO) {
            kt_ig_pointwise(p, out_shift, grad_output, f, pixels, in_c, out_c, grad_input, stats);
            return KT_OK;
        }
    }

    kt_ig_gather(p, out_shift, grad_output_dims, grad_output, filter_dims, filter, grad_input_dims,
                 grad_input, stats);
    return KT_OK;
}
