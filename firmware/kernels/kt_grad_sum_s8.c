/**
 * @file kt_grad_sum_s8.c
 * @brief Fan-out sum of two int8 gradients into one exponent (golden grad_sum.py):
 *        out = to_grad8(shift_round(g1, e - e1) + shift_round(g2, e - e2)), the sum in 64 bits.
 *        out may alias g1 or g2.
 */
#include "kt_train_kernels.h"
#include "internal/kt_check.h"
#include "internal/kt_grad_quant.h"

kt_status kt_grad_sum_s8(int32_t count, const int8_t *g1, int32_t e1, const int8_t *g2, int32_t e2,
                         int32_t e, int8_t *output, kt_grad_stats *stats)
{
    int32_t i, n1, n2;
    if (count < 0 || stats == NULL || (count > 0 && (g1 == NULL || g2 == NULL || output == NULL)) ||
        !kt_check_exponent(e1) || !kt_check_exponent(e2) || !kt_check_exponent(e)) {
        return KT_ARG_ERROR;
    }
    n1 = e - e1;
    n2 = e - e2;
    kt_grad_stats_reset(stats);
    for (i = 0; i < count; ++i) {
        const int64_t v = (int64_t)kt_shift_round(g1[i], n1) + (int64_t)kt_shift_round(g2[i], n2);
        output[i] = kt_to_grad8(v, stats);
    }
    return KT_OK;
}
