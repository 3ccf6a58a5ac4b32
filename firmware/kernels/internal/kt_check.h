/**
 * @file kt_check.h
 * @brief Kernel-internal argument checks shared by the forward, input-gradient and update
 *        kernels. Not part of the public API (include/).
 *
 * Every function returns 1 when its arguments are valid and 0 otherwise, and has no side effect,
 * so a kernel chains them with || (negated) in the order it needs: pointers first, then scalar
 * fields and dims, and the per-channel array scans (kt_all_in_range()) last, so an array is only
 * read once the dims that size it are known to be valid. Each range is the one documented in
 * kt_kernels.h / kt_train_kernels.h.
 */
#ifndef KT_CHECK_H
#define KT_CHECK_H

#include <stddef.h>
#include <stdint.h>

#include "kt_kernels.h"
#include "kt_train_kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

/** @brief 1 iff every v[i] (i < n) is in [lo, hi] (n <= 0: 1). */
static inline int kt_all_in_range(const int32_t *v, int32_t n, int32_t lo, int32_t hi)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        if (v[i] < lo || v[i] > hi) {
            return 0;
        }
    }
    return 1;
}

/** @brief 1 iff q, q->multiplier and q->shift are all non-NULL. */
static inline int kt_check_quant_ptrs(const kt_per_channel_quant *q)
{
    return q != NULL && q->multiplier != NULL && q->shift != NULL;
}

/**
 * @brief 1 iff the three (dims, data) pairs of a layer call are all non-NULL: (input, filter,
 *        output) of a forward kernel, (grad_output, filter, grad_input) of an input gradient,
 *        (input, grad_output, filter) of an update.
 */
static inline int kt_check_tensor_ptrs(const kt_dims *a_dims, const void *a, const kt_dims *b_dims,
                                       const void *b, const kt_dims *c_dims, const void *c)
{
    return a_dims != NULL && a != NULL && b_dims != NULL && b != NULL && c_dims != NULL &&
           c != NULL;
}

/** @brief 1 iff stride >= 1, padding >= 0 and dilation >= 1 (both axes). */
static inline int kt_check_geometry(const kt_tile *stride, const kt_tile *padding,
                                    const kt_tile *dilation)
{
    return stride->h >= 1 && stride->w >= 1 && dilation->h >= 1 && dilation->w >= 1 &&
           padding->h >= 0 && padding->w >= 0;
}

/**
 * @brief 1 iff the dims of a CONV_2D call agree: in {N, H, W, Cin}, filter {Cout, KH, KW, Cin},
 *        out {N, OH, OW, Cout}, every extent >= 1. For the backward kernels in is the forward
 *        input (grad_input_dims or input_dims) and out the forward output (grad_output_dims).
 */
static inline int kt_check_conv_dims(const kt_dims *in, const kt_dims *filter, const kt_dims *out)
{
    return in->n >= 1 && in->h >= 1 && in->w >= 1 && in->c >= 1 && out->n == in->n && out->h >= 1 &&
           out->w >= 1 && out->c >= 1 && filter->n == out->c && filter->h >= 1 && filter->w >= 1 &&
           filter->c == in->c;
}

/**
 * @brief 1 iff the dims of a DEPTHWISE_CONV_2D call agree: in {N, H, W, Cin}, filter
 *        {1, KH, KW, Cout}, out {N, OH, OW, Cout}, Cout = Cin * depth_multiplier, every extent
 *        and the depth multiplier >= 1.
 */
static inline int kt_check_dw_dims(const kt_dims *in, const kt_dims *filter, const kt_dims *out,
                                   int32_t depth_multiplier)
{
    return in->n >= 1 && in->h >= 1 && in->w >= 1 && in->c >= 1 && out->n == in->n && out->h >= 1 &&
           out->w >= 1 && depth_multiplier >= 1 && out->c == in->c * depth_multiplier &&
           filter->n == 1 && filter->h >= 1 && filter->w >= 1 && filter->c == out->c;
}

/**
 * @brief 1 iff the dims of a FULLY_CONNECTED call agree: in {N, 1, 1, Cin}, filter
 *        {Cout, 1, 1, Cin}, out {N, 1, 1, Cout}, N, Cin, Cout >= 1.
 */
static inline int kt_check_fc_dims(const kt_dims *in, const kt_dims *filter, const kt_dims *out)
{
    return in->n >= 1 && in->h == 1 && in->w == 1 && in->c >= 1 && out->n == in->n && out->h == 1 &&
           out->w == 1 && out->c >= 1 && filter->n == out->c && filter->h == 1 && filter->w == 1 &&
           filter->c == in->c;
}

/** @brief 1 iff input_offset is in [-127, 128] and output_offset in [-128, 127]. */
static inline int kt_check_offsets(int32_t input_offset, int32_t output_offset)
{
    return input_offset >= -127 && input_offset <= 128 && output_offset >= -128 &&
           output_offset <= 127;
}

/** @brief 1 iff -128 <= act->min <= act->max <= 127. */
static inline int kt_check_activation(const kt_activation *act)
{
    return act->min >= -128 && act->max <= 127 && act->min <= act->max;
}

/** @brief 1 iff a forward requantization shift is in [-31, 30]. */
static inline int kt_check_requant_shift(int32_t shift)
{
    return shift >= -31 && shift <= 30;
}

/** @brief 1 iff every forward requantization shift[i] (i < n) is in [-31, 30]. */
static inline int kt_check_requant_shifts(const int32_t *shift, int32_t n)
{
    return kt_all_in_range(shift, n, -31, 30);
}

/** @brief 1 iff a run-time gradient exponent is in [KT_GRAD_EXP_MIN, KT_GRAD_EXP_MAX]. */
static inline int kt_check_exponent(int32_t e)
{
    return e >= KT_GRAD_EXP_MIN && e <= KT_GRAD_EXP_MAX;
}

/** @brief 1 iff a compile-time backward shift is in [KT_GRAD_SHIFT_MIN, KT_GRAD_SHIFT_MAX]. */
static inline int kt_check_grad_shift(int32_t shift)
{
    return shift >= KT_GRAD_SHIFT_MIN && shift <= KT_GRAD_SHIFT_MAX;
}

/**
 * @brief 1 iff the quantization of an input gradient is valid: headroom in
 *        [0, KT_GRAD_HEADROOM_MAX], x_shift a backward shift, and the out_c fold shifts
 *        chan->shift[co] in [KT_GRAD_SHIFT_MIN, KT_GRAD_CHAN_SHIFT_MAX] (scanned last).
 */
static inline int kt_check_input_grad_quant(const kt_per_channel_quant *chan, int32_t headroom,
                                            int32_t x_shift, int32_t out_c)
{
    return headroom >= 0 && headroom <= KT_GRAD_HEADROOM_MAX && kt_check_grad_shift(x_shift) &&
           kt_all_in_range(chan->shift, out_c, KT_GRAD_SHIFT_MIN, KT_GRAD_CHAN_SHIFT_MAX);
}

/** @brief 1 iff p and its four per-channel arrays (weight and bias quantization) are non-NULL. */
static inline int kt_check_update_ptrs(const kt_update_params *p)
{
    return p != NULL && p->weight.multiplier != NULL && p->weight.shift != NULL &&
           p->bias.multiplier != NULL && p->bias.shift != NULL;
}

/**
 * @brief 1 iff the non-geometry fields of an update are valid for out_c output channels:
 *        n_weight_channels in [0, out_c], input_zero_point in [-128, 127], stochastic 0 or 1,
 *        and the out_c weight and bias shifts backward shifts (scanned last).
 */
static inline int kt_check_update_params(const kt_update_params *p, int32_t out_c)
{
    return p->n_weight_channels >= 0 && p->n_weight_channels <= out_c &&
           p->input_zero_point >= -128 && p->input_zero_point <= 127 && p->stochastic >= 0 &&
           p->stochastic <= 1 &&
           kt_all_in_range(p->weight.shift, out_c, KT_GRAD_SHIFT_MIN, KT_GRAD_SHIFT_MAX) &&
           kt_all_in_range(p->bias.shift, out_c, KT_GRAD_SHIFT_MIN, KT_GRAD_SHIFT_MAX);
}

#ifdef __cplusplus
}
#endif

#endif /* KT_CHECK_H */
