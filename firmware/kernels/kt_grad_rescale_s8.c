/**
 * @file kt_grad_rescale_s8.c
 * @brief Rescale an int8 gradient to another exponent (golden grad_rescale.py):
 *        out = to_grad8(shift_round(in, e_out - e_in)). In place allowed.
 */
#include "kt_train_kernels.h"
#include "internal/kt_check.h"
#include "internal/kt_grad_quant.h"

kt_status kt_grad_rescale_s8(int32_t count, int32_t e_in, int32_t e_out, const int8_t *input,
                             int8_t *output, kt_grad_stats *stats)
{
    int32_t i, n;
    if (count < 0 || stats == NULL || (count > 0 && (input == NULL || output == NULL)) ||
        !kt_check_exponent(e_in) || !kt_check_exponent(e_out)) {
        return KT_ARG_ERROR;
    }
    n = e_out - e_in;
    kt_grad_stats_reset(stats);
    for (i = 0; i < count; ++i) {
        output[i] = kt_to_grad8(kt_shift_round(input[i], n), stats);
    }
    return KT_OK;
}
