/**
 * @file kt_softmax_s8.c
 * @brief SOFTMAX int8 -> int8 (TFLM reference_ops::Softmax), gemmlowp fixed point in plain C.
 *
 * Per row: diff = x - max; diffs below diff_min give -128. Otherwise the diff is rescaled to Q5.26
 * (MultiplyByQuantizedMultiplierGreaterThanOne), exp() is evaluated on it in Q0.31
 * (exp_on_negative_values), the exps are summed in Q12.19, the reciprocal of the sum is taken with
 * Newton-Raphson (GetReciprocal / one_over_one_plus_x_for_x_in_0_1) and each output is
 * exp * reciprocal, rounded to the 1/256 grid and offset by -128.
 */
#include "kt_kernels.h"
#include "internal/kt_requant.h"

/* FixedPoint<int32, 0> constants */
#define KT_Q0_ONE INT32_MAX

/* gemmlowp SaturatingRoundingMultiplyByPOT<exponent> for exponent > 0 (saturating left shift) */
static inline int32_t kt_sat_shl(int32_t x, int32_t exponent)
{
    const int32_t threshold = (int32_t)(((int64_t)1 << (31 - exponent)) - 1);
    if (x > threshold) {
        return INT32_MAX;
    }
    if (x < -threshold) {
        return INT32_MIN;
    }
    return kt_shl_wrap(x, exponent);
}

/* gemmlowp RoundingHalfSum */
static inline int32_t kt_rounding_half_sum(int32_t a, int32_t b)
{
    const int64_t sum = (int64_t)a + (int64_t)b;
    const int64_t sign = sum >= 0 ? 1 : -1;
    return (int32_t)((sum + sign) / 2);
}

static inline int32_t kt_add_wrap(int32_t a, int32_t b)
{
    return (int32_t)((uint32_t)a + (uint32_t)b);
}

static inline int32_t kt_sub_wrap(int32_t a, int32_t b)
{
    return (int32_t)((uint32_t)a - (uint32_t)b);
}

/* exp(a) for a in [-1/4, 0), Q0.31 in and out */
static inline int32_t kt_exp_on_interval_neg_quarter_0(int32_t a)
{
    const int32_t constant_term = 1895147668;    /* exp(-1/8) */
    const int32_t constant_1_over_3 = 715827883; /* 1/3 */
    const int32_t x = kt_add_wrap(a, 1 << 28);   /* a + 1/8 */
    const int32_t x2 = kt_srdhm(x, x);
    const int32_t x3 = kt_srdhm(x2, x);
    const int32_t x4 = kt_srdhm(x2, x2);
    const int32_t x4_over_4 = kt_rdbpot(x4, 2);
    const int32_t poly =
        kt_rdbpot(kt_add_wrap(kt_srdhm(kt_add_wrap(x4_over_4, x3), constant_1_over_3), x2), 1);
    return kt_add_wrap(constant_term, kt_srdhm(constant_term, kt_add_wrap(x, poly)));
}

/* exp(a) for a <= 0 in Q5.26, result in Q0.31 (gemmlowp exp_on_negative_values, 5 integer bits) */
static inline int32_t kt_exp_on_negative_values_q5(int32_t a)
{
    const int32_t one_quarter = 1 << 24;
    const int32_t mask = one_quarter - 1;
    const int32_t a_mod_quarter_minus_one_quarter = kt_sub_wrap(a & mask, one_quarter);
    const int32_t remainder = kt_sub_wrap(a_mod_quarter_minus_one_quarter, a);
    int32_t result =
        kt_exp_on_interval_neg_quarter_0(kt_sat_shl(a_mod_quarter_minus_one_quarter, 5));
    if (remainder & (1 << 24)) {
        result = kt_srdhm(result, 1672461947); /* exp(-1/4) */
    }
    if (remainder & (1 << 25)) {
        result = kt_srdhm(result, 1302514674); /* exp(-1/2) */
    }
    if (remainder & (1 << 26)) {
        result = kt_srdhm(result, 790015084); /* exp(-1) */
    }
    if (remainder & (1 << 27)) {
        result = kt_srdhm(result, 290630308); /* exp(-2) */
    }
    if (remainder & (1 << 28)) {
        result = kt_srdhm(result, 39332535); /* exp(-4) */
    }
    if (remainder & (1 << 29)) {
        result = kt_srdhm(result, 720401); /* exp(-8) */
    }
    if (remainder & (1 << 30)) {
        result = kt_srdhm(result, 242); /* exp(-16) */
    }
    return a == 0 ? KT_Q0_ONE : result;
}

/* 1 / (1 + a) for a in [0, 1), Q0.31 in and out (Newton-Raphson in Q2.29) */
static inline int32_t kt_one_over_one_plus_x(int32_t a)
{
    const int32_t half_denominator = kt_rounding_half_sum(a, KT_Q0_ONE);
    const int32_t constant_48_over_17 = 1515870810;
    const int32_t constant_neg_32_over_17 = -1010580540;
    const int32_t q2_one = 1 << 29;
    int32_t x =
        kt_add_wrap(constant_48_over_17, kt_srdhm(half_denominator, constant_neg_32_over_17));
    int i;
    for (i = 0; i < 3; ++i) {
        const int32_t half_denominator_times_x = kt_srdhm(half_denominator, x);
        const int32_t one_minus = kt_sub_wrap(q2_one, half_denominator_times_x);
        x = kt_add_wrap(x, kt_sat_shl(kt_srdhm(x, one_minus), 2));
    }
    return kt_sat_shl(x, 1);
}

static inline int32_t kt_clz32(uint32_t x)
{
#if defined(__GNUC__)
    return x == 0 ? 32 : __builtin_clz(x);
#else
    int32_t n = 0;
    if (x == 0) {
        return 32;
    }
    while ((x & 0x80000000u) == 0) {
        x <<= 1;
        ++n;
    }
    return n;
#endif
}

kt_status kt_softmax_s8(const kt_softmax_params *sm, int32_t rows, int32_t depth,
                        const int8_t *input, int8_t *output)
{
    int32_t r, c;
    if (sm == NULL || rows < 0 || depth < 1 || (rows > 0 && (input == NULL || output == NULL)) ||
        sm->input_left_shift < 0 || sm->input_left_shift > 31 || sm->diff_min > 0) {
        return KT_ARG_ERROR;
    }
    for (r = 0; r < rows; ++r) {
        const int8_t *x = input + (size_t)r * depth;
        int8_t *y = output + (size_t)r * depth;
        int32_t max_in_row = -128;
        int32_t sum_of_exps = 0; /* Q12.19 */
        int32_t headroom_plus_one, num_bits_over_unit, shifted_scale, exponent;
        for (c = 0; c < depth; ++c) {
            max_in_row = x[c] > max_in_row ? x[c] : max_in_row;
        }
        for (c = 0; c < depth; ++c) {
            const int32_t diff = (int32_t)x[c] - max_in_row;
            if (diff >= sm->diff_min) {
                const int32_t scaled =
                    kt_srdhm(kt_shl_wrap(diff, sm->input_left_shift), sm->input_multiplier);
                sum_of_exps =
                    kt_add_wrap(sum_of_exps, kt_rdbpot(kt_exp_on_negative_values_q5(scaled), 12));
            }
        }
        /* GetReciprocal(sum_of_exps, 12 integer bits) */
        headroom_plus_one = kt_clz32((uint32_t)sum_of_exps);
        num_bits_over_unit = 12 - headroom_plus_one;
        shifted_scale = kt_one_over_one_plus_x(
            (int32_t)(((uint32_t)sum_of_exps << headroom_plus_one) - 0x80000000u));
        exponent = num_bits_over_unit + 31 - 8;
        if (exponent < 0 || exponent > 31) {
            return KT_ARG_ERROR; /* TFLM's TFLITE_CHECK; cannot happen for depth < 512 */
        }
        for (c = 0; c < depth; ++c) {
            const int32_t diff = (int32_t)x[c] - max_in_row;
            if (diff >= sm->diff_min) {
                const int32_t scaled =
                    kt_srdhm(kt_shl_wrap(diff, sm->input_left_shift), sm->input_multiplier);
                const int32_t e = kt_exp_on_negative_values_q5(scaled);
                const int32_t out = kt_rdbpot(kt_srdhm(shifted_scale, e), exponent) - 128;
                y[c] = (int8_t)kt_clamp(out, -128, 127);
            } else {
                y[c] = -128;
            }
        }
    }
    return KT_OK;
}
