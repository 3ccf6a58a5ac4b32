/**
 * @file kt_fully_connected_s8.c
 * @brief FULLY_CONNECTED int8 (TFLM reference FullyConnected / FullyConnectedPerChannel),
 *        per-tensor or per-channel requantization.
 *
 * The input offset is folded into the start value per output channel (sum_i w[i] * (x[i] + o) ==
 * sum_i w[i] * x[i] + o * sum_i w[i], exact in int32), so the inner loop is a plain dot product.
 */
#include "kt_kernels.h"
#include "internal/kt_dot.h"
#include "internal/kt_requant.h"

kt_status kt_fully_connected_s8(const kt_fc_params *fc, const kt_per_channel_quant *quant,
                                const kt_dims *input_dims, const int8_t *input,
                                const kt_dims *filter_dims, const int8_t *filter,
                                const int32_t *bias, const kt_dims *output_dims, int8_t *output)
{
    int32_t b, o, batches, in_c, out_c, in_off, out_off, act_min, act_max, n_quant;

    if (fc == NULL || quant == NULL || quant->multiplier == NULL || quant->shift == NULL ||
        input_dims == NULL || input == NULL || filter_dims == NULL || filter == NULL ||
        output_dims == NULL || output == NULL) {
        return KT_ARG_ERROR;
    }
    batches = input_dims->n;
    in_c = input_dims->c;
    out_c = output_dims->c;
    in_off = fc->input_offset;
    out_off = fc->output_offset;
    act_min = fc->activation.min;
    act_max = fc->activation.max;
    if (batches < 1 || in_c < 1 || out_c < 1 || input_dims->h != 1 || input_dims->w != 1 ||
        filter_dims->n != out_c || filter_dims->h != 1 || filter_dims->w != 1 ||
        filter_dims->c != in_c || output_dims->n != batches || output_dims->h != 1 ||
        output_dims->w != 1 || (fc->per_channel != 0 && fc->per_channel != 1) ||
        in_off < -127 || in_off > 128 || out_off < -128 || out_off > 127 || act_min < -128 ||
        act_max > 127 || act_min > act_max) {
        return KT_ARG_ERROR;
    }
    n_quant = fc->per_channel ? out_c : 1;
    for (o = 0; o < n_quant; ++o) {
        if (quant->shift[o] < -31 || quant->shift[o] > 30) {
            return KT_ARG_ERROR;
        }
    }

    for (o = 0; o < out_c; ++o) {
        const int8_t *w = filter + (size_t)o * in_c;
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
