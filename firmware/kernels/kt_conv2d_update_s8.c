/**
 * @file kt_conv2d_update_s8.c
 * @brief CONV_2D fused QAS update, in place (golden conv2d_update.py).
 *
 * The weight gradient is never stored: for each updated channel co, tap (ky, kx) and block of
 * KT_GRAD_BLOCK input channels, acc[ci] = sum over output pixels of gy[.., co] * (x[.., ci] - zx)
 * is accumulated on the stack (zero gradients skipped, taps in the padding skipped) and applied
 * to the weights at once.
 */
#include "kt_train_kernels.h"
#include "internal/kt_check.h"
#include "internal/kt_dot.h"
#include "internal/kt_grad_quant.h"

#if !KT_HOST_SIMD
#if KT_USE_DSP
/* One pixel's gradient gv times four inputs (the word w, minus the zero point through SXTAB16 with
   off2 = (-zx, -zx)) into the sums a0..a3 of four input channels: SMLABB / SMLABT. */
#define KT_UPD_MAC4(gv, w)                                                             \
    do {                                                                               \
        const uint32_t x02_ = __sxtab16(off2, (w)), x13_ = kt_sxtab16_ror8(off2, (w)); \
        a0 = __smlabb((gv), (int32_t)x02_, a0);                                        \
        a2 = __smlabt((gv), (int32_t)x02_, a2);                                        \
        a1 = __smlabb((gv), (int32_t)x13_, a1);                                        \
        a3 = __smlabt((gv), (int32_t)x13_, a3);                                        \
    } while (0)

/* The updates of four consecutive weights f[0..3] from their sums (hash indices index0..+3). */
static inline void kt_update_weights4(const kt_update_params *p, int8_t *f, int32_t a0, int32_t a1,
                                      int32_t a2, int32_t a3, int32_t m, int32_t sh, int32_t k,
                                      uint32_t key, uint32_t index0)
{
    const int32_t a[4] = {a0, a1, a2, a3};
    int32_t j;
    for (j = 0; j < 4; ++j) {
        f[j] = kt_update_weight_k(f[j], a[j], m, sh, k, p->stochastic, key, index0 + (uint32_t)j);
    }
}

/** Pixels whose nonzero gradients of one channel kt_update_pointwise() lists once on the stack
    (4 bytes each), then reuses for every group of input channels. */
#define KT_UPD_LIST 64

/* The weights of channel co for layers of at most KT_UPD_LIST pixels: the pixels with g != 0 are
   listed once (entry = the pixel's input offset << 8 | g as a byte), then every group of four input
   channels sums over the list with no test per pixel (the portable loop's zero skip, done once
   instead of once per group). Same sums, same updates (kt_update_weight_k(), the same hash
   indices). Returns the input channels done (a multiple of 4). */
static KT_NOINLINE int32_t kt_update_pointwise_listed(const kt_update_params *p, const int8_t *x,
                                                      const int8_t *gy, int32_t pixels,
                                                      int32_t in_c, int32_t out_c, int32_t co,
                                                      int8_t *f, int32_t m, int32_t sh, int32_t k,
                                                      uint32_t key, uint32_t base)
{
    uint32_t list[KT_UPD_LIST];
    const uint32_t off2 = kt_pack16(-p->input_zero_point, -p->input_zero_point);
    int32_t n = 0, i, c;
    for (i = 0; i < pixels; ++i) {
        const int32_t g = gy[(size_t)i * out_c + co];
        list[n] = ((uint32_t)i * (uint32_t)in_c) << 8 | (uint8_t)g;
        n += g != 0;
    }
    for (c = 0; c + 4 <= in_c; c += 4) {
        const int8_t *xc = x + c;
        int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
        for (i = 0; i < n; ++i) {
            const uint32_t e = list[i];
            const int32_t gv = (int8_t)(e & 0xFFu);
            uint32_t w;
            memcpy(&w, xc + (e >> 8), 4);
            KT_UPD_MAC4(gv, w);
        }
        kt_update_weights4(p, f + c, a0, a1, a2, a3, m, sh, k, key, base + (uint32_t)c);
    }
    return c;
}
#endif

/*
 * The pointwise path (1x1 filter, stride 1, no padding: output pixel i reads input pixel i): per
 * updated channel and group of four input channels the four sums over the pixels stay in
 * registers (the blocked loop keeps them in a stack array), zero gradients skipped. On the DSP
 * path one input word gives four (x - zx) through SXTAB16 and the gradient multiplies them with
 * SMLABB / SMLABT. Same integer sums, same update of each weight (kt_update_weight_q(), the hash
 * index of the weight in the layer) as the blocked loop.
 */
static KT_NOINLINE void kt_update_pointwise(const kt_update_params *p, int32_t e_gy, uint32_t key,
                                            const int8_t *x, const int8_t *gy, int32_t pixels,
                                            int32_t in_c, int32_t out_c, int8_t *filter)
{
    const int32_t zx = p->input_zero_point;
    int32_t co, c, i;
    for (co = 0; co < p->n_weight_channels; ++co) {
        int8_t *f = filter + (size_t)co * in_c;
        const int32_t m = p->weight.multiplier[co], sh = p->weight.shift[co] + e_gy;
        const int32_t k = kt_update_sr_k(p->stochastic, sh);
        const uint32_t base = (uint32_t)((size_t)co * in_c);
        c = 0;
#if KT_USE_DSP
        if (pixels <= KT_UPD_LIST) {
            c = kt_update_pointwise_listed(p, x, gy, pixels, in_c, out_c, co, f, m, sh, k, key,
                                           base);
        } else {
            const uint32_t off2 = kt_pack16(-zx, -zx);
            for (; c + 4 <= in_c; c += 4) {
                const int8_t *xp = x + c, *g = gy + co;
                int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
                for (i = 0; i < pixels; ++i, xp += in_c, g += out_c) {
                    const int32_t gv = *g;
                    uint32_t w;
                    if (gv == 0) {
                        continue;
                    }
                    memcpy(&w, xp, 4);
                    KT_UPD_MAC4(gv, w);
                }
                kt_update_weights4(p, f + c, a0, a1, a2, a3, m, sh, k, key, base + (uint32_t)c);
            }
        }
#endif
        for (; c < in_c; ++c) {
            const int8_t *xp = x + c, *g = gy + co;
            uint32_t a = 0;
            for (i = 0; i < pixels; ++i, xp += in_c, g += out_c) {
                a += (uint32_t)((int32_t)*g * ((int32_t)*xp - zx));
            }
            f[c] = kt_update_weight_k(f[c], (int32_t)a, m, sh, k, p->stochastic, key,
                                      base + (uint32_t)c);
        }
    }
}
#endif

#if KT_HOST_SIMD
/* The host path's tile: input channels summed together (one lane each). */
#define KT_UPD_HOST_CI 32

/* The sums of one updated channel co for a tile of w (8 or 32, a constant at each call) input
   channels from c0: over the pixels with g != 0, g (x[c0 + j] - zx) across the tile (one lane per
   input channel), wrapping modulo 2^32 like the portable loop's sums: the same integers. */
static inline void kt_update_host_tile(const int8_t *x, const int8_t *gy, int32_t pixels,
                                       int32_t in_c, int32_t out_c, int32_t co, int32_t c0,
                                       int32_t w, int32_t zx, uint32_t *a)
{
    uint32_t acc[KT_UPD_HOST_CI] = {0};
    int32_t i, j;
    for (i = 0; i < pixels; ++i) {
        const int32_t g = gy[(size_t)i * out_c + co];
        const int8_t *xp = x + (size_t)i * in_c + c0;
        if (g == 0) {
            continue;
        }
        for (j = 0; j < w; ++j) {
            acc[j] += (uint32_t)(g * ((int32_t)xp[j] - zx));
        }
    }
    for (j = 0; j < w; ++j) {
        a[j] = acc[j];
    }
}

/* Host path of the pointwise update: tiles of 32 and 8 input channels, then the portable tail;
   each weight's update as the portable loop's (kt_update_weight_k(), the same hash index). */
static KT_NOINLINE void kt_update_pointwise_host(const kt_update_params *p, int32_t e_gy,
                                                 uint32_t key, const int8_t *x, const int8_t *gy,
                                                 int32_t pixels, int32_t in_c, int32_t out_c,
                                                 int8_t *filter)
{
    const int32_t zx = p->input_zero_point;
    uint32_t a[KT_UPD_HOST_CI];
    int32_t co, c, i, j;
    for (co = 0; co < p->n_weight_channels; ++co) {
        int8_t *f = filter + (size_t)co * in_c;
        const int32_t m = p->weight.multiplier[co], sh = p->weight.shift[co] + e_gy;
        const int32_t k = kt_update_sr_k(p->stochastic, sh);
        const uint32_t base = (uint32_t)((size_t)co * in_c);
        for (c = 0; c < in_c;) {
            int32_t w = 1;
            if (c + KT_UPD_HOST_CI <= in_c) {
                w = KT_UPD_HOST_CI;
                kt_update_host_tile(x, gy, pixels, in_c, out_c, co, c, KT_UPD_HOST_CI, zx, a);
            } else if (c + 8 <= in_c) {
                w = 8;
                kt_update_host_tile(x, gy, pixels, in_c, out_c, co, c, 8, zx, a);
            } else {
                a[0] = 0;
                for (i = 0; i < pixels; ++i) {
                    a[0] += (uint32_t)((int32_t)gy[(size_t)i * out_c + co] *
                                       ((int32_t)x[(size_t)i * in_c + c] - zx));
                }
            }
            for (j = 0; j < w; ++j, ++c) {
                f[c] = kt_update_weight_k(f[c], (int32_t)a[j], m, sh, k, p->stochastic, key,
                                          base + (uint32_t)c);
            }
        }
    }
}
#endif

kt_status kt_conv2d_update_s8(const kt_update_params *p, int32_t e_gy, uint32_t key,
                              const kt_dims *input_dims, const int8_t *input,
                              const kt_dims *grad_output_dims, const int8_t *grad_output,
                              const kt_dims *filter_dims, int8_t *filter, int32_t *bias)
{
    int32_t acc[KT_GRAD_BLOCK];
    int32_t b, oy, ox, ky, kx, co, j, ci0;
    int32_t in_h, in_w, in_c, k_h, k_w, out_h, out_w, out_c, nw, zx;

    if (!kt_check_update_ptrs(p) || !kt_check_tensor_ptrs(input_dims, input, grad_output_dims,
                                                          grad_output, filter_dims, filter)) {
        return KT_ARG_ERROR;
    }
    in_h = input_dims->h;
    in_w = input_dims->w;
    in_c = input_dims->c;
    k_h = filter_dims->h;
    k_w = filter_dims->w;
    out_h = grad_output_dims->h;
    out_w = grad_output_dims->w;
    out_c = grad_output_dims->c;
    nw = p->n_weight_channels;
    zx = p->input_zero_point;
    if (!kt_check_conv_dims(input_dims, filter_dims, grad_output_dims) ||
        !kt_check_geometry(&p->stride, &p->padding, &p->dilation) || !kt_check_exponent(e_gy) ||
        !kt_check_update_params(p, out_c)) {
        return KT_ARG_ERROR;
    }

    if (k_h == 1 && k_w == 1 && p->stride.h == 1 && p->stride.w == 1 && p->padding.h == 0 &&
        p->padding.w == 0) {
#if KT_HOST_SIMD
        kt_update_pointwise_host(p, e_gy, key, input, grad_output, input_dims->n * out_h * out_w,
                                 in_c, out_c, filter);
#else
        kt_update_pointwise(p, e_gy, key, input, grad_output, input_dims->n * out_h * out_w, in_c,
                            out_c, filter);
#endif
        nw = 0; /* the weights are done; the biases below */
    }
    for (co = 0; co < nw; ++co) {
        for (ky = 0; ky < k_h; ++ky) {
            for (kx = 0; kx < k_w; ++kx) {
                int8_t *f = filter + (((size_t)co * k_h + ky) * k_w + kx) * in_c;
                for (ci0 = 0; ci0 < in_c; ci0 += KT_GRAD_BLOCK) {
                    const int32_t nb = in_c - ci0 < KT_GRAD_BLOCK ? in_c - ci0 : KT_GRAD_BLOCK;
                    for (j = 0; j < nb; ++j) {
                        acc[j] = 0;
                    }
                    for (b = 0; b < input_dims->n; ++b) {
                        for (oy = 0; oy < out_h; ++oy) {
                            const int32_t iy = oy * p->stride.h - p->padding.h + ky * p->dilation.h;
                            const int8_t *gy_row;
                            if (iy < 0 || iy >= in_h) {
                                continue;
                            }
                            gy_row = grad_output + ((size_t)b * out_h + oy) * out_w * out_c + co;
                            for (ox = 0; ox < out_w; ++ox) {
                                const int32_t ix =
                                    ox * p->stride.w - p->padding.w + kx * p->dilation.w;
                                const int32_t g = gy_row[(size_t)ox * out_c];
                                const int8_t *x;
                                if (g == 0 || ix < 0 || ix >= in_w) {
                                    continue;
                                }
                                x = input + (((size_t)b * in_h + iy) * in_w + ix) * in_c + ci0;
                                for (j = 0; j < nb; ++j) {
                                    acc[j] += g * ((int32_t)x[j] - zx);
                                }
                            }
                        }
                    }
                    for (j = 0; j < nb; ++j) {
                        f[ci0 + j] = kt_update_weight_q(
                            f[ci0 + j], acc[j], p->weight.multiplier[co],
                            p->weight.shift[co] + e_gy, p->stochastic, key,
                            (uint32_t)((size_t)(f - filter) + (size_t)(ci0 + j)));
                    }
                }
            }
        }
    }
    if (bias != NULL) {
        const int32_t pixels = input_dims->n * out_h * out_w;
        for (co = 0; co < out_c; ++co) {
            int32_t s = 0, i;
            for (i = 0; i < pixels; ++i) {
                s += grad_output[(size_t)i * out_c + co];
            }
            bias[co] =
                kt_update_bias(bias[co], s, p->bias.multiplier[co], p->bias.shift[co] + e_gy);
        }
    }
    return KT_OK;
}
