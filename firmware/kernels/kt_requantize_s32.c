/**
 * @file kt_requantize_s32.c
 * @brief Array form of the requantization helper (kt_requantize() in kt_requant.h), exported so
 *        the host tests can compare TFLM's MultiplyByQuantizedMultiplier element by element.
 */
#include "kt_kernels.h"
#include "internal/kt_check.h"
#include "internal/kt_requant.h"

kt_status kt_requantize_s32(int32_t count, const int32_t *acc, const int32_t *multiplier,
                            const int32_t *shift, int32_t *out)
{
    int32_t i;
    if (count < 0 ||
        (count > 0 && (acc == NULL || multiplier == NULL || shift == NULL || out == NULL))) {
        return KT_ARG_ERROR;
    }
    if (!kt_check_requant_shifts(shift, count)) {
        return KT_ARG_ERROR;
    }
    for (i = 0; i < count; ++i) {
        out[i] = kt_requantize(acc[i], multiplier[i], shift[i]);
    }
    return KT_OK;
}
