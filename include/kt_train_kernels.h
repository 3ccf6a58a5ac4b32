/**
 * @file kt_train_kernels.h
 * @brief Public API of the kilotrain integer backward / update kernels (docs/numerics.md,
 *        "Backward and update: the integer training contract"), bit-exact with the numpy golden
 *        ops python/kilotrain/reference/<name>.py; the param structs mirror the records of
 *        python/kilotrain/reference/grad_params.py field by field.
 *
 * Conventions (in addition to kt_kernels.h):
 * - a gradient tensor is int8 in [-127, 127] with a power-of-two scale, real = g * 2^e; the
 *   run-time exponents (e_gy, e_gx, ...) are int32 arguments in [KT_GRAD_EXP_MIN,
 *   KT_GRAD_EXP_MAX];
 * - compile-time (multiplier, shift) pairs are QuantizeMultiplier results, real = m * 2^(shift -
 *   31); their shifts are in [KT_GRAD_SHIFT_MIN, KT_GRAD_SHIFT_MAX];
 * - a kernel that writes an int8 gradient fills *stats (overwritten, not accumulated) with the
 *   number of saturated elements and max |g| (kt_grad_stats);
 * - accumulators are int32: the compiler guarantees the overflow bounds of the contract
 *   (input gradient: K * 127 * 128 * 2^H < 2^31; update: P * 128 * 255 < 2^31); the kernels do
 *   not re-check them.
 *
 * Every function returns KT_OK, or KT_ARG_ERROR (and writes nothing) when an argument is outside
 * its documented range. No malloc, no static state, no floating point, no scratch buffers (h is
 * computed on the fly; accumulator blocks of 32 int32 live on the stack).
 *
 * The fixed-point primitives behind the kernels (scale_round, shift_round, to_grad8, the weight
 * update) are internal: firmware/kernels/internal/kt_grad_quant.h.
 */
#ifndef KT_TRAIN_KERNELS_H
#define KT_TRAIN_KERNELS_H

#include "kt_kernels.h"
#include "kt_types.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Range of run-time gradient exponents accepted by the kernels. */
#define KT_GRAD_EXP_MIN (-64)
#define KT_GRAD_EXP_MAX 64
/** Range of compile-time shifts in the backward param structs. */
#define KT_GRAD_SHIFT_MIN (-31)
#define KT_GRAD_SHIFT_MAX 63
/** Largest per-channel fold shift (the fold ratio s_W[co] / max s_W is <= 1). */
#define KT_GRAD_CHAN_SHIFT_MAX 1
/** Largest input-gradient headroom H. */
#define KT_GRAD_HEADROOM_MAX 8

/** Statistics of one int8 gradient tensor (scale policy input). */
typedef struct {
    int32_t saturated; /**< elements clamped to [-127, 127] (|v| > 127), >= 0 */
    int32_t amax;      /**< max |g| after clamping, [0, 127] (0 for an empty tensor) */
} kt_grad_stats;

/** CONV_2D input-gradient parameters (ConvGradParams). */
typedef struct {
    kt_tile stride;            /**< >= 1 */
    kt_tile padding;           /**< top / left, >= 0 */
    kt_tile dilation;          /**< >= 1 */
    kt_per_channel_quant chan; /**< [Cout] QuantizeMultiplier(s_W[co] / max s_W) (<= 1);
                                    shifts in [KT_GRAD_SHIFT_MIN, KT_GRAD_CHAN_SHIFT_MAX] */
    int32_t headroom;          /**< H, [0, KT_GRAD_HEADROOM_MAX] */
    int32_t x_multiplier;      /**< QuantizeMultiplier(max s_W) */
    int32_t x_shift;           /**< [KT_GRAD_SHIFT_MIN, KT_GRAD_SHIFT_MAX] */
} kt_conv_grad_params;

/** DEPTHWISE_CONV_2D input-gradient parameters (DepthwiseConvGradParams). */
typedef struct {
    kt_tile stride;
    kt_tile padding;
    kt_tile dilation;
    int32_t depth_multiplier;  /**< >= 1; Cout = Cin * depth_multiplier */
    kt_per_channel_quant chan; /**< [Cout] */
    int32_t headroom;
    int32_t x_multiplier;
    int32_t x_shift;
} kt_dw_conv_grad_params;

/** FULLY_CONNECTED input-gradient parameters (FullyConnectedGradParams). */
typedef struct {
    kt_per_channel_quant chan; /**< [Cout] */
    int32_t headroom;
    int32_t x_multiplier;
    int32_t x_shift;
} kt_fc_grad_params;

/** Fused QAS update parameters of a conv / depthwise / FC layer (UpdateParams). */
typedef struct {
    int32_t n_weight_channels; /**< [0, Cout]; weights of channels < n are updated, 0 = bias only */
    kt_per_channel_quant
        weight;                /**< [Cout] (entries >= n unused) QuantizeMultiplier(lr s_x / s_W) */
    kt_per_channel_quant bias; /**< [Cout] QuantizeMultiplier(lr / (s_x s_W)) */
    int32_t input_zero_point;  /**< zx of the saved input, [-128, 127] */
    kt_tile stride;            /**< forward geometry (conv, depthwise; FC ignores it) */
    kt_tile padding;
    kt_tile dilation;
    int32_t depth_multiplier; /**< depthwise only (>= 1; Cout = Cin * dm) */
    int32_t stochastic; /**< 1: weights round stochastically (u = hash32(key ^ i)), 0: nearest */
} kt_update_params;

/** ReLU mask parameters (ReluMaskParams). */
typedef struct {
    int32_t act_min; /**< [-128, 127] */
    int32_t act_max; /**< [act_min, 127] */
    int32_t relu6;   /**< 0: bit = act_min < y; 1: bit = act_min < y < act_max */
} kt_relu_mask_params;

/** AVERAGE_POOL_2D / MEAN input-gradient parameters (PoolGradParams). */
typedef struct {
    kt_tile filter;           /**< >= 1 */
    kt_tile stride;           /**< >= 1 */
    int32_t count_multiplier; /**< QuantizeMultiplier(1 / (filter.h * filter.w)) */
    int32_t count_shift;      /**< [KT_GRAD_SHIFT_MIN, KT_GRAD_SHIFT_MAX] */
} kt_pool_grad_params;

/** Softmax cross-entropy parameters (SoftmaxCeParams). */
typedef struct {
    const uint16_t *exp_table; /**< [256] round(2^15 exp(-d s_z)); exp_table[0] >= 1 */
} kt_softmax_ce_params;

/** @brief The "lowbias32" hash (mod 2^32) of the stochastic weight rounding. */
static inline uint32_t kt_hash32(uint32_t x)
{
    x ^= x >> 16;
    x *= 0x7feb352dU;
    x ^= x >> 15;
    x *= 0x846ca68bU;
    x ^= x >> 16;
    return x;
}

/** @brief Key of one layer's stochastic weight update: hash32(step * 0x85EBCA6B + op_position). */
static inline uint32_t kt_update_key(uint32_t step, uint32_t op_position)
{
    return kt_hash32(step * 0x85EBCA6BU + op_position);
}

/* ---------------------------------------------------------------------------------------------- */

/**
 * @brief CONV_2D input gradient: h = scale_round(gy, chan.m[co], chan.s[co] + H);
 *        acc[ih,iw,ci] = sum of W[co,kh,kw,ci] * h[oh,ow,co] over the taps that read x[ih,iw,ci];
 *        gx = to_grad8(scale_round(acc, x_multiplier, x_shift + e_gy - H - e_gx)).
 * @param e_gy, e_gx        exponents of gy and gx, [KT_GRAD_EXP_MIN, KT_GRAD_EXP_MAX]
 * @param grad_output_dims  {N, OH, OW, Cout}
 * @param grad_output       int8 gy
 * @param filter_dims       {Cout, KH, KW, Cin}
 * @param grad_input_dims   {N, H, W, Cin} (the forward input)
 * @param grad_input        int8 gx (written)
 * @param stats             gx statistics (written)
 */
kt_status kt_conv2d_input_grad_s8(const kt_conv_grad_params *p, int32_t e_gy, int32_t e_gx,
                                  const kt_dims *grad_output_dims, const int8_t *grad_output,
                                  const kt_dims *filter_dims, const int8_t *filter,
                                  const kt_dims *grad_input_dims, int8_t *grad_input,
                                  kt_grad_stats *stats);

/** @brief kt_conv2d_input_grad_s8() with a filter in two parts (kt_split_filter); same results. */
kt_status kt_conv2d_input_grad_split_s8(const kt_conv_grad_params *p, int32_t e_gy, int32_t e_gx,
                                        const kt_dims *grad_output_dims, const int8_t *grad_output,
                                        const kt_dims *filter_dims, const kt_split_filter *filter,
                                        const kt_dims *grad_input_dims, int8_t *grad_input,
                                        kt_grad_stats *stats);

/**
 * @brief DEPTHWISE_CONV_2D input gradient: as kt_conv2d_input_grad_s8(), input channel ci
 *        gathers output channels co = ci * depth_multiplier + j.
 * @param filter_dims {1, KH, KW, Cout}
 */
kt_status kt_depthwise_conv2d_input_grad_s8(const kt_dw_conv_grad_params *p, int32_t e_gy,
                                            int32_t e_gx, const kt_dims *grad_output_dims,
                                            const int8_t *grad_output, const kt_dims *filter_dims,
                                            const int8_t *filter, const kt_dims *grad_input_dims,
                                            int8_t *grad_input, kt_grad_stats *stats);

/**
 * @brief FULLY_CONNECTED input gradient: gx[n,ci] = to_grad8(scale_round(sum_co w[co,ci] *
 *        h[n,co], x_multiplier, x_shift + e_gy - H - e_gx)).
 * @param grad_output_dims {N, 1, 1, Cout}
 * @param filter_dims      {Cout, 1, 1, Cin}
 * @param grad_input_dims  {N, 1, 1, Cin}
 */
kt_status kt_fully_connected_input_grad_s8(const kt_fc_grad_params *p, int32_t e_gy, int32_t e_gx,
                                           const kt_dims *grad_output_dims,
                                           const int8_t *grad_output, const kt_dims *filter_dims,
                                           const int8_t *filter, const kt_dims *grad_input_dims,
                                           int8_t *grad_input, kt_grad_stats *stats);

/** @brief kt_fully_connected_input_grad_s8() with a filter in two parts (kt_split_filter). */
kt_status kt_fully_connected_input_grad_split_s8(
    const kt_fc_grad_params *p, int32_t e_gy, int32_t e_gx, const kt_dims *grad_output_dims,
    const int8_t *grad_output, const kt_dims *filter_dims, const kt_split_filter *filter,
    const kt_dims *grad_input_dims, int8_t *grad_input, kt_grad_stats *stats);

/**
 * @brief CONV_2D fused QAS update, in place: for co < n_weight_channels
 *        W[co] = clamp(W[co] - scale_round(sum gy * (x - zx), weight.m[co], weight.s[co] + e_gy),
 *        -127, 127); for every co b[co] = sat32(b[co] - scale_round(sum gy, bias.m[co],
 *        bias.s[co] + e_gy)). Taps in the padding add 0. Call it after the layer's input
 *        gradient (which uses the old weights). With p->stochastic = 1 the weight delta is
 *        kt_scale_round_sr(acc, .., hash32(key ^ i)) instead, i = the element's flat index in
 *        the filter (docs/numerics.md).
 * @param e_gy             exponent of gy
 * @param key              per-layer, per-step key (kt_update_key()); ignored if stochastic = 0
 * @param input_dims       {N, H, W, Cin} (saved forward input x)
 * @param grad_output_dims {N, OH, OW, Cout}
 * @param filter_dims      {Cout, KH, KW, Cin}
 * @param filter           int8, updated in place
 * @param bias             int32 [Cout], updated in place, or NULL
 */
kt_status kt_conv2d_update_s8(const kt_update_params *p, int32_t e_gy, uint32_t key,
                              const kt_dims *input_dims, const int8_t *input,
                              const kt_dims *grad_output_dims, const int8_t *grad_output,
                              const kt_dims *filter_dims, int8_t *filter, int32_t *bias);

/**
 * @brief DEPTHWISE_CONV_2D fused QAS update, in place (channel co reads input channel
 *        co / depth_multiplier). Same arguments as kt_conv2d_update_s8(); filter_dims
 *        {1, KH, KW, Cout}.
 */
kt_status kt_depthwise_conv2d_update_s8(const kt_update_params *p, int32_t e_gy, uint32_t key,
                                        const kt_dims *input_dims, const int8_t *input,
                                        const kt_dims *grad_output_dims, const int8_t *grad_output,
                                        const kt_dims *filter_dims, int8_t *filter, int32_t *bias);

/**
 * @brief FULLY_CONNECTED fused QAS update, in place. input_dims {N, 1, 1, Cin},
 *        grad_output_dims {N, 1, 1, Cout}, filter_dims {Cout, 1, 1, Cin}.
 */
kt_status kt_fully_connected_update_s8(const kt_update_params *p, int32_t e_gy, uint32_t key,
                                       const kt_dims *input_dims, const int8_t *input,
                                       const kt_dims *grad_output_dims, const int8_t *grad_output,
                                       const kt_dims *filter_dims, int8_t *filter, int32_t *bias);

/**
 * @brief Pack the ReLU mask of a forward output: bit i (LSB first, byte i / 8) = act_min < y[i]
 *        (and y[i] < act_max if relu6); unused bits of the last byte are 0.
 * @param count elements, >= 0
 * @param output int8 forward output [count]
 * @param mask   [(count + 7) / 8] bytes (written)
 */
kt_status kt_relu_mask_pack_s8(const kt_relu_mask_params *p, int32_t count, const int8_t *output,
                               uint8_t *mask);

/**
 * @brief Apply a packed ReLU mask: out[i] = bit i ? grad[i] : 0 (out may equal grad).
 * @param count elements, >= 0
 */
kt_status kt_relu_mask_apply_s8(int32_t count, const uint8_t *mask, const int8_t *grad,
                                int8_t *out);

/**
 * @brief AVERAGE_POOL_2D / MEAN input gradient (equal windows, no padding):
 *        gx = to_grad8(scale_round(sum of gy over the windows containing the element,
 *        count_multiplier, count_shift + e_gy - e_gx)); elements in no window get 0.
 * @param grad_output_dims {N, OH, OW, C}, (OH - 1) * stride.h + filter.h <= H (same for W)
 * @param grad_input_dims  {N, H, W, C}
 */
kt_status kt_avg_pool_grad_s8(const kt_pool_grad_params *p, int32_t e_gy, int32_t e_gx,
                              const kt_dims *grad_output_dims, const int8_t *grad_output,
                              const kt_dims *grad_input_dims, int8_t *grad_input,
                              kt_grad_stats *stats);

/**
 * @brief PAD / PADV2 input gradient: the gradient of the padded output with the padding cut away
 *        (grad_input = grad_output[before[i] : before[i] + input_shape[i]] on every axis). Moves
 *        bytes only: the input gradient keeps the output gradient's exponent, no stats.
 * @param pad         the forward op's parameters (rank <= KT_MAX_RANK; pad_value unused)
 * @param input_shape [pad->rank] the forward input's dims, >= 1
 * @param grad_output int8, the forward output's shape (input_shape + before + after)
 * @param grad_input  int8, input_shape (written)
 */
kt_status kt_pad_grad_s8(const kt_pad_params *pad, const int32_t *input_shape,
                         const int8_t *grad_output, int8_t *grad_input);

/**
 * @brief TRANSPOSE input gradient: the output gradient transposed by the inverse permutation
 *        (grad_input axis perm[i] = grad_output axis i). Moves bytes only, as kt_pad_grad_s8().
 * @param tr          the forward op's parameters (rank <= KT_MAX_RANK)
 * @param input_shape [tr->rank] the forward input's dims, >= 1
 * @param grad_output int8, the forward output's shape (input_shape[perm[i]])
 * @param grad_input  int8, input_shape (written)
 */
kt_status kt_transpose_grad_s8(const kt_transpose_params *tr, const int32_t *input_shape,
                               const int8_t *grad_output, int8_t *grad_input);

/**
 * @brief Rescale a gradient to another exponent (ADD input path):
 *        out = to_grad8(shift_round(in, e_out - e_in)); out may equal in.
 */
kt_status kt_grad_rescale_s8(int32_t count, int32_t e_in, int32_t e_out, const int8_t *input,
                             int8_t *output, kt_grad_stats *stats);

/**
 * @brief Fan-out sum: out = to_grad8(shift_round(g1, e - e1) + shift_round(g2, e - e2)) (the sum
 *        is exact, in 64 bits); out may equal g1 or g2.
 */
kt_status kt_grad_sum_s8(int32_t count, const int8_t *g1, int32_t e1, const int8_t *g2, int32_t e2,
                         int32_t e, int8_t *output, kt_grad_stats *stats);

/**
 * @brief Softmax cross-entropy gradient from int8 logits, row by row: d = max - z,
 *        S = sum E[d], p = (E[d] 2^15 + S / 2) / S (Q15), g = p - 2^15 [i == label],
 *        gz = to_grad8(shift_round(g, 15 + e_z)).
 * @param rows      >= 0
 * @param depth     classes, [1, 32768] (so S and E * 2^15 + S / 2 fit in uint32)
 * @param e_z       exponent of gz
 * @param logits    int8 [rows * depth]
 * @param labels    int32 [rows], each in [0, depth)
 * @param grad      int8 [rows * depth] (written)
 * @param stats     over all rows (written)
 * @param p_label   int32 [rows]: p of the label, Q15 in [0, 32768] (written)
 * @param correct   uint8 [rows]: 1 iff the first argmax of the row is the label (written)
 */
kt_status kt_softmax_ce_grad_s8(const kt_softmax_ce_params *p, int32_t rows, int32_t depth,
                                int32_t e_z, const int8_t *logits, const int32_t *labels,
                                int8_t *grad, kt_grad_stats *stats, int32_t *p_label,
                                uint8_t *correct);

#ifdef __cplusplus
}
#endif

#endif /* KT_TRAIN_KERNELS_H */
