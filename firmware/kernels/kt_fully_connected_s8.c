/**
 * @file kt_fully_connected_s8.c
 * @brief FULLY_CONNECTED int8 (TFLM reference FullyConnected / FullyConnectedPerChannel),
 *        per-tensor or per-channel requantization.
 *
 * The input offset is folded into the start value per output channel (sum_i w[i] * (x[i] + o) ==
 * sum_i w[i] * x[i] + o * sum_i w[i], exact in int32), so the inner loop is a plain dot product.
 */
#include "kt_kernels.h"
#include "internal/kt_check.h"
#include "internal/kt_dot.h"
#include "internal/kt_filter.h"
#include "internal/kt_requant.h"

kt_status kt_fully_connected_s8(const kt_fc_params *fc, const kt_per_channel_quant *quant,
                                const kt_dims *input_dims, const int8_t *input,
                                const kt_dims *filter_dims, const int8_t *filter,
                                const int32_t *bias, const kt_dims *output_dims, int8_t *output)
{
    const kt_split_filter whole = {filter, NULL, filter_dims != NULL ? filter_dims->n : 0};
    return kt_fully_connected_split_s8(fc, quant, input_dims, input, filter_dims, &whole, bias,
                                       output_dims, output);
}

kt_status kt_fully_connected_split_s8(const kt_fc_params *fc, const kt_per_channel_quant *quant,
                                      const kt_dims *input_dims, const int8_t *input,
                                      const kt_dims *filter_dims, const kt_split_filter *filter,
                                      const int32_t *bias, const kt_dims *output_dims,
                                      int8_t *output)
{
    int32_t b, o, batches, in_c, out_c, in_off, out_off, act_min, act_max;

    if (fc == NULL || !kt_check_quant_ptrs(quant) ||
        !kt_check_tensor_ptrs(input_dims, input, filter_dims, kt_filter_any(filter), output_dims,
                              output) ||
        !kt_check_split_filter(filter, filter_dims->n)) {
        return KT_ARG_ERROR;
    }
    batches = input_dims->n;
    in_c = input_dims->c;
    out_c = output_dims->c;
    in_off = fc->input_offset;
    out_off = fc->output_offset;
    act_min = fc->activation.min;
    act_max = fc->activation.max;
    if (!kt_check_fc_dims(input_dims, filter_dims, output_dims) ||
        (fc->per_channel != 0 && fc->per_channel != 1) || !kt_check_offsets(in_off, out_off) ||
        !kt_check_activation(&fc->activation) ||
        !kt_check_requant_shifts(quant->shift, fc->per_channel ? out_c : 1)) {
        return KT_ARG_ERROR;
    }

    for (o = 0; o < out_c; ++o) {
        const int8_t *w = kt_filter_row(filter, o, (size_t)in_c);
        const int32_t q = fc->per_channel ? o : 0;
        const int32_t mult = quant->multiplier[q];
        const int32_t shift = quant->shift[q];
        const int32_t wsum = kt_sum_s8(w, in_c);
        uint32_t start;
        start = (uint32_t)(bias != NULL ? bias[o] : 0) + (uint32_t)wsum * (uint32_t)in_off;
        for (b = 0; b < batches; ++b) {
            const int8_t *x = input + (size_t)b * in_c;
            int32_t acc = kt_dot_s8(w, x, in_c, 0);
            acc = (int32_t)((uint32_t)acc + start);
            output[(size_t)b * out_c + o] =
                kt_requantize_s8(acc, mult, shift, out_off, act_min, act_max);
        }
    }
    return KT_OK;
}
