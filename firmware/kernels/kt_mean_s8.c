/**
 * @file kt_mean_s8.c
 * @brief MEAN over H and W, int8 (TFLM EvalIntegerMean -> reference_ops::QuantizedMeanOrSum,
 *        the integer path TFLM uses whether or not input and output quantization are equal).
 *
 * The 1/count factor is folded into the multiplier once per call:
 *   s = min(floor(log2(count)), 32, 31 + shift); m' = (multiplier << s) / count (int64, truncating);
 *   shift' = shift - s,
 * then per channel: y = clamp(MBQM(sum(x) + input_offset * count, m', shift') + output_offset).
 * The channel loop is innermost so the input is read contiguously; per-channel sums live in a
 * small stack block (no scratch buffer).
 */
#include "kt_kernels.h"
#include "internal/kt_check.h"
#include "internal/kt_requant.h"

#define KT_MEAN_BLOCK 32

kt_status kt_mean_s8(const kt_mean_params *mean, const kt_dims *input_dims, const int8_t *input,
                     const kt_dims *output_dims, int8_t *output)
{
    int32_t acc[KT_MEAN_BLOCK];
    int32_t b, c0, j, p, ch, count, s, mult, shift;
    if (mean == NULL || input_dims == NULL || input == NULL || output_dims == NULL ||
        output == NULL) {
        return KT_ARG_ERROR;
    }
    ch = input_dims->c;
    if (input_dims->n < 1 || input_dims->h < 1 || input_dims->w < 1 || ch < 1 ||
        input_dims->h > (1 << 23) / input_dims->w || output_dims->n != input_dims->n ||
        output_dims->h != 1 || output_dims->w != 1 || output_dims->c != ch ||
        !kt_check_offsets(mean->input_offset, mean->output_offset) || mean->multiplier < 0 ||
        !kt_check_requant_shift(mean->shift)) {
        return KT_ARG_ERROR;
    }
    count = input_dims->h * input_dims->w;
    /* fold 1/count into the multiplier (once per call, not per output) */
    s = 0;
    while (s < 31 && ((int32_t)2 << s) <= count) {
        ++s; /* s = floor(log2(count)), count < 2^23 */
    }
    if (s > 31 + mean->shift) {
        s = 31 + mean->shift;
    }
    mult = (int32_t)(((int64_t)mean->multiplier << s) / count);
    shift = mean->shift - s;

    for (b = 0; b < input_dims->n; ++b) {
        const int8_t *in_b = input + (size_t)b * count * ch;
        for (c0 = 0; c0 < ch; c0 += KT_MEAN_BLOCK) {
            const int32_t n = ch - c0 < KT_MEAN_BLOCK ? ch - c0 : KT_MEAN_BLOCK;
            const int8_t *x = in_b + c0;
            for (j = 0; j < n; ++j) {
                acc[j] = 0;
            }
            for (p = 0; p < count; ++p) {
                for (j = 0; j < n; ++j) {
                    acc[j] += x[j];
                }
                x += ch;
            }
            for (j = 0; j < n; ++j) {
                output[(size_t)b * ch + c0 + j] =
                    kt_requantize_s8(acc[j] + count * mean->input_offset, mult, shift,
                                     mean->output_offset, -128, 127);
            }
        }
    }
    return KT_OK;
}
