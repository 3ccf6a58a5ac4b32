/**
 * @file kt_train.h
 * @brief The interface of a generated training step (kilotrain's code generator writes
 *        kt_train.c into the build tree from a training plan; templates/kt_train.c.j2).
 *
 * One step: forward pass on the input in kt_model_input() saving what backward needs,
 * softmax cross-entropy against @p label, backward down to the earliest updated layer with
 * fused in-place QAS updates, then the scale policy on every gradient exponent
 * (docs/numerics.md). All integer; every buffer is in the planned arena or a planned static.
 */
#ifndef KT_TRAIN_H
#define KT_TRAIN_H

#include <stdint.h>

#include "kt_types.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Range of the run-time learning-rate exponent (kt_train_set_lr_shift()). */
#define KT_LR_SHIFT_MIN (-16)
#define KT_LR_SHIFT_MAX 16

/** What one step reports. */
typedef struct {
    int32_t status;       /**< kt_status of the step */
    uint32_t p_label_q15; /**< softmax probability of the label, Q15 ([0, 32768]) */
    int32_t predicted;    /**< argmax of the logits (forward pass of this step) */
    uint32_t saturated;   /**< gradient elements clamped to [-127, 127] in this step */
} kt_train_result;

/** One contiguous piece of the trainable parameters (weights int8, biases int32 LE). */
typedef struct {
    const uint8_t *data;
    uint32_t size;
} kt_train_segment;

/** Trainable parameters in the documented order (per trainable op: weights, then bias). */
extern const kt_train_segment kt_train_segments[];
extern const uint32_t kt_train_segment_count;

/** One contiguous piece of the mutable training state (kt_train_state[]). */
typedef struct {
    uint8_t *data;
    uint32_t size;
} kt_train_state_segment;

/**
 * The mutable training state a checkpoint holds (firmware/app/kt_checkpoint.c), in order: the
 * SRAM copies of the trainable parameters (the frozen rows of a split filter stay in flash and
 * are not part of it), then the gradient exponents (int32 each). With kt_train_steps() and
 * kt_train_lr_shift() it is everything a step depends on besides the input and the label.
 */
extern const kt_train_state_segment kt_train_state[];
extern const uint32_t kt_train_state_count;

/** Outputs of the classifier (the logits' size). */
extern const int32_t kt_train_classes;

/** Run one training step on the input already in kt_model_input(). @p label in [0, classes). */
kt_status kt_train_step(int32_t label, kt_train_result *result);

/**
 * The step's forward pass only, on the input already in kt_model_input(): fills predicted and
 * p_label_q15 of @p result (saturated = 0) and changes no parameter, exponent or step count.
 * @p label in [0, classes) (any one when only the prediction is wanted).
 */
kt_status kt_train_eval(int32_t label, kt_train_result *result);

/** The int8 logits of the last kt_train_eval() or kt_train_step() (kt_train_classes bytes). */
const int8_t *kt_train_logits(void);

/**
 * Learning rate of the following steps: the compiled one times 2^@p lr_shift, @p lr_shift in
 * [KT_LR_SHIFT_MIN, KT_LR_SHIFT_MAX] (else KT_ARG_ERROR and no change). 0 after reset.
 */
kt_status kt_train_set_lr_shift(int32_t lr_shift);

/** The learning-rate exponent in force. */
int32_t kt_train_lr_shift(void);

/** Steps applied since reset (or since the restored checkpoint's start); the key of the
 *  stochastic weight rounding. */
uint32_t kt_train_steps(void);

/** Set the applied-step count (restoring a checkpoint). */
void kt_train_set_steps(uint32_t steps);

#ifdef KT_PROFILE
/** The per-op profile of a -DKT_PROFILE build: counter ticks per region (the forward calls, the
 *  loss, the backward calls, the scale policy: codegen.train.ProfileEntry), summed since reset. */
extern uint64_t kt_profile_ticks[];
extern const uint32_t kt_profile_entries;
#endif

#ifdef __cplusplus
}
#endif

#endif /* KT_TRAIN_H */
