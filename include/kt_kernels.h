/**
 * @file kt_kernels.h
 * @brief Public API of the kilotrain int8 forward kernels (TFLite Micro reference semantics,
 *        bit-exact).
 *
 * Conventions (the same contract as python/kilotrain/model/params.py):
 * - activations are NHWC int8, described by a kt_dims {n, h, w, c};
 * - filters are {n = output channels, h = KH, w = KW, c = input channels}; a depthwise filter is
 *   {1, KH, KW, Cout};
 * - `*_offset` fields are *added*: input_offset = -input_zero_point, output_offset =
 *   +output_zero_point;
 * - a real multiplier m is multiplier * 2^(shift - 31), TFLM's MultiplyByQuantizedMultiplier
 *   rounding (firmware/kernels/internal/kt_requant.h);
 * - padding gives the top/left padding only; the output size is given by the output dims, so
 *   SAME padding with an odd total needs no extra field;
 * - fused ReLU / ReLU6 are the int8 clamp `activation`.
 *
 * Every function returns KT_OK, or KT_ARG_ERROR (and writes nothing) when an argument is outside
 * its documented range (one exception: kt_softmax_s8() checks TFLM's reciprocal-exponent bound
 * row by row, so rows before a failing row are written). No kernel allocates memory or uses static
 * state, and none needs scratch memory today (blocked kernels keep small fixed accumulator blocks
 * on the stack); a kernel that did would expose kt_<op>_get_buffer_size() and take a
 * caller-owned buffer of that size. Integer arithmetic only.
 */
#ifndef KT_KERNELS_H
#define KT_KERNELS_H

#include "kt_types.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Largest tensor rank handled by kt_pad_s8(), kt_transpose_s8() and kt_add_s8() broadcasting. */
#define KT_MAX_RANK 4

/** A 2-D quantity (stride, padding, dilation, filter size), height first. */
typedef struct {
    int32_t h; /**< along height */
    int32_t w; /**< along width */
} kt_tile;

/**
 * A filter stored in two parts, split between output channels (the outermost filter axis):
 * channels [0, split) in `head`, channels [split, Cout) in `tail`, each part in the filter's own
 * layout. A partially updated layer keeps its updated rows in SRAM (head) and its frozen rows in
 * flash (tail), and the kernels read both without a copy. A whole filter is {filter, NULL, Cout}.
 */
typedef struct {
    const int8_t *head; /**< rows [0, split); may be NULL when split == 0 */
    const int8_t *tail; /**< rows [split, Cout); may be NULL when split == Cout */
    int32_t split;      /**< [0, Cout] */
} kt_split_filter;

/** CONV_2D parameters (ConvParams). */
typedef struct {
    kt_tile stride;           /**< >= 1 */
    kt_tile padding;          /**< top / left padding, >= 0 */
    kt_tile dilation;         /**< >= 1 */
    int32_t input_offset;     /**< -input_zero_point, [-127, 128] */
    int32_t output_offset;    /**< output_zero_point, [-128, 127] */
    kt_activation activation; /**< int8 clamp */
} kt_conv_params;

/** DEPTHWISE_CONV_2D parameters (DepthwiseConvParams). */
typedef struct {
    kt_tile stride;           /**< >= 1 */
    kt_tile padding;          /**< top / left padding, >= 0 */
    kt_tile dilation;         /**< >= 1 */
    int32_t depth_multiplier; /**< >= 1; Cout = Cin * depth_multiplier */
    int32_t input_offset;     /**< [-127, 128] */
    int32_t output_offset;    /**< [-128, 127] */
    kt_activation activation;
} kt_dw_conv_params;

/** FULLY_CONNECTED parameters (FullyConnectedParams). */
typedef struct {
    int32_t input_offset;  /**< [-127, 128] */
    int32_t output_offset; /**< [-128, 127] */
    int32_t per_channel;   /**< 1: quant arrays have Cout entries; 0: one entry (per-tensor) */
    kt_activation activation;
} kt_fc_params;

/** ADD parameters (AddParams): TFLM's int8 AddElementwise arithmetic. */
typedef struct {
    int32_t input1_offset;     /**< -zp1, [-127, 128] */
    int32_t input2_offset;     /**< -zp2, [-127, 128] */
    int32_t output_offset;     /**< +zp_out, [-128, 127] */
    int32_t left_shift;        /**< [0, 22]; 20 for int8 */
    int32_t input1_multiplier; /**< Q31 */
    int32_t input1_shift;      /**< [-31, 30] */
    int32_t input2_multiplier;
    int32_t input2_shift;
    int32_t output_multiplier;
    int32_t output_shift;
    kt_activation activation;
} kt_add_params;

/** AVERAGE_POOL_2D parameters (AvgPoolParams); input and output share scale and zero point. */
typedef struct {
    kt_tile filter;  /**< >= 1 */
    kt_tile stride;  /**< >= 1 */
    kt_tile padding; /**< top / left, >= 0 */
    kt_activation activation;
} kt_pool_params;

/** MEAN over H and W parameters (MeanParams). */
typedef struct {
    int32_t input_offset;  /**< -zp_in, [-127, 128] */
    int32_t output_offset; /**< +zp_out, [-128, 127] */
    int32_t multiplier;    /**< Q31, s_in / s_out */
    int32_t shift;         /**< [-31, 30] */
} kt_mean_params;

/** PAD / PADV2 parameters (PadParams). */
typedef struct {
    int32_t rank;                /**< [1, KT_MAX_RANK] */
    int32_t before[KT_MAX_RANK]; /**< >= 0, per axis */
    int32_t after[KT_MAX_RANK];  /**< >= 0, per axis */
    int32_t pad_value;           /**< [-128, 127] (the output zero point for PAD) */
} kt_pad_params;

/** TRANSPOSE parameters (TransposeParams): output axis i is input axis perm[i]. */
typedef struct {
    int32_t rank;              /**< [1, KT_MAX_RANK] */
    int32_t perm[KT_MAX_RANK]; /**< a permutation of 0..rank-1 */
} kt_transpose_params;

/** SOFTMAX int8 -> int8 parameters (SoftmaxParams); output scale 1/256, zero point -128. */
typedef struct {
    int32_t input_multiplier; /**< Q31, from beta * input_scale * 2^(31 - 5) */
    int32_t input_left_shift; /**< [0, 31] */
    int32_t diff_min;         /**< <= 0; inputs with x - max < diff_min give -128 */
} kt_softmax_params;

/* ---------------------------------------------------------------------------------------------- */

/**
 * @brief Requantize an array of int32 values: out[i] = MultiplyByQuantizedMultiplier(acc[i],
 *        multiplier[i], shift[i]) (TFLM double rounding; x * 2^left wraps as int32).
 * @param count      number of elements, >= 0
 * @param acc        [count] int32
 * @param multiplier [count] Q31 multipliers
 * @param shift      [count] shifts, [-31, 30]
 * @param out        [count] int32 results
 */
kt_status kt_requantize_s32(int32_t count, const int32_t *acc, const int32_t *multiplier,
                            const int32_t *shift, int32_t *out);

/**
 * @brief CONV_2D int8, per-output-channel requantization; picks the fastest path
 *        (kt_conv2d_1x1_s8 for 1x1 filters, stride 1, no padding, same output size).
 * @param conv        stride, padding, dilation, offsets, clamp
 * @param quant       Cout multipliers and shifts ([-31, 30])
 * @param input_dims  {N, H, W, Cin}
 * @param input       int8 NHWC
 * @param filter_dims {Cout, KH, KW, Cin}
 * @param filter      int8 (Cout, KH, KW, Cin)
 * @param bias        int32 [Cout] or NULL
 * @param output_dims {N, OH, OW, Cout}
 * @param output      int8 NHWC
 */
kt_status kt_conv2d_s8(const kt_conv_params *conv, const kt_per_channel_quant *quant,
                       const kt_dims *input_dims, const int8_t *input, const kt_dims *filter_dims,
                       const int8_t *filter, const int32_t *bias, const kt_dims *output_dims,
                       int8_t *output);

/**
 * @brief CONV_2D int8 fast path: 1x1 filter, stride 1, no padding (OH = H, OW = W). Dilation is
 *        irrelevant for a 1x1 filter. The input offset is folded into the per-channel bias
 *        (sum(f * (x + o)) = sum(f * x) + o * sum(f)), so the inner loop is a plain dot product.
 *        Same arguments as kt_conv2d_s8(); KT_ARG_ERROR if the shape does not qualify.
 */
kt_status kt_conv2d_1x1_s8(const kt_conv_params *conv, const kt_per_channel_quant *quant,
                           const kt_dims *input_dims, const int8_t *input,
                           const kt_dims *filter_dims, const int8_t *filter, const int32_t *bias,
                           const kt_dims *output_dims, int8_t *output);

/** @brief kt_conv2d_s8() with a filter in two parts (kt_split_filter); same results. */
kt_status kt_conv2d_split_s8(const kt_conv_params *conv, const kt_per_channel_quant *quant,
                             const kt_dims *input_dims, const int8_t *input,
                             const kt_dims *filter_dims, const kt_split_filter *filter,
                             const int32_t *bias, const kt_dims *output_dims, int8_t *output);

/** @brief kt_conv2d_1x1_s8() with a filter in two parts (kt_split_filter); same results. */
kt_status kt_conv2d_1x1_split_s8(const kt_conv_params *conv, const kt_per_channel_quant *quant,
                                 const kt_dims *input_dims, const int8_t *input,
                                 const kt_dims *filter_dims, const kt_split_filter *filter,
                                 const int32_t *bias, const kt_dims *output_dims, int8_t *output);

/** Largest window (KH * KW * Cin, rounded up to a multiple of 8) of a packed filter. */
#define KT_PACKED_MAX_K 128

/** Words of one output channel's record in a packed filter of window k (a multiple of 8). */
#define KT_PACKED_RECORD_WORDS(k) ((k) / 2 + 5)

/**
 * A frozen CONV_2D filter packed at compile time (python/kilotrain/kernels/packed.py writes it):
 * Cout records, one per output channel, each KT_PACKED_RECORD_WORDS(k) int32 words:
 * - k / 2 filter words: the channel's window (KH, KW, Cin order, zero past KH * KW * Cin) as
 *   16-bit lanes, each group of four bytes b0..b3 as two words (b0 | b2 << 16), (b1 | b3 << 16) --
 *   the lanes SXTB16 gives of a word and of the word rotated by 8;
 * - start: bias + input_offset * (sum of the channel's filter) (without the bias when the
 *   kernel is given one at run time);
 * - multiplier (>= 0), c_hi = 2^(-shift - 2), sh = -shift - 1 (the output stage's short form:
 *   shift <= -2; firmware/kernels/internal/kt_requant.h), and the output offset.
 * Every channel takes the short form and the clamp is the whole int8 range; the packer refuses
 * other layers (they keep kt_conv2d_s8()).
 */
typedef struct {
    const int32_t *records; /**< Cout * KT_PACKED_RECORD_WORDS(k) words */
    int32_t k;              /**< KH * KW * Cin rounded up to a multiple of 8, <= KT_PACKED_MAX_K */
} kt_packed_filter;

/**
 * @brief CONV_2D int8 with a packed frozen filter: the same bytes as kt_conv2d_s8() with the
 *        filter, bias and requantization the record was packed from. Each output pixel's window
 *        is gathered once (the zero point in the padding) and widened to 16-bit lanes, then every
 *        output channel is one run of dual multiply-accumulates over it and the one-SMLAL output
 *        stage (DSP builds: one assembly loop, no unpacking of the filter).
 * @param conv        stride, padding, dilation, offsets; the clamp must be [-128, 127]
 * @param packed      the packed filter; records[].output offset == conv->output_offset
 * @param bias        int32 [Cout] added at run time (a bias being trained; the records' start
 *                    values then hold input_offset * sum(f) only), or NULL
 * @param input_dims  {N, H, W, Cin}
 * @param filter_dims {Cout, KH, KW, Cin} of the filter it was packed from
 * @param output_dims {N, OH, OW, Cout}
 * @return KT_OK; KT_ARG_ERROR for dims that disagree, k != KH * KW * Cin rounded up to 8 or above
 *         KT_PACKED_MAX_K, a record outside the short form, or a clamp narrower than int8.
 */
kt_status kt_conv2d_packed_s8(const kt_conv_params *conv, const kt_packed_filter *packed,
                              const int32_t *bias, const kt_dims *input_dims, const int8_t *input,
                              const kt_dims *filter_dims, const kt_dims *output_dims,
                              int8_t *output);

/**
 * @brief DEPTHWISE_CONV_2D int8, any KH x KW (3, 5, 7, ...), any stride and dilation, any depth
 *        multiplier; output channel oc = ic * depth_multiplier + m.
 * @param dw          stride, padding, dilation, depth multiplier, offsets, clamp
 * @param quant       Cout multipliers and shifts ([-31, 30])
 * @param input_dims  {N, H, W, Cin}
 * @param filter_dims {1, KH, KW, Cout}, Cout = Cin * depth_multiplier
 * @param bias        int32 [Cout] or NULL
 * @param output_dims {N, OH, OW, Cout}
 */
kt_status kt_depthwise_conv2d_s8(const kt_dw_conv_params *dw, const kt_per_channel_quant *quant,
                                 const kt_dims *input_dims, const int8_t *input,
                                 const kt_dims *filter_dims, const int8_t *filter,
                                 const int32_t *bias, const kt_dims *output_dims, int8_t *output);

/**
 * @brief FULLY_CONNECTED int8: out[b, o] = clamp(requant(sum_i w[o, i] * (x[b, i] + in_off) +
 *        bias[o]) + out_off). Per-tensor (fc->per_channel = 0) or per-channel requantization.
 * @param input_dims  {N, 1, 1, Cin} (h and w must be 1)
 * @param filter_dims {Cout, 1, 1, Cin}
 * @param bias        int32 [Cout] or NULL
 * @param output_dims {N, 1, 1, Cout}
 */
kt_status kt_fully_connected_s8(const kt_fc_params *fc, const kt_per_channel_quant *quant,
                                const kt_dims *input_dims, const int8_t *input,
                                const kt_dims *filter_dims, const int8_t *filter,
                                const int32_t *bias, const kt_dims *output_dims, int8_t *output);

/** @brief kt_fully_connected_s8() with a filter in two parts (kt_split_filter); same results. */
kt_status kt_fully_connected_split_s8(const kt_fc_params *fc, const kt_per_channel_quant *quant,
                                      const kt_dims *input_dims, const int8_t *input,
                                      const kt_dims *filter_dims, const kt_split_filter *filter,
                                      const int32_t *bias, const kt_dims *output_dims,
                                      int8_t *output);

/**
 * @brief ADD int8 with numpy-style broadcasting over 4-D shapes (TFLM AddElementwise /
 *        BroadcastAdd arithmetic). Each input dim equals the output dim or is 1.
 * @param input1_dims {d0, d1, d2, d3} (lower-rank shapes are padded with leading 1s)
 * @param input2_dims same for input 2
 * @param output_dims the broadcast shape
 */
kt_status kt_add_s8(const kt_add_params *add, const kt_dims *input1_dims, const int8_t *input1,
                    const kt_dims *input2_dims, const int8_t *input2, const kt_dims *output_dims,
                    int8_t *output);

/**
 * @brief AVERAGE_POOL_2D int8 (TFLM reference): the average over the in-image part of each
 *        window, rounded half away from zero; an all-padding window is an argument error.
 * @param input_dims  {N, H, W, C}
 * @param output_dims {N, OH, OW, C}
 */
kt_status kt_avg_pool_s8(const kt_pool_params *pool, const kt_dims *input_dims, const int8_t *input,
                         const kt_dims *output_dims, int8_t *output);

/**
 * @brief MEAN over H and W int8 (TFLM EvalIntegerMean -> reference_ops::QuantizedMeanOrSum):
 *        1/(H*W) folded into the multiplier once (s = min(floor(log2(HW)), 32, 31 + shift),
 *        m' = (m << s) / HW, shift' = shift - s), then per channel
 *        clamp(MBQM(sum(x) + in_off * HW, m', shift') + out_off, -128, 127).
 * @param mean        offsets, multiplier >= 0 (s_in / s_out), shift [-31, 30]
 * @param input_dims  {N, H, W, C}, H * W < 2^23
 * @param output_dims {N, 1, 1, C}
 */
kt_status kt_mean_s8(const kt_mean_params *mean, const kt_dims *input_dims, const int8_t *input,
                     const kt_dims *output_dims, int8_t *output);

/**
 * @brief PAD int8: output shape[i] = input shape[i] + before[i] + after[i], filled with pad_value.
 * @param input_shape [pad->rank] input dims, >= 1
 */
kt_status kt_pad_s8(const kt_pad_params *pad, const int32_t *input_shape, const int8_t *input,
                    int8_t *output);

/**
 * @brief TRANSPOSE int8: output[..., j_i, ...] = input[... indexed by perm ...], rank <= 4.
 * @param input_shape [tr->rank] input dims, >= 1
 */
kt_status kt_transpose_s8(const kt_transpose_params *tr, const int32_t *input_shape,
                          const int8_t *input, int8_t *output);

/**
 * @brief SOFTMAX int8 -> int8 over the innermost axis (TFLM reference_ops::Softmax, gemmlowp
 *        fixed point: exp_on_negative_values, 12 accumulation integer bits, reciprocal by
 *        Newton-Raphson). Output scale 1/256, zero point -128.
 * @param rows  number of rows (product of the outer dims), >= 0
 * @param depth length of the softmax axis, >= 1; depth < 512 always passes TFLM's check that the
 *              reciprocal exponent is in [0, 31] (longer rows may fail it: KT_ARG_ERROR)
 */
kt_status kt_softmax_s8(const kt_softmax_params *sm, int32_t rows, int32_t depth,
                        const int8_t *input, int8_t *output);

#ifdef __cplusplus
}
#endif

#endif /* KT_KERNELS_H */
