/**
 * @file kt_grad_quant.h
 * @brief Kernel-internal fixed-point primitives of the integer backward pass (docs/numerics.md,
 *        "Fixed-point primitives (backward only)"), bit-exact twins of
 *        python/kilotrain/reference/grad_quant.py. Not part of the public API (include/).
 *
 * - kt_scale_round(): round(acc * m * 2^(shift - 31)) with one rounding in 64 bits, ties away
 *   from zero, saturated to int32;
 * - kt_shift_round(): x * 2^-n, rounded (n > 0, ties away from zero; n >= 31 gives 0) or a
 *   saturating left shift (n <= 0);
 * - kt_to_grad8(): saturate to [-127, 127], updating kt_grad_stats;
 * - kt_scale_round_sr(), kt_update_weight_q(): stochastic rounding of the int8 weight update
 *   (with kt_hash32() of kt_train_kernels.h).
 *
 * The public part (kt_grad_stats, kt_hash32(), kt_update_key(), the KT_GRAD_* ranges) is in
 * kt_train_kernels.h, which generated code includes.
 *
 * Integer only; int64 intermediates; signed right shifts are arithmetic (as in kt_requant.h).
 */
#ifndef KT_GRAD_QUANT_H
#define KT_GRAD_QUANT_H

#include <stdint.h>

#include "kt_requant.h"
#include "kt_train_kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Channels accumulated together on the stack by the blocked kernels (4 bytes each). */
#define KT_GRAD_BLOCK 32

/** @brief p * 2^k saturated to int32 (k >= 0), p any int64 of magnitude <= 2^62. */
static inline int32_t kt_sat_shl64(int64_t p, int64_t k)
{
    if (p == 0) {
        return 0;
    }
    if (k >= 32) {
        return p > 0 ? INT32_MAX : INT32_MIN;
    }
    if (p > ((int64_t)INT32_MAX >> k)) {
        return INT32_MAX;
    }
    if (p < ((int64_t)INT32_MIN >> k)) {
        return INT32_MIN;
    }
    return (int32_t)(p * ((int64_t)1 << k));
}

/** @brief p / 2^r rounded to nearest, ties away from zero, for r in [1, 62], |p| <= 2^62. */
static inline int64_t kt_round_shr64(int64_t p, int32_t r)
{
    return (p + ((int64_t)1 << (r - 1)) - (p < 0 ? 1 : 0)) >> r;
}

/**
 * @brief scale_round(acc, m, shift) = round(acc * m * 2^(shift - 31)), saturated to int32.
 *
 * p = (int64)acc * m (|p| <= 2^62); r = 31 - shift; r >= 63 gives 0; 0 < r < 63 gives
 * (p + 2^(r-1) - (p < 0)) >> r; r <= 0 gives p * 2^-r; saturates to int32.
 * @param acc   any int32
 * @param m     Q31 multiplier (any int32; QuantizeMultiplier gives [2^30, 2^31-1] or 0)
 * @param shift any int32 (compile-time shift plus run-time exponent differences)
 */
static inline int32_t kt_scale_round(int32_t acc, int32_t m, int32_t shift)
{
    const int64_t p = (int64_t)acc * (int64_t)m;
    const int64_t r = 31 - (int64_t)shift;
    if (r >= 33 && r <= 62) {
        /* the usual case (output stages, updates): 2^(r-1) only has a high word, and
           floor(q / 2^r) is the high word of q shifted by r - 32; |q| < 2^63, so no saturation */
        const int64_t q = p + (int64_t)((uint64_t)(1u << (r - 33)) << 32) - (p < 0 ? 1 : 0);
        return (int32_t)(q >> 32) >> (r - 32);
    }
    if (r >= 63) {
        return 0;
    }
    if (r > 0) {
        const int64_t v = kt_round_shr64(p, (int32_t)r);
        return v > INT32_MAX ? INT32_MAX : (v < INT32_MIN ? INT32_MIN : (int32_t)v);
    }
    return kt_sat_shl64(p, -r);
}

/**
 * @brief h of one output-gradient value of channel c (docs/numerics.md, input gradient):
 *        scale_round(g, m[c], shift[c] + hr), 0 for g == 0 without the multiply.
 */
static inline int32_t kt_grad_h(int32_t g, const kt_per_channel_quant *chan, int32_t c, int32_t hr)
{
    return g == 0 ? 0 : kt_scale_round(g, chan->multiplier[c], chan->shift[c] + hr);
}

/**
 * @brief 1 iff h = scale_round(gy, m[c], shift[c] + hr) fits int16 for every gy in [-128, 127] of
 *        every channel c < n (h is monotonic in gy: the two ends decide), so the input-gradient
 *        kernels may stage h in 16-bit lanes.
 */
static inline int kt_h16_ok(const kt_per_channel_quant *chan, int32_t hr, int32_t n)
{
    int32_t c;
    for (c = 0; c < n; ++c) {
        const int32_t a = kt_grad_h(-128, chan, c, hr), b = kt_grad_h(127, chan, c, hr);
        if (a < -32768 || a > 32767 || b < -32768 || b > 32767) {
            return 0;
        }
    }
    return 1;
}

/**
 * @brief shift_round(x, n) = x * 2^-n: n > 0 rounds to nearest, ties away from zero (n >= 31
 *        gives 0); n <= 0 is a left shift saturating to int32.
 * @param x any int32
 * @param n any int32
 */
static inline int32_t kt_shift_round(int32_t x, int32_t n)
{
    if (n >= 31) {
        return 0;
    }
    if (n > 0) {
        return (int32_t)kt_round_shr64((int64_t)x, n);
    }
    return kt_sat_shl64((int64_t)x, -(int64_t)n);
}

/** @brief Reset gradient statistics (before a kernel writes a gradient tensor). */
static inline void kt_grad_stats_reset(kt_grad_stats *s)
{
    s->saturated = 0;
    s->amax = 0;
}

/**
 * @brief to_grad8: saturate v to [-127, 127] (-128 is never produced); counts a clamped value
 *        in s->saturated and raises s->amax to |result|.
 */
static inline int8_t kt_to_grad8(int64_t v, kt_grad_stats *s)
{
    int32_t g;
    if (v > 127) {
        g = 127;
        s->saturated++;
    } else if (v < -127) {
        g = -127;
        s->saturated++;
    } else {
        g = (int32_t)v;
    }
    if ((g < 0 ? -g : g) > s->amax) {
        s->amax = g < 0 ? -g : g;
    }
    return (int8_t)g;
}

/** @brief Updated weight: clamp(w - scale_round(acc, m, shift), -127, 127). */
static inline int8_t kt_update_weight(int8_t w, int32_t acc, int32_t m, int32_t shift)
{
    const int64_t v = (int64_t)w - kt_scale_round(acc, m, shift);
    return (int8_t)(v > 127 ? 127 : (v < -127 ? -127 : v));
}

/**
 * @brief kt_scale_round(acc, m, shift) for m >= 0 and shift in [-31, -2] (r = 31 - shift in
 *        [33, 62]), given k = r - 32 = -1 - shift and c_hi = 2^(k-1): one SMLAL on the DSP path.
 *
 * The value is floor(q / 2^r), q = p + 2^(r-1) - [p < 0], p = acc * m: the high word of q shifted
 * right by k. 2^(r-1) is c_hi in the high word, and -[p < 0] is s = acc >> 31 in both words (-1 or
 * 0): with m >= 0 the sign of p is the sign of acc except when m == 0, where q's high word is c_hi
 * or c_hi - 1 and either shifted by k is 0, the exact result.
 */
static inline int32_t kt_scale_round_k(int32_t acc, int32_t m, int32_t c_hi, int32_t k)
{
    const int32_t s = acc >> 31;
    uint32_t lo = (uint32_t)s;
    int32_t hi = c_hi + s;
    kt_smlal(&lo, &hi, acc, m);
    return hi >> k;
}

/**
 * @brief kt_scale_round(acc, m, shift) for m >= 0 and shift in [0, 30] (r = 31 - shift in [1, 31])
 *        when the caller knows the result lies within int32 (no saturation), given c_lo =
 *        2^(r-1): one SMLAL and a funnel shift on the DSP path.
 *
 * q = p + 2^(r-1) - [p < 0] starts from the low word c_lo + s (s = acc >> 31, read as -[p < 0] as
 * in kt_scale_round_k(); c_lo + s never borrows from the high word, which starts at 0); the value
 * is q >> r, whose low 32 bits are (hi << (32 - r)) | (lo >> r) and are all of it when it fits.
 */
static inline int32_t kt_scale_round_r(int32_t acc, int32_t m, uint32_t c_lo, int32_t r)
{
    uint32_t lo = c_lo + (uint32_t)(acc >> 31);
    int32_t hi = 0;
    kt_smlal(&lo, &hi, acc, m);
    return (int32_t)(((uint32_t)hi << (32 - r)) | (lo >> r));
}

/** Whether kt_scale_round_k() applies to (m, shift). */
static inline int kt_scale_round_k_ok(int32_t m, int32_t shift)
{
    return m >= 0 && shift >= -31 && shift <= -2;
}

/**
 * @brief kt_scale_round(a, m, shift) for many values of one layer (an input gradient's output
 *        stage), with kt_scale_round_k()'s short form chosen once (kt_scale_round_q_make()).
 */
typedef struct {
    int32_t m, shift;
    int32_t k;    /* -1 - shift when kt_scale_round_k() applies, else 0 */
    int32_t c_hi; /* 2^(k-1) */
} kt_scale_round_q;

static inline kt_scale_round_q kt_scale_round_q_make(int32_t m, int32_t shift)
{
    kt_scale_round_q q;
    q.m = m;
    q.shift = shift;
    q.k = kt_scale_round_k_ok(m, shift) ? -1 - shift : 0;
    q.c_hi = q.k != 0 ? (int32_t)(1u << (q.k - 1)) : 0;
    return q;
}

static inline int32_t kt_scale_round_q_apply(const kt_scale_round_q *q, int32_t a)
{
    return q->k != 0 ? kt_scale_round_k(a, q->m, q->c_hi, q->k) : kt_scale_round(a, q->m, q->shift);
}

/** kt_grad_h() kept out of line (the general form's 64-bit code once, not at every use). */
#if defined(__GNUC__)
__attribute__((noinline, unused))
#endif
static int32_t
kt_grad_h_general(int32_t g, const kt_per_channel_quant *chan, int32_t c, int32_t hr)
{
    return kt_grad_h(g, chan, c, hr);
}

/**
 * @brief kt_grad_h() for a layer whose h all fit int16 (kt_h16_ok(), so no saturation): with
 *        m >= 0 and r = 31 - shift[c] - hr in [1, 31] (the usual case) or [33, 62] the value
 *        takes one SMLAL (kt_scale_round_r() / kt_scale_round_k()), else kt_grad_h()'s general
 *        form. The same integers.
 */
static inline int32_t kt_grad_h16(int32_t g, const kt_per_channel_quant *chan, int32_t c,
                                  int32_t hr)
{
    const int32_t m = chan->multiplier[c], r = 31 - chan->shift[c] - hr;
    if (g == 0) {
        return 0;
    }
    if (m >= 0 && r >= 1 && r <= 31) {
        return kt_scale_round_r(g, m, 1u << (r - 1), r);
    }
    if (m >= 0 && r >= 33 && r <= 62) {
        return kt_scale_round_k(g, m, (int32_t)(1u << (r - 33)), r - 32);
    }
    return kt_grad_h_general(g, chan, c, hr);
}

/**
 * @brief Stochastic scale_round: floor(acc * m * 2^(shift - 31) + u * 2^-32), saturated to int32.
 *
 * p = (int64)acc * m; r = 31 - shift; r <= 0: p * 2^-r (saturating, as kt_scale_round);
 * 0 < r <= 32: (p + (u >> (32 - r))) >> r; r > 32: ((p >> (r - 32)) + u) >> 32 (equal to
 * (p + u * 2^(r - 32)) >> r, without overflow). Arithmetic shifts (floor).
 */
static inline int32_t kt_scale_round_sr(int32_t acc, int32_t m, int32_t shift, uint32_t u)
{
    const int64_t p = (int64_t)acc * (int64_t)m;
    const int64_t r = 31 - (int64_t)shift;
    int64_t v;
    if (r >= 33 && r <= 62) {
        /* the usual case (a learning rate well below 1): (p >> k) + u, k = r - 32 in [1, 30], has
           the high word (hi >> k) plus the carry out of its low word, ((lo >> k) | (hi << (32 - k)))
           + u; |hi| <= 2^30, so no saturation */
        const int32_t k = (int32_t)r - 32, hi = (int32_t)(p >> 32);
        const uint32_t nlo = ((uint32_t)p >> k) | ((uint32_t)hi << (32 - k)), sum = nlo + u;
        return (hi >> k) + (sum < nlo ? 1 : 0);
    }
    if (r <= 0) {
        return kt_sat_shl64(p, -r);
    }
    if (r <= 32) {
        v = (p + (int64_t)(u >> (32 - r))) >> r;
    } else {
        v = ((p >> (r - 32 > 63 ? 63 : r - 32)) + (int64_t)u) >> 32;
    }
    return v > INT32_MAX ? INT32_MAX : (v < INT32_MIN ? INT32_MIN : (int32_t)v);
}

/**
 * @brief kt_scale_round_sr(acc, m, shift, u) for shift in [-31, -2] (r = 31 - shift in [33, 62])
 *        given k = r - 32 = -1 - shift in [1, 30]: kt_scale_round_sr()'s usual case with the range
 *        test done once by the caller (per layer or channel), not per value.
 */
static inline int32_t kt_scale_round_sr_k(int32_t acc, int32_t m, int32_t k, uint32_t u)
{
    const int64_t p = (int64_t)acc * (int64_t)m;
    const int32_t hi = (int32_t)(p >> 32);
    const uint32_t nlo = ((uint32_t)p >> k) | ((uint32_t)hi << (32 - k)), sum = nlo + u;
    return (hi >> k) + (sum < nlo ? 1 : 0);
}

/**
 * @brief kt_update_weight_q() with the stochastic short form chosen once per channel: k =
 *        -1 - shift when the update is stochastic and shift is in [-31, -2], else 0 (the general
 *        form).
 */
static inline int32_t kt_update_sr_k(int32_t stochastic, int32_t shift)
{
    return stochastic && shift >= -31 && shift <= -2 ? -1 - shift : 0;
}

/**
 * @brief Updated weight with the contract's rounding: stochastic (u = hash32(key ^ index)) if
 *        stochastic != 0, else kt_update_weight(). index = the element's flat index in the
 *        layer's weight tensor.
 */
static inline int8_t kt_update_weight_q(int8_t w, int32_t acc, int32_t m, int32_t shift,
                                        int32_t stochastic, uint32_t key, uint32_t index)
{
    int64_t v;
    if (!stochastic) {
        return kt_update_weight(w, acc, m, shift);
    }

    v = (int64_t)w - kt_scale_round_sr(acc, m, shift, kt_hash32(key ^ index));
    return (int8_t)(v > 127 ? 127 : (v < -127 ? -127 : v));
}

/** kt_update_weight_q() given kt_update_sr_k(stochastic, shift) = k (the same value). */
static inline int8_t kt_update_weight_k(int8_t w, int32_t acc, int32_t m, int32_t shift, int32_t k,
                                        int32_t stochastic, uint32_t key, uint32_t index)
{
    if (k != 0) {
        const int32_t v = (int32_t)w - kt_scale_round_sr_k(acc, m, k, kt_hash32(key ^ index));
        return (int8_t)(v > 127 ? 127 : (v < -127 ? -127 : v));
    }
    return kt_update_weight_q(w, acc, m, shift, stochastic, key, index);
}

/** @brief Updated bias: sat32(b - scale_round(acc, m, shift)). */
static inline int32_t kt_update_bias(int32_t b, int32_t acc, int32_t m, int32_t shift)
{
    const int64_t v = (int64_t)b - kt_scale_round(acc, m, shift);
    return v > INT32_MAX ? INT32_MAX : (v < INT32_MIN ? INT32_MIN : (int32_t)v);
}

#ifdef __cplusplus
}
#endif

#endif /* KT_GRAD_QUANT_H */
