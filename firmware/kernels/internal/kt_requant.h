/**
 * @file kt_requant.h
 * @brief Integer requantization helpers with TFLite Micro's reference rounding (bit-exact).
 *
 * These are the gemmlowp primitives TFLM's reference kernels are built on, in plain C99:
 * - kt_srdhm():    SaturatingRoundingDoublingHighMul
 * - kt_rdbpot():   RoundingDivideByPOT (round half away from zero)
 * - kt_requantize(): MultiplyByQuantizedMultiplier with TFLM's default ("double") rounding:
 *                  rdbpot(srdhm(x * 2^left, multiplier), right)
 *
 * Everything is integer; no floats. Signed right shifts are assumed arithmetic (true for GCC,
 * Clang and armcc on every target kilotrain supports), as in CMSIS-NN.
 */
#ifndef KT_REQUANT_H
#define KT_REQUANT_H

#include <stdint.h>

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
#include <arm_acle.h>
#endif

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @brief Saturating rounding doubling high multiply: round(a * b / 2^31), saturated.
 *
 * The only overflowing case, a == b == INT32_MIN, returns INT32_MAX. gemmlowp / TFLM add a
 * nudge of +2^30 to a non-negative product and 1 - 2^30 to a negative one, then divide by 2^31
 * truncating toward zero. Both cases equal floor((ab + 2^30) / 2^31): for ab < 0 the sum
 * y = ab + 1 - 2^30 is negative, and trunc(y / 2^31) = ceil(y / 2^31) = floor((y + 2^31 - 1) / 2^31)
 * = floor((ab + 2^30) / 2^31). So the product, one add and an arithmetic shift (SMULL, ADDS/ADC,
 * two shifts on a Cortex-M) give TFLM's result exactly, without a branch or a 64-bit divide.
 */
static inline int32_t kt_srdhm(int32_t a, int32_t b)
{
    if (a == INT32_MIN && b == INT32_MIN) {
        return INT32_MAX;
    }
    return (int32_t)(((int64_t)a * (int64_t)b + ((int64_t)1 << 30)) >> 31);
}

/**
 * @brief Rounding arithmetic right shift: x / 2^exponent rounded half away from zero.
 * @param exponent [0, 31]
 */
static inline int32_t kt_rdbpot(int32_t x, int32_t exponent)
{
    const int32_t mask = (int32_t)(((int64_t)1 << exponent) - 1);
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/**
 * @brief x * 2^left wrapping like a two's-complement int32 multiply (what TFLM's
 *        `x * (1 << left_shift)` does on every real target), without signed-overflow UB.
 * @param left [0, 31]
 */
static inline int32_t kt_shl_wrap(int32_t x, int32_t left)
{
    return (int32_t)((uint32_t)x << left);
}

/**
 * @brief Requantize an int32 accumulator: TFLM's MultiplyByQuantizedMultiplier.
 *
 * Real multiplier = multiplier * 2^(shift - 31).
 * @param acc        int32 accumulator
 * @param multiplier Q31 multiplier, [2^30, 2^31 - 1] or 0
 * @param shift      [-31, 30]; > 0 shifts left before the high multiply, < 0 rounds right after it
 */
static inline int32_t kt_requantize(int32_t acc, int32_t multiplier, int32_t shift)
{
    const int32_t left = shift > 0 ? shift : 0;
    const int32_t right = shift > 0 ? 0 : -shift;
    return kt_rdbpot(kt_srdhm(kt_shl_wrap(acc, left), multiplier), right);
}

/** @brief Clamp an int32 to [lo, hi]. */
static inline int32_t kt_clamp(int32_t v, int32_t lo, int32_t hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

/**
 * @brief The common output stage of conv / depthwise / FC: requantize, add the output offset and
 *        clamp to [act_min, act_max].
 *
 * The requantized value is first limited to [-256, 255]: the result is the same as adding the
 * offset in exact (wide) arithmetic, and the int32 add can never overflow. (TFLM adds in int32;
 * it only differs in the signed-overflow corner of absurd multipliers, where TFLM is undefined.)
 * @param output_offset [-128, 127]
 * @param act_min       [-128, 127], <= act_max
 */
static inline int8_t kt_requantize_s8(int32_t acc, int32_t multiplier, int32_t shift,
                                      int32_t output_offset, int32_t act_min, int32_t act_max)
{
    const int32_t v = kt_clamp(kt_requantize(acc, multiplier, shift), -256, 255) + output_offset;
    return (int8_t)kt_clamp(v, act_min, act_max);
}

/**
 * @brief One output channel's output stage with everything that depends only on the channel
 *        worked out once (kt_rq_make()), for loops that requantize many pixels of one channel:
 *        kt_rq_apply() returns exactly kt_requantize_s8()'s value.
 */
typedef struct {
    int32_t multiplier;
    int32_t left;  /* shift > 0: left shift before the high multiply */
    int32_t right; /* shift <= 0: rounding right shift after it */
    int32_t c_hi;  /* the short form's rounding constant, high word: 2^(right - 2) */
    int32_t sh;    /* the short form's final shift: right - 1 */
    int32_t lo;    /* act_min - output_offset */
    int32_t hi;    /* act_max - output_offset */
    int32_t output_offset;
    int32_t fast; /* left == 0, right in [2, 31], multiplier >= 0: kt_rq_apply()'s short form */
    int32_t full; /* act_min == -128 and act_max == 127: the clamp is a saturation (kt_rq_sat8()) */
} kt_rq;

/** Whether a channel's output stage takes the short form (kt_rq_core(); below): no left shift, a
    right shift of at least 2 and a multiplier >= 0. */
static inline int kt_rq_short_ok(int32_t multiplier, int32_t shift)
{
    return shift <= -2 && multiplier >= 0;
}

static inline kt_rq kt_rq_make(int32_t multiplier, int32_t shift, int32_t output_offset,
                               int32_t act_min, int32_t act_max)
{
    kt_rq q;
    q.multiplier = multiplier;
    q.left = shift > 0 ? shift : 0;
    q.right = shift > 0 ? 0 : -shift;
    q.fast = kt_rq_short_ok(multiplier, shift);
    q.c_hi = q.fast ? (int32_t)(1u << (q.right - 2)) : 0;
    q.sh = q.fast ? q.right - 1 : 0;
    q.lo = act_min - output_offset;
    q.hi = act_max - output_offset;
    q.output_offset = output_offset;
    q.full = act_min == -128 && act_max == 127;
    return q;
}

/**
 * @brief clamp(r + off, -128, 127) for |r| < 2^30 (a short-form value: a high word shifted right
 *        by at least 1) and off in [-128, 127]: SSAT on the DSP path. With q->full this is the
 *        output stage's clamp and offset (kt_rq_out()).
 */
static inline int8_t kt_rq_sat8(int32_t r, int32_t off)
{
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
    return (int8_t)__ssat(r + off, 8);
#else
    return (int8_t)kt_clamp(r + off, -128, 127);
#endif
}

/**
 * @brief (hi:lo) += a * b, the 64-bit signed multiply-accumulate of the short forms (one SMLAL on
 *        a core with the DSP extension; int64 arithmetic elsewhere, the same value).
 */
static inline void kt_smlal(uint32_t *lo, int32_t *hi, int32_t a, int32_t b)
{
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && defined(__GNUC__)
    __asm__("smlal %0, %1, %2, %3" : "+r"(*lo), "+r"(*hi) : "r"(a), "r"(b));
#else
    const int64_t t = (int64_t)(((uint64_t)(uint32_t)*hi << 32) | *lo) + (int64_t)a * b;
    *lo = (uint32_t)t;
    *hi = (int32_t)(t >> 32);
#endif
}

/*
 * kt_requantize_s8(acc) = clamp(clamp(r, -256, 255) + off, act_min, act_max) with r the
 * requantized value. As act_min >= -128 > off - 256 and act_max <= 127 <= off + 255 for any off in
 * [-128, 127], the inner clamp never binds where the outer one does not: the result is
 * clamp(r + off, act_min, act_max) = clamp(r, act_min - off, act_max - off) + off, computed here
 * without the int32 add that could overflow.
 *
 * The short form (q->fast: left 0, n = right >= 2, m = multiplier >= 0), one 64-bit multiply-add.
 * With m >= 0 the high multiply cannot saturate, so it is x = floor(A / 2^31), A = acc * m + 2^30
 * (kt_srdhm()). RoundingDivideByPOT(x, n) rounds half away from zero:
 * floor((x + 2^(n-1) - [x < 0]) / 2^n) (for x >= 0 the remainder test "> 2^(n-1) - 1" is
 * "x mod 2^n >= 2^(n-1)", for x < 0 "> 2^(n-1)" is "x mod 2^n + 2^(n-1) - 1 >= 2^n"). Nested
 * floors of divisions by positive integers merge, so r = floor(T / 2^(31+n)) with
 * T = acc * m + 2^30 + 2^(n+30) - [x < 0] 2^31, exact in int64 (|T| < 2^63), no saturation.
 * [x < 0] may be read as s = [acc < 0]: they differ only when acc < 0 and A >= 0, i.e.
 * -2^30 <= acc * m < 0, where x = 0 and r = floor((2^(n-1) - s) / 2^n) = 0 for either s (n >= 1).
 * For n >= 2 the constant splits into words as 2^(n-2) 2^32 + 2^30, and subtracting s 2^31 gives
 * the high word 2^(n-2) - s and the low word 2^30 + s 2^31 (no borrow across): one SMLAL from
 * there, and r is the high word shifted right by n - 1 (floor(T / 2^32) / 2^(n-1), floored).
 * Other shifts take the reference form.
 */
/**
 * @brief The short form's core: floor(T / 2^32) >> sh with T = acc * m + 2^30 + 2^(sh+31)
 *        - [acc < 0] 2^31 (above); c_hi = 2^(sh-1), sh = right - 1 >= 1.
 */
static inline int32_t kt_rq_core(int32_t acc, int32_t m, int32_t c_hi, int32_t sh)
{
    uint32_t lo = 0x40000000u | ((uint32_t)acc & 0x80000000u);
    int32_t hi = c_hi + (acc >> 31);
    kt_smlal(&lo, &hi, acc, m);
    return hi >> sh;
}

/** The short form's requantized value (before the clamp); only for q->fast. */
static inline int32_t kt_rq_short(const kt_rq *q, int32_t acc)
{
    return kt_rq_core(acc, q->multiplier, q->c_hi, q->sh);
}

/**
 * @brief The short form's output stage for two accumulators of one channel (two pixels): the
 *        channel's constants are read once. Only for q->fast.
 */
static inline void kt_rq_short2(const kt_rq *q, int32_t a, int32_t b, int8_t *ya, int8_t *yb)
{
    const int32_t m = q->multiplier, c_hi = q->c_hi, sh = q->sh;
    const int32_t lo = q->lo, hi = q->hi, off = q->output_offset;
    if (q->full) {
        *ya = kt_rq_sat8(kt_rq_core(a, m, c_hi, sh), off);
        *yb = kt_rq_sat8(kt_rq_core(b, m, c_hi, sh), off);
        return;
    }
    *ya = (int8_t)(kt_clamp(kt_rq_core(a, m, c_hi, sh), lo, hi) + off);
    *yb = (int8_t)(kt_clamp(kt_rq_core(b, m, c_hi, sh), lo, hi) + off);
}

/** The clamp and output offset of a requantized value. */
static inline int8_t kt_rq_out(const kt_rq *q, int32_t r)
{
    return (int8_t)(kt_clamp(r, q->lo, q->hi) + q->output_offset);
}

/** Whether kt_rq_lane() serves every channel of a layer: all n multipliers >= 0. */
static inline int kt_rq_lanes_ok(const int32_t *multiplier, int32_t n)
{
    int32_t c;
    for (c = 0; c < n; ++c) {
        if (multiplier[c] < 0) {
            return 0;
        }
    }
    return 1;
}

/**
 * @brief kt_requantize_s8() without branches for a multiplier >= 0 (the host paths' loops over
 *        channels, which the compiler vectorises): @p left and @p right as in kt_rq,
 *        @p lo / @p hi the clamp less the offset. With m >= 0 the high multiply cannot saturate
 *        (|a m| < 2^62), so kt_srdhm()'s special case never arises; RoundingDivideByPOT as
 *        kt_rdbpot() with the mask of a uint32 shift (right <= 31).
 */
static inline int32_t kt_rq_lane(int32_t acc, int32_t m, int32_t left, int32_t right, int32_t lo,
                                 int32_t hi, int32_t off)
{
    const int32_t a = (int32_t)((uint32_t)acc << left);
    const int32_t x = (int32_t)(((int64_t)a * m + ((int64_t)1 << 30)) >> 31);
    const int32_t mask = (int32_t)((1u << right) - 1u);
    const int32_t r = (x >> right) + ((x & mask) > (mask >> 1) + (x < 0) ? 1 : 0);
    return kt_clamp(r, lo, hi) + off;
}

/**
 * @brief kt_requantize_s8() of one value of a channel given by its multiplier and shift, with
 *        the layer's clamp and output offset from @p stage (kt_rq_make() of any multiplier):
 *        the short form when it applies, without a per-channel kt_rq.
 */
static inline int8_t kt_rq_apply_ch(int32_t multiplier, int32_t shift, const kt_rq *stage,
                                    int32_t acc)
{
    const int32_t r = kt_rq_short_ok(multiplier, shift)
                          ? kt_rq_core(acc, multiplier, (int32_t)(1u << (-shift - 2)), -shift - 1)
                          : kt_requantize(acc, multiplier, shift);
    return kt_rq_out(stage, r);
}

static inline int8_t kt_rq_apply(const kt_rq *q, int32_t acc)
{
    const int32_t r = q->fast
                          ? kt_rq_short(q, acc)
                          : kt_rdbpot(kt_srdhm(kt_shl_wrap(acc, q->left), q->multiplier), q->right);
    return kt_rq_out(q, r);
}

#ifdef __cplusplus
}
#endif

#endif /* KT_REQUANT_H */
