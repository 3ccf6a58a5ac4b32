/**
 * @file kt_add_s8.c
 * @brief ADD int8 (TFLM reference_integer_ops::Add / BroadcastAdd arithmetic), with numpy-style
 *        broadcasting over 4-D shapes.
 *
 * Per element: both inputs are offset, shifted left by left_shift, scaled to the common scale with
 * their multipliers, summed, rescaled to the output scale, offset and clamped.
 */
#include "kt_kernels.h"
#include "internal/kt_check.h"
#include "internal/kt_dot.h"
#include "internal/kt_requant.h"

static inline int8_t kt_add_one(const kt_add_params *p, int32_t a, int32_t b)
{
    const int32_t sa = kt_requantize(kt_shl_wrap(p->input1_offset + a, p->left_shift),
                                     p->input1_multiplier, p->input1_shift);
    const int32_t sb = kt_requantize(kt_shl_wrap(p->input2_offset + b, p->left_shift),
                                     p->input2_multiplier, p->input2_shift);
    const int32_t sum = (int32_t)((uint32_t)sa + (uint32_t)sb);
    return kt_requantize_s8(sum, p->output_multiplier, p->output_shift, p->output_offset,
                            p->activation.min, p->activation.max);
}

/*
 * The same-shape path's short form, taken when both input multipliers are >= 0 with shifts in
 * [-31, 0] (TFLM's Prepare gives such) and the output stage takes kt_rq_core()'s short form:
 * each input's kt_requantize(x, m, -n) is floor(T / 2^(31+n)) with T = x m + 2^30
 * + [n >= 1] (2^(n+30) - [x < 0] 2^31) (kt_requant.h, the short form's derivation), one SMLAL
 * from the constant's words: n >= 2 is kt_rq_core(); n == 1 gives T's high word from the low
 * word 2^30 + [x >= 0] 2^31; n == 0 gives (hi << 1) | (lo >> 31) from the low word 2^30 (m >= 0:
 * the high multiply does not saturate). The same integers as kt_add_one().
 */
typedef struct {
    int32_t offset, left, m, n, c_hi;
} kt_add_in;

static inline int kt_add_in_ok(int32_t m, int32_t shift)
{
    return m >= 0 && shift <= 0;
}

static inline kt_add_in kt_add_in_make(int32_t offset, int32_t left, int32_t m, int32_t shift)
{
    kt_add_in q;
    q.offset = offset;
    q.left = left;
    q.m = m;
    q.n = -shift;
    q.c_hi = q.n >= 2 ? (int32_t)(1u << (q.n - 2)) : 0;
    return q;
}

static inline int32_t kt_add_in_apply(const kt_add_in *q, int32_t v)
{
    const int32_t x = kt_shl_wrap(q->offset + v, q->left);
    uint32_t lo;
    int32_t hi = 0;
    if (q->n >= 2) {
        return kt_rq_core(x, q->m, q->c_hi, q->n - 1);
    }
    if (q->n == 1) {
        lo = 0x40000000u | (~(uint32_t)x & 0x80000000u);
        kt_smlal(&lo, &hi, x, q->m);
        return hi;
    }
    lo = 0x40000000u;
    kt_smlal(&lo, &hi, x, q->m);
    return (int32_t)(((uint32_t)hi << 1) | (lo >> 31));
}

static KT_NOINLINE void kt_add_short(const kt_add_params *p, int32_t size, const int8_t *input1,
                                     const int8_t *input2, int8_t *output)
{
    const kt_add_in q1 =
        kt_add_in_make(p->input1_offset, p->left_shift, p->input1_multiplier, p->input1_shift);
    const kt_add_in q2 =
        kt_add_in_make(p->input2_offset, p->left_shift, p->input2_multiplier, p->input2_shift);
    const kt_rq qo = kt_rq_make(p->output_multiplier, p->output_shift, p->output_offset,
                                p->activation.min, p->activation.max);
    int32_t i;
    for (i = 0; i < size; ++i) {
        const int32_t sum = (int32_t)((uint32_t)kt_add_in_apply(&q1, input1[i]) +
                                      (uint32_t)kt_add_in_apply(&q2, input2[i]));
        output[i] = kt_rq_out(&qo, kt_rq_short(&qo, sum));
    }
}

kt_status kt_add_s8(const kt_add_params *add, const kt_dims *input1_dims, const int8_t *input1,
                    const kt_dims *input2_dims, const int8_t *input2, const kt_dims *output_dims,
                    int8_t *output)
{
    int32_t d1[4], d2[4], d0[4], s1[4], s2[4];
    int32_t i, i0, i1, i2, i3;
    if (add == NULL || input1_dims == NULL || input1 == NULL || input2_dims == NULL ||
        input2 == NULL || output_dims == NULL || output == NULL) {
        return KT_ARG_ERROR;
    }
    if (add->input1_offset < -127 || add->input1_offset > 128 || add->input2_offset < -127 ||
        add->input2_offset > 128 || add->output_offset < -128 || add->output_offset > 127 ||
        add->left_shift < 0 || add->left_shift > 22 || !kt_check_requant_shift(add->input1_shift) ||
        !kt_check_requant_shift(add->input2_shift) || !kt_check_requant_shift(add->output_shift) ||
        !kt_check_activation(&add->activation)) {
        return KT_ARG_ERROR;
    }
    /* clang-format off */
    d1[0] = input1_dims->n; d1[1] = input1_dims->h; d1[2] = input1_dims->w; d1[3] = input1_dims->c;
    d2[0] = input2_dims->n; d2[1] = input2_dims->h; d2[2] = input2_dims->w; d2[3] = input2_dims->c;
    d0[0] = output_dims->n; d0[1] = output_dims->h; d0[2] = output_dims->w; d0[3] = output_dims->c;
    /* clang-format on */
    for (i = 0; i < 4; ++i) {
        if (d0[i] < 1 || (d1[i] != d0[i] && d1[i] != 1) || (d2[i] != d0[i] && d2[i] != 1)) {
            return KT_ARG_ERROR;
        }
    }

    if (d1[0] == d2[0] && d1[1] == d2[1] && d1[2] == d2[2] && d1[3] == d2[3] && d1[0] == d0[0] &&
        d1[1] == d0[1] && d1[2] == d0[2] && d1[3] == d0[3]) {
        const int32_t size = d0[0] * d0[1] * d0[2] * d0[3];
        if (kt_add_in_ok(add->input1_multiplier, add->input1_shift) &&
            kt_add_in_ok(add->input2_multiplier, add->input2_shift) &&
            kt_rq_short_ok(add->output_multiplier, add->output_shift)) {
            kt_add_short(add, size, input1, input2, output);
            return KT_OK;
        }
        for (i = 0; i < size; ++i) {
            output[i] = kt_add_one(add, input1[i], input2[i]);
        }
        return KT_OK;
    }

    /* element strides, 0 along a broadcast axis */
    s1[3] = 1;
    s2[3] = 1;
    for (i = 2; i >= 0; --i) {
        s1[i] = s1[i + 1] * d1[i + 1];
        s2[i] = s2[i + 1] * d2[i + 1];
    }
    for (i = 0; i < 4; ++i) {
        if (d1[i] == 1) {
            s1[i] = 0;
        }
        if (d2[i] == 1) {
            s2[i] = 0;
        }
    }
    for (i0 = 0; i0 < d0[0]; ++i0) {
        for (i1 = 0; i1 < d0[1]; ++i1) {
            for (i2 = 0; i2 < d0[2]; ++i2) {
                const int8_t *a =
                    input1 + (size_t)i0 * s1[0] + (size_t)i1 * s1[1] + (size_t)i2 * s1[2];
                const int8_t *b =
                    input2 + (size_t)i0 * s2[0] + (size_t)i1 * s2[1] + (size_t)i2 * s2[2];
                for (i3 = 0; i3 < d0[3]; ++i3) {
                    *output++ = kt_add_one(add, a[i3 * s1[3]], b[i3 * s2[3]]);
                }
            }
        }
    }
    return KT_OK;
}
