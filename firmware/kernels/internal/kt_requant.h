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
    int32_t nudge; /* 2^(right - 1), 0 for right == 0 */
    int32_t negm;  /* -1 if right > 0, else 0: the tie correction of a negative value */
    int32_t lo;    /* act_min - output_offset */
    int32_t hi;    /* act_max - output_offset */
    int32_t output_offset;
    int32_t fast; /* right <= 23 and multiplier != INT32_MIN: kt_rq_apply()'s short form is exact */
} kt_rq;

static inline kt_rq kt_rq_make(int32_t multiplier, int32_t shift, int32_t output_offset,
                               int32_t act_min, int32_t act_max)
{
    kt_rq q;
    q.multiplier = multiplier;
    q.left = shift > 0 ? shift : 0;
    q.right = shift > 0 ? 0 : -shift;
    q.nudge = q.right > 0 ? (int32_t)(1u << (q.right - 1)) : 0; /* right <= 31 */
    q.negm = q.right > 0 ? -1 : 0;
    q.lo = act_min - output_offset;
    q.hi = act_max - output_offset;
    q.output_offset = output_offset;
    q.fast = q.right <= 23 && multiplier != INT32_MIN;
    return q;
}

/** @brief x + t saturated to INT32_MAX, for t >= 0 (QADD on a core with the DSP extension). */
static inline int32_t kt_qadd_pos(int32_t x, int32_t t)
{
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
    return __qadd(x, t);
#else
    return x > INT32_MAX - t ? INT32_MAX : x + t;
#endif
}

/*
 * kt_requantize_s8(acc) = clamp(clamp(r, -256, 255) + off, act_min, act_max) with r the
 * requantized value. As act_min >= -128 > off - 256 and act_max <= 127 <= off + 255 for any off in
 * [-128, 127], the inner clamp never binds where the outer one does not: the result is
 * clamp(r + off, act_min, act_max) = clamp(r, act_min - off, act_max - off) + off, computed here
 * without the int32 add that could overflow.
 *
 * The short form (q->fast). With multiplier != INT32_MIN the high multiply cannot saturate, so it is
 * floor((a * m + 2^30) / 2^31) (kt_srdhm()). RoundingDivideByPOT(x, n) for n >= 1 rounds half away
 * from zero: floor((x + 2^(n-1) - [x < 0]) / 2^n) (for x >= 0 the remainder test "> 2^(n-1) - 1"
 * is "x mod 2^n >= 2^(n-1)", for x < 0 "> 2^(n-1)" is "x mod 2^n + 2^(n-1) - 1 >= 2^n"), and
 * n == 0 is x itself (nudge 0). The add is saturating: it can only overflow for x > 0, where the
 * exact quotient and (2^31 - 1) >> n are both >= 2^(31-n) - 1 >= 255 >= hi for n <= 23, so the
 * clamp gives hi either way. Larger n (or multiplier INT32_MIN) take the reference form.
 */
static inline int8_t kt_rq_apply(const kt_rq *q, int32_t acc)
{
    int32_t r;
    if (q->fast) {
        const int32_t x =
            (int32_t)(((int64_t)kt_shl_wrap(acc, q->left) * q->multiplier + ((int64_t)1 << 30)) >>
                      31);
        r = kt_qadd_pos(x, q->nudge + ((x >> 31) & q->negm)) >> q->right;
    } else {
        r = kt_rdbpot(kt_srdhm(kt_shl_wrap(acc, q->left), q->multiplier), q->right);
    }
    return (int8_t)(kt_clamp(r, q->lo, q->hi) + q->output_offset);
}

#ifdef __cplusplus
}
#endif

#endif /* KT_REQUANT_H */
