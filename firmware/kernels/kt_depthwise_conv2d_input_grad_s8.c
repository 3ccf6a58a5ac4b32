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
#include "internal/kt_grad_pack.h"
#include "internal/kt_grad_quant.h"

/** Output pixels up to this take the staged path (8 bytes of stack each). */
#define KT_DWIG_MAX_PX 64

/** Padded h buffers up to this many pixels (8 bytes of stack each): an 8x8 map with its margins. */
#define KT_DWIG_MAX_PAD_PX 100

static inline int32_t kt_max32(int32_t a, int32_t b)
{
    return a > b ? a : b;
}

/** Filter heights and widths up to this (7x7) take the staged path. */
#define KT_DWIG_MAX_K 7

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

/* The taps of one axis that read input position i: t in [0, k) with i + pad - t * dil = o * stride,
   o in [0, out): their t and o, in increasing t. Returns how many. */
static inline int32_t kt_dwig_axis(int32_t i, int32_t pad, int32_t k, int32_t dil, int32_t stride,
                                   int32_t out, int8_t *ts, int8_t *os)
{
    int32_t t, n = 0;
    for (t = 0; t < k; ++t) {
        const int32_t d = i + pad - t * dil;
        if (d < 0) {
            break;
        }
        if (d % stride == 0 && d / stride < out) {
            ts[n] = (int8_t)t;
            os[n] = (int8_t)(d / stride); /* < out <= KT_DWIG_MAX_PX */
            ++n;
        }
    }
    return n;
}

/* One tap of four channels: a0..a3 += the filter bytes of the word f times the staged h lanes hh
   (h0, h2, h1, h3). */
#if KT_USE_DSP
#define KT_DWIG_TAP(f, hh)                                           \
    do {                                                             \
        uint32_t h_[2];                                              \
        const uint32_t f02_ = __sxtb16(f), f13_ = kt_sxtb16_ror8(f); \
        memcpy(h_, (hh), 8);                                         \
        a0 = __smlabb((int32_t)f02_, (int32_t)h_[0], a0);            \
        a2 = __smlatt((int32_t)f02_, (int32_t)h_[0], a2);            \
        a1 = __smlabb((int32_t)f13_, (int32_t)h_[1], a1);            \
        a3 = __smlatt((int32_t)f13_, (int32_t)h_[1], a3);            \
    } while (0)
#else
#define KT_DWIG_TAP(f, hh)                                                                 \
    do {                                                                                   \
        const uint32_t f_ = (f);                                                           \
        a0 = (int32_t)((uint32_t)a0 + (uint32_t)((int8_t)(f_ & 0xFFu) * (hh)[0]));         \
        a1 = (int32_t)((uint32_t)a1 + (uint32_t)((int8_t)((f_ >> 8) & 0xFFu) * (hh)[2]));  \
        a2 = (int32_t)((uint32_t)a2 + (uint32_t)((int8_t)((f_ >> 16) & 0xFFu) * (hh)[1])); \
        a3 = (int32_t)((uint32_t)a3 + (uint32_t)((int8_t)(f_ >> 24) * (hh)[3]));           \
    } while (0)
#endif

#if KT_USE_DSP && defined(__GNUC__)
/* One tap in assembly: the group's filter word fw[T] (SXTB16 into lanes (0, 2) in place and (1, 3)
   beside it), the staged h pair at row pointer HR minus U pixels (one LDRD), four SMLAxy: the C
   tap KT_DWIG_TAP's products. */
#define KT_DWIG_ASM_TAP(HR, U, T)                 \
    "ldr %[f], [%[fw], #" #T "*4]\n\t"            \
    "ldrd %[ha], %[hb], [" HR ", #-" #U "*8]\n\t" \
    "sxtb16 %[f13], %[f], ror #8\n\t"             \
    "sxtb16 %[f], %[f]\n\t"                       \
    "smlabb %[a0], %[f], %[ha], %[a0]\n\t"        \
    "smlatt %[a2], %[f], %[ha], %[a2]\n\t"        \
    "smlabb %[a1], %[f13], %[hb], %[a1]\n\t"      \
    "smlatt %[a3], %[f13], %[hb], %[a3]\n\t"

/* The nine taps of an input pixel whose 3x3 window (stride and dilation 1) meets nine output
   pixels: rows r0, r1, r2 are the staged h at (o, o), (o - 1, o), (o - 2, o); tap (ky, kx) reads
   row ky minus kx pixels and filter word 3 ky + kx. Twelve registers, no spill (GCC 12 kept the
   C loop's tap lists and pointers on the stack). */
#define KT_DWIG_3X3_ASM(r0, r1, r2, fwp)                                                           \
    do {                                                                                           \
        uint32_t f_, f13_, ha_, hb_;                                                               \
        __asm__ volatile(KT_DWIG_ASM_TAP("%[q0]", 0, 0) KT_DWIG_ASM_TAP("%[q0]", 1, 1)             \
                             KT_DWIG_ASM_TAP("%[q0]", 2, 2) KT_DWIG_ASM_TAP("%[q1]", 0, 3)         \
                                 KT_DWIG_ASM_TAP("%[q1]", 1, 4) KT_DWIG_ASM_TAP("%[q1]", 2, 5)     \
                                     KT_DWIG_ASM_TAP("%[q2]", 0, 6) KT_DWIG_ASM_TAP("%[q2]", 1, 7) \
                                         KT_DWIG_ASM_TAP("%[q2]", 2, 8)                            \
                         : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3),             \
                           [f] "=&r"(f_), [f13] "=&r"(f13_), [ha] "=&r"(ha_), [hb] "=&r"(hb_)      \
                         : [q0] "r"(r0), [q1] "r"(r1), [q2] "r"(r2), [fw] "r"(fwp)                 \
                         : "memory");                                                              \
    } while (0)
#endif

/* The output stage of one input pixel's n <= 4 channels (the staged forms' sums a0..a3). */
static inline void kt_dwig_out4(const kt_scale_round_q *out, int32_t a0, int32_t a1, int32_t a2,
                                int32_t a3, int32_t n, int8_t *gx, kt_grad_stats *st)
{
    const int32_t a[4] = {a0, a1, a2, a3};
    int32_t j;
    for (j = 0; j < n; ++j) {
        gx[j] = kt_to_grad8(kt_scale_round_q_apply(out, a[j]), st);
    }
}

/* The output stage of one input pixel's n <= 4 channels: four in the short form as one packed store
   (kt_grad8_store4(), lane maxima in *lanes), else kt_dwig_out4(). */
static inline void kt_dwig_store(const kt_scale_round_q *out, int32_t a0, int32_t a1, int32_t a2,
                                 int32_t a3, int32_t n, int8_t *gx, uint32_t *lanes,
                                 kt_grad_stats *st)
{
    if (n == 4 && out->k != 0) {
        kt_grad8_store4(kt_scale_round_k(a0, out->m, out->c_hi, out->k),
                        kt_scale_round_k(a1, out->m, out->c_hi, out->k),
                        kt_scale_round_k(a2, out->m, out->c_hi, out->k),
                        kt_scale_round_k(a3, out->m, out->c_hi, out->k), gx, lanes, st);
    } else {
        kt_dwig_out4(out, a0, a1, a2, a3, n, gx, st);
    }
}

/* Stage channel h of n output pixels (grad_output bytes `ch` apart) into lane slots 4 int16 apart:
   kt_scale_round(g, m, sh) through its SMLAL short forms where they apply (0 for 0). */
static KT_NOINLINE void kt_dwig_stage_run(const int8_t *g, int32_t ch, int32_t n, int32_t m,
                                          int32_t sh, int16_t *hj)
{
    int32_t o;
    if (kt_scale_round_k_ok(m, sh)) {
        const int32_t k = -1 - sh, c_hi = (int32_t)(1u << (k - 1));
        for (o = 0; o < n; ++o, g += ch, hj += 4) {
            *hj = (int16_t)kt_scale_round_k(*g, m, c_hi, k); /* 0 for 0 */
        }
    } else if (m >= 0 && sh >= 0 && sh <= 30) { /* h fits int16: kt_h16_ok() */
        const int32_t r = 31 - sh;
        const uint32_t c_lo = 1u << (r - 1);
        for (o = 0; o < n; ++o, g += ch, hj += 4) {
            *hj = (int16_t)kt_scale_round_r(*g, m, c_lo, r);
        }
    } else {
        for (o = 0; o < n; ++o, g += ch, hj += 4) {
            *hj = (int16_t)(*g == 0 ? 0 : kt_scale_round(*g, m, sh));
        }
    }
}

/*
 * The staged path (depth multiplier 1, at most KT_DWIG_MAX_PX output pixels, filters up to
 * KT_DWIG_MAX_K x KT_DWIG_MAX_K, every h of every channel within int16: kt_h16_ok()): four
 * channels at a time, the group's h at every output pixel is computed once and staged in SXTB16 lane order (h0, h2, h1,
 * h3: the gather form computes it once per tap that reads it), the group's filter taps are
 * unpacked once, and each input pixel sums filter x h over the taps that read it, found once per
 * row and once per pixel (not tested per tap), the four accumulators in registers (SMLABB /
 * SMLATT on the DSP path). Same integers as the gather loop, in another order (int32 wraps
 * alike).
 */
static KT_NOINLINE void kt_dwig_staged(const kt_dw_conv_grad_params *p, int32_t out_shift,
                                       const kt_dims *gyd, const int8_t *grad_output,
                                       const kt_dims *fd, const int8_t *filter, const kt_dims *gxd,
                                       int8_t *grad_input, kt_grad_stats *stats)
{
    static const uint8_t lane[4] = {0, 2, 1, 3};
    int16_t hs[KT_DWIG_MAX_PX][4];              /* (h0, h2, h1, h3): words (h0, h2) and (h1, h3) */
    uint32_t fw[KT_DWIG_MAX_K * KT_DWIG_MAX_K]; /* the group's four filter bytes at each tap */
    int8_t kys[KT_DWIG_MAX_K], oys[KT_DWIG_MAX_K], kxs[KT_DWIG_MAX_K], oxs[KT_DWIG_MAX_K];
    const int32_t in_h = gxd->h, in_w = gxd->w, ch = gxd->c, out_h = gyd->h, out_w = gyd->w;
    const int32_t k_h = fd->h, k_w = fd->w, hr = p->headroom, out_px = out_h * out_w;
    const int run = p->stride.w == 1 && p->dilation.w == 1;
#if KT_USE_DSP && defined(__GNUC__)
    /* a 3x3 filter, stride and dilation 1: an interior input pixel's nine taps in assembly */
    const int s1_3x3 = run && k_h == 3 && k_w == 3 && p->stride.h == 1 && p->dilation.h == 1;
#endif
    const kt_scale_round_q out = kt_scale_round_q_make(p->x_multiplier, out_shift);
    kt_grad_stats st = *stats; /* a local copy: the int8 stores below could alias *stats */
    uint32_t lanes = 0;        /* kt_grad8_store4()'s lane maxima */
    int32_t b, c, o, iy, ix, t, u, j;
    for (b = 0; b < gxd->n; ++b) {
        const int8_t *gy_b = grad_output + (size_t)b * out_h * out_w * ch;
        int8_t *gx_b = grad_input + (size_t)b * in_h * in_w * ch;
        for (c = 0; c < ch; c += 4) {
            const int32_t n = ch - c < 4 ? ch - c : 4;
            for (j = 0; j < 4; ++j) { /* stage h, one channel at a time (its scale in registers) */
                int16_t *hj = &hs[0][lane[j]];
                if (j < n) {
                    kt_dwig_stage_run(gy_b + c + j, ch, out_px, p->chan.multiplier[c + j],
                                      p->chan.shift[c + j] + hr, hj);
                } else {
                    for (o = 0; o < out_px; ++o, hj += 4) {
                        *hj = 0;
                    }
                }
            }
            for (t = 0; t < k_h * k_w; ++t) {
                fw[t] = kt_dwig_fword(filter + (size_t)t * ch + c, n);
            }
            for (iy = 0; iy < in_h; ++iy) {
                const int32_t ny_row = kt_dwig_axis(iy, p->padding.h, k_h, p->dilation.h,
                                                    p->stride.h, out_h, kys, oys);
                for (ix = 0; ix < in_w; ++ix) {
                    const int32_t nx = kt_dwig_axis(ix, p->padding.w, k_w, p->dilation.w,
                                                    p->stride.w, out_w, kxs, oxs);
                    int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, ny = ny_row;
                    int8_t *gx = gx_b + ((size_t)iy * in_w + ix) * ch + c;
#if KT_USE_DSP && defined(__GNUC__)
                    if (s1_3x3 && ny == 3 && nx == 3) { /* all nine taps: oys, oxs = o, o-1, o-2 */
                        const int16_t(*h0)[4] = hs + oys[0] * out_w + oxs[0];
                        KT_DWIG_3X3_ASM(h0, h0 - out_w, h0 - 2 * out_w, fw);
                        ny = 0;
                    }
#endif
                    for (t = 0; t < ny; ++t) {
                        const uint32_t *fr = fw + kys[t] * k_w;
                        const int16_t(*hrow)[4] = hs + oys[t] * out_w;
                        if (run) { /* stride and dilation 1 across: a run of adjacent taps */
                            const uint32_t *f = fr + kxs[0];
                            const int16_t(*h)[4] = hrow + oxs[0];
                            for (u = 0; u < nx; ++u, ++f, --h) {
                                KT_DWIG_TAP(*f, *h);
                            }
                        } else {
                            for (u = 0; u < nx; ++u) {
                                KT_DWIG_TAP(fr[kxs[u]], hrow[oxs[u]]);
                            }
                        }
                    }
                    kt_dwig_store(&out, a0, a1, a2, a3, n, gx, &lanes, &st);
                }
            }
        }
    }
    kt_grad8_finish(lanes, grad_input, (size_t)gxd->n * in_h * in_w * ch, &st);
    *stats = st;
}

/*
 * 3x3 filters, stride and dilation 1 (depth multiplier 1, h within int16), small maps: the staged
 * h sits in a buffer with zero margins (mt rows above, ml columns left, ph x pw in all), so every
 * input pixel reads all nine taps -- those past the output's edge read zeros -- and no pixel needs
 * its taps found (on the DSP path all of them run the assembly taps). The same integers as the
 * staged path (the zero taps add nothing).
 */
static KT_NOINLINE void kt_dwig_3x3_padded(const kt_dw_conv_grad_params *p, int32_t out_shift,
                                           const kt_dims *gyd, const int8_t *grad_output,
                                           const int8_t *filter, const kt_dims *gxd,
                                           int8_t *grad_input, kt_grad_stats *stats, int32_t mt,
                                           int32_t ml, int32_t ph, int32_t pw)
{
    static const uint8_t lane[4] = {0, 2, 1, 3};
    int16_t hs[KT_DWIG_MAX_PAD_PX][4]; /* (h0, h2, h1, h3) at padded pixel (oy + mt, ox + ml) */
    uint32_t fw[9];
    const int32_t in_h = gxd->h, in_w = gxd->w, ch = gxd->c, out_h = gyd->h, out_w = gyd->w;
    const int32_t hr = p->headroom, row0 = p->padding.h + mt, col0 = p->padding.w + ml;
    const kt_scale_round_q out = kt_scale_round_q_make(p->x_multiplier, out_shift);
    kt_grad_stats st = *stats; /* a local copy: the int8 stores below could alias *stats */
    uint32_t lanes = 0;        /* kt_grad8_store4()'s lane maxima */
    int32_t b, c, oy, iy, ix, t, j;
    for (b = 0; b < gxd->n; ++b) {
        const int8_t *gy_b = grad_output + (size_t)b * out_h * out_w * ch;
        int8_t *gx = grad_input + (size_t)b * in_h * in_w * ch;
        for (c = 0; c < ch; c += 4) {
            const int32_t n = ch - c < 4 ? ch - c : 4;
            memset(hs, 0, sizeof hs[0] * (size_t)(ph * pw));
            for (j = 0; j < n; ++j) {
                const int32_t m = p->chan.multiplier[c + j], sh = p->chan.shift[c + j] + hr;
                for (oy = 0; oy < out_h; ++oy) {
                    kt_dwig_stage_run(gy_b + (size_t)oy * out_w * ch + c + j, ch, out_w, m, sh,
                                      &hs[(oy + mt) * pw + ml][lane[j]]);
                }
            }
            for (t = 0; t < 9; ++t) {
                fw[t] = kt_dwig_fword(filter + (size_t)t * ch + c, n);
            }
            for (iy = 0; iy < in_h; ++iy) {
                const int16_t(*h0)[4] = hs + (iy + row0) * pw + col0; /* tap (0, 0) */
                for (ix = 0; ix < in_w; ++ix, ++h0) {
                    int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
                    int8_t *g = gx + ((size_t)iy * in_w + ix) * ch + c;
#if KT_USE_DSP && defined(__GNUC__)
                    KT_DWIG_3X3_ASM(h0, h0 - pw, h0 - 2 * pw, fw);
#else
                    for (t = 0; t < 9; ++t) {
                        KT_DWIG_TAP(fw[t], h0[-(t / 3) * pw - t % 3]);
                    }
#endif
                    kt_dwig_store(&out, a0, a1, a2, a3, n, g, &lanes, &st);
                }
            }
        }
    }
    kt_grad8_finish(lanes, grad_input, (size_t)gxd->n * in_h * in_w * ch, &st);
    *stats = st;
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

    if (dm == 1 && filter_dims->h == 3 && filter_dims->w == 3 && p->stride.h == 1 &&
        p->stride.w == 1 && p->dilation.h == 1 && p->dilation.w == 1 &&
        kt_h16_ok(&p->chan, hr, out_c)) {
        /* the margins that put every tap of every input pixel inside the buffer */
        const int32_t mt = p->padding.h < 2 ? 2 - p->padding.h : 0;
        const int32_t ml = p->padding.w < 2 ? 2 - p->padding.w : 0;
        const int32_t ph = kt_max32(out_h + mt, grad_input_dims->h + p->padding.h + mt);
        const int32_t pw = kt_max32(out_w + ml, grad_input_dims->w + p->padding.w + ml);
        if (ph * pw <= KT_DWIG_MAX_PAD_PX) {
            kt_dwig_3x3_padded(p, out_shift, grad_output_dims, grad_output, filter, grad_input_dims,
                               grad_input, stats, mt, ml, ph, pw);
            return KT_OK;
        }
    }
    if (dm == 1 && out_h * out_w <= KT_DWIG_MAX_PX && filter_dims->h <= KT_DWIG_MAX_K &&
        filter_dims->w <= KT_DWIG_MAX_K && kt_h16_ok(&p->chan, hr, out_c)) {
        kt_dwig_staged(p, out_shift, grad_output_dims, grad_output, filter_dims, filter,
                       grad_input_dims, grad_input, stats);
    } else {
        kt_dwig_gather(p, out_shift, grad_output_dims, grad_output, filter_dims, filter,
                       grad_input_dims, grad_input, stats);
    }
    return KT_OK;
}
