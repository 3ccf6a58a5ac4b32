/* Requantization: the branch-free SaturatingRoundingDoublingHighMul of internal/kt_requant.h
 * against gemmlowp's written-out form (nudge by sign, 64-bit divide truncating toward zero), on
 * edge values and pseudo-random pairs of every magnitude, on the host and on the emulated M7. */
#include <stdint.h>

#include "../../../firmware/kernels/internal/kt_requant.h"
#include "kt_test.h"

/* gemmlowp's SaturatingRoundingDoublingHighMul as written in TFLM's reference code. */
static int32_t srdhm_reference(int32_t a, int32_t b)
{
    int64_t ab, nudge;
    if (a == INT32_MIN && b == INT32_MIN) {
        return INT32_MAX;
    }
    ab = (int64_t)a * (int64_t)b;
    nudge = ab >= 0 ? (int64_t)(1 << 30) : (int64_t)(1 - (1 << 30));
    return (int32_t)((ab + nudge) / ((int64_t)1 << 31));
}

static const int32_t edges[] = {0,
                                1,
                                -1,
                                2,
                                -2,
                                INT32_MIN,
                                INT32_MAX,
                                INT32_MIN + 1,
                                1 << 30,
                                -(1 << 30),
                                (1 << 30) + 1,
                                -(1 << 30) - 1,
                                46341,
                                -46341,
                                1 << 15,
                                -(1 << 15)};

static void test_srdhm_edges(void)
{
    const int n = (int)(sizeof edges / sizeof edges[0]);
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < n; j++) {
            KT_CHECK_EQ_INT(kt_srdhm(edges[i], edges[j]), srdhm_reference(edges[i], edges[j]));
        }
    }
}

static void test_srdhm_random_pairs(void)
{
    uint32_t s = 2463534242u; /* xorshift32 */
    for (uint32_t k = 0; k < 200000u; k++) {
        int32_t a, b;
        (void)kt_test_xorshift32(&s);
        a = (int32_t)s;
        (void)kt_test_xorshift32(&s);
        b = (int32_t)s;
        a >>= k % 31u; /* every magnitude, both signs */
        b >>= (k / 31u) % 31u;
        KT_CHECK_EQ_INT(kt_srdhm(a, b), srdhm_reference(a, b));
    }
}

static void test_requantize_half_cases(void)
{
    /* products exactly halfway between two results round up (toward +inf), as gemmlowp's do */
    KT_CHECK_EQ_INT(kt_srdhm(-(1 << 30), 1 << 30), srdhm_reference(-(1 << 30), 1 << 30));
    KT_CHECK_EQ_INT(kt_srdhm(-1, 1 << 30), 0);
    KT_CHECK_EQ_INT(kt_srdhm(-3, 1 << 30), -1);
    KT_CHECK_EQ_INT(kt_requantize(-3, 1 << 30, 0), srdhm_reference(-3, 1 << 30));
}

/* kt_rq_apply(), the per-channel precomputed output stage, kt_rq_apply_ch() (the same from the
   multiplier and shift) and kt_rq_short2() (two accumulators, short form) equal kt_requantize_s8()
   for every accumulator, multiplier, shift, output offset and activation range. */
static void test_precomputed_output_stage(void)
{
    uint32_t s = 88675123u;
    for (uint32_t k = 0; k < 100000u; k++) {
        int32_t acc, mult, shift, off, lo, hi, t;
        (void)kt_test_xorshift32(&s);
        acc = (int32_t)s >> (k % 24u);
        if (k % 7u == 2u) { /* the extremes, where the rounding add saturates */
            acc = (k % 2u) ? INT32_MAX - (int32_t)(s % 4096u) : INT32_MIN + (int32_t)(s % 4096u);
        }
        (void)kt_test_xorshift32(&s);
        /* [2^30, 2^31) or 0 as QuantizeMultiplier gives, and any int32 (INT32_MIN included) */
        mult = (k % 97u == 0u) ? 0 : (int32_t)((s >> 1) | 0x40000000u);
        if (k % 5u == 1u) {
            mult = (int32_t)s;
        } else if (k % 251u == 3u) {
            mult = INT32_MIN;
        }
        shift = (int32_t)(s % 62u) - 31; /* [-31, 30] */
        off = (int32_t)((s >> 8) % 256u) - 128;
        lo = (int32_t)((s >> 16) % 256u) - 128;
        hi = (int32_t)((s >> 24) % 256u) - 128;
        if (lo > hi) {
            t = lo;
            lo = hi;
            hi = t;
        }
        if (k % 3u == 0u) { /* the whole int8 range: the saturating form (kt_rq_sat8()) */
            lo = -128;
            hi = 127;
        }
        {
            const kt_rq q = kt_rq_make(mult, shift, off, lo, hi);
            const kt_rq stage = kt_rq_make(0, 0, off, lo, hi);
            const int8_t want = kt_requantize_s8(acc, mult, shift, off, lo, hi);
            KT_CHECK_EQ_INT(kt_rq_apply(&q, acc), want);
            KT_CHECK_EQ_INT(kt_rq_apply_ch(mult, shift, &stage, acc), want);
            if (q.fast) { /* the two-pixel form, with a second accumulator of another sign */
                KT_CHECK_EQ_INT(q.full ? kt_rq_sat8(kt_rq_short(&q, acc), off) : want, want);
                int8_t ya = 0, yb = 0;
                kt_rq_short2(&q, acc, -(acc >> 1) - 1, &ya, &yb);
                KT_CHECK_EQ_INT(ya, want);
                KT_CHECK_EQ_INT(yb, kt_requantize_s8(-(acc >> 1) - 1, mult, shift, off, lo, hi));
            }
        }
    }
}

int main(void)
{
    KT_TEST_BEGIN();
    KT_RUN(test_srdhm_edges);
    KT_RUN(test_srdhm_random_pairs);
    KT_RUN(test_requantize_half_cases);
    KT_RUN(test_precomputed_output_stage);
    return kt_test_end();
}
