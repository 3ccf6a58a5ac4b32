/**
 * @file kt_types.h
 * @brief Common types of the kilotrain engine and kernels: status codes, tensor dimensions,
 *        quantization parameter structs.
 *
 * C99, no dynamic memory. Every kernel takes caller-owned buffers; none needs scratch memory
 * today (a kernel that did would expose `kt_<op>_get_buffer_size()` and take a caller buffer).
 */
#ifndef KT_TYPES_H
#define KT_TYPES_H

#include <stdint.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Version of the C interface (these headers) that generated code is written against; generated
 *  C checks it and refuses to build against another (python/kilotrain/contract.py: C_API_VERSION). */
#define KT_C_API_VERSION 1

/** Status returned by kernels and engine calls. */
typedef enum {
    KT_OK = 0,         /**< success */
    KT_ARG_ERROR = -1, /**< an argument is outside its documented range */
    KT_NO_IMPL = -2,   /**< the combination of arguments is not implemented */
} kt_status;

/** Dimensions of an NHWC tensor (or a 4-D filter: n = output channels, c = input channels). */
typedef struct {
    int32_t n; /**< batch (or output channels for a filter) */
    int32_t h; /**< height */
    int32_t w; /**< width */
    int32_t c; /**< channels (innermost, contiguous) */
} kt_dims;

/**
 * Per-output-channel requantization (arrays of length = output channels): real multiplier of
 * channel i = multiplier[i] * 2^(shift[i] - 31).
 */
typedef struct {
    const int32_t *multiplier; /**< Q31 multipliers, [2^30, 2^31 - 1] or 0 */
    const int32_t *shift;      /**< left shift if > 0, right shift if < 0; forward: [-31, 30] */
} kt_per_channel_quant;

/** Clamp range of an int8 activation (fused ReLU / ReLU6 narrow it). */
typedef struct {
    int32_t min; /**< [-128, 127] */
    int32_t max; /**< [min, 127] */
} kt_activation;

#ifdef __cplusplus
}
#endif

#endif /* KT_TYPES_H */
