/**
 * @file kt_model.h
 * @brief The interface of a generated model (kilotrain's code generator writes kt_model.c into
 *        the build tree; templates/kt_model.c.j2). The firmware app uses only this header.
 */
#ifndef KT_MODEL_H
#define KT_MODEL_H

#include <stdint.h>

#include "kt_types.h"

#ifdef __cplusplus
extern "C" {
#endif

/** What the generated model is. */
typedef struct {
    const char *name;      /**< model name (file stem) */
    uint32_t arena_size;   /**< bytes of the planned activation arena */
    uint32_t input_size;   /**< bytes of the int8 input tensor */
    uint32_t output_size;  /**< bytes of the int8 output tensor */
    uint32_t op_count;     /**< ops in the schedule */
    uint64_t model_digest; /**< first 8 bytes of the model's SHA-256 (Graph.digest) */
    uint64_t train_digest; /**< first 8 bytes of the training plan's (TrainPlan.digest); 0: none */
    uint32_t input_height; /**< input geometry (1 x 1 x features for a flat input) */
    uint32_t input_width;
    uint32_t input_channels;
    int32_t input_zero_point; /**< input quantization: real = scale * (q - zero_point) */
    uint32_t input_scale_f32; /**< the scale's IEEE-754 bits (reported, never computed with) */
    uint32_t classes;         /**< outputs of the classifier */
} kt_model_desc;

extern const kt_model_desc kt_model;

/** The input tensor inside the arena, or NULL when the input is row-streamed (write it with
 *  kt_model_input_write()). */
int8_t *kt_model_input(void);

/**
 * Write bytes [offset, offset + n) of the input tensor. When the model's input is row-streamed
 * into a fused prefix (include/kt_rows.h), offset 0 starts a new input and the bytes must come in
 * order (a range already received is skipped); each complete row is consumed at once, and one
 * invoke or training step consumes the input: write it again before the next.
 * @return KT_OK, or KT_ARG_ERROR for bytes outside the input or out of order.
 */
kt_status kt_model_input_write(uint32_t offset, const int8_t *data, uint32_t n);

/** The output tensor inside the arena (valid after a successful invoke). */
const int8_t *kt_model_output(void);

/** Run the forward pass: the generated straight-line list of kernel calls. */
kt_status kt_model_invoke(void);

#ifdef __cplusplus
}
#endif

#endif /* KT_MODEL_H */
