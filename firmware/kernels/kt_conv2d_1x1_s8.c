/**
 * @file kt_conv2d_1x1_s8.c
 * @brief CONV_2D int8 fast path: 1x1 filter, stride 1, no padding (a per-pixel matrix product).
 *
 * The input offset is folded into the accumulator start value once per output channel:
 * sum_c f[c] * (x[c] + o) == sum_c f[c] * x[c] + o * sum_c f[c] (exact in int32 arithmetic), so the
 * inner loop is a plain int8 dot product. Output channels are the outer loop so one filter row
 * stays hot while all pixels stream past it.
 */
#include "kt_kernels.h"
#include "internal/kt_check.h"
#include "internal/kt_dot.h"
#include "internal/kt_filter.h"
#include "internal/kt_requant.h"

kt_status kt_conv2d_1x1_s8(const kt_conv_params *conv, const kt_per_channel_quant *quant,
                           const kt_dims *input_dims, const int8_t *input,
                           const kt_dims *filter_dims, const int8_t *filter, const int32_t *bias,
                           const kt_dims *output_dims, int8_t *output)
{
    const kt_split_filter whole = {filter, NULL, filter_dims != NULL ? filter_dims->n : 0};
    return kt_conv2d_1x1_split_s8(conv, quant, input_dims, input, filter_dims, &whole, bias,
                                  output_dims, output);
}

kt_status kt_conv2d_1x1_split_s8(const kt_conv_params *conv, const kt_per_channel_quant *quant,
                                 const kt_dims *input_dims, const int8_t *input,
                                 const kt_dims *filter_dims, const kt_split_filter *filter,
                                 const int32_t *bias, const kt_dims *output_dims, int8_t *output)
{
    int32_t oc, p, in_c, out_c, pixels, in_off, out_off, act_min, act_max;

    if (conv == NULL || !kt_check_quant_ptrs(quant) ||
        !kt_check_tensor_ptrs(input_dims, input, filter_dims, kt_filter_any(filter), output_dims,
                              output) ||
        !kt_check_split_filter(filter, filter_dims->n)) {
        return KT_ARG_ERROR;
    }
    in_c = input_dims->c;
    out_c = output_dims->c;
    in_off = conv->input_offset;
    out_off = conv->output_offset;
    act_min = conv->activation.min;
    act_max = conv->activation.max;
    /* the fast path's shape is spelled out (it implies kt_check_conv_dims() and
       kt_check_geometry() but is stricter); the value checks are the shared ones */
    if (filter_dims->h != 1 || filter_dims->w != 1 || conv->stride.h != 1 || conv->stride.w != 1 ||
        conv->padding.h != 0 || conv->padding.w != 0 || conv->dilation.h < 1 ||
        conv->dilation.w < 1 || input_dims->n < 1 || input_dims->h < 1 || input_dims->w < 1 ||
        in_c < 1 || out_c < 1 || output_dims->n != input_dims->n ||
        output_dims->h != input_dims->h || output_dims->w != input_dims->w ||
        filter_dims->n != out_c || filter_dims->c != in_c || !kt_check_offsets(in_off, out_off) ||
        !kt_check_activation(&conv->activation) || !kt_check_requant_shifts(quant->shift, out_c)) {
        return KT_ARG_ERROR;
    }

    pixels = input_dims->n * input_dims->h * input_dims->w;
    for (oc = 0; oc < out_c; ++oc) {
        const int8_t *f = kt_filter_row(filter, oc, (size_t)in_c);
        const int32_t mult = quant->multiplier[oc];
        const int32_t shift = quant->shift[oc];
        const int8_t *x = input;
        int8_t *y = output + oc;
        const int32_t fsum = kt_sum_s8(f, in_c);
        uint32_t start;
        /* unsigned: the folded start value wraps exactly like the int32 sum it replaces */
        start = (uint32_t)(bias != NULL ? bias[oc] : 0) + (uint32_t)fsum * (uint32_t)in_off;
        for (p = 0; p < pixels; ++p) {
            int32_t acc = kt_dot_s8(f, x, in_c, 0);
            acc = (int32_t)((uint32_t)acc + start);
            *y = kt_requantize_s8(acc, mult, shift, out_off, act_min, act_max);
            x += in_c;
            y += out_c;
        }
    }
    return KT_OK;
}
