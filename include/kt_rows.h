/**
 * @file kt_rows.h
 * @brief Row-streamed execution of a chain of spatial ops (the fused frozen prefix of a training
 *        step): intermediate tensors live in bands of a few rows, and a static list of events
 *        ("stage k: produce your next n output rows") pulls rows through the chain. The code
 *        generator computes the events and the band sizes (python/kilotrain/codegen/rows.py,
 *        whose run_rows() is the numpy twin of kt_rows_run()); results are bit-exact with
 *        running each op on whole tensors, because every event calls the ordinary kernel on a
 *        sub-problem with the same taps, padding and arithmetic.
 */
#ifndef KT_ROWS_H
#define KT_ROWS_H

#include <stdint.h>

#include "kt_kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

/** What a stage computes. */
typedef enum {
    KT_ROWS_CONV = 0, /**< kt_conv2d_s8, or kt_conv2d_packed_s8 (params: kt_conv_params) */
    KT_ROWS_DW = 1,   /**< kt_depthwise_conv2d_s8 (params: kt_dw_conv_params) */
    KT_ROWS_ADD = 2,  /**< kt_add_s8 on same-shape inputs (params: kt_add_params) */
} kt_rows_kind;

/** Storage of one NHWC (N = 1) tensor: cap rows of w * c bytes. */
typedef struct {
    int8_t *data;  /**< cap * w * c bytes (in the arena) */
    int32_t h;     /**< rows of the whole tensor, >= 1 */
    int32_t w;     /**< >= 1 */
    int32_t c;     /**< >= 1 */
    int32_t cap;   /**< rows held, [1, h]; h for a whole tensor */
    int32_t ready; /**< rows present before the first event: h (a segment input) or 0 */
} kt_band;

/** Run-time state of a band: it holds rows [lo, hi) at storage rows 0 .. hi - lo. */
typedef struct {
    int32_t lo;
    int32_t hi;
} kt_band_state;

/** One op of the chain. */
typedef struct {
    int32_t kind;                      /**< kt_rows_kind */
    const void *params;                /**< per kind (see kt_rows_kind) */
    const kt_per_channel_quant *quant; /**< CONV / DW; NULL for ADD */
    const kt_dims *filter_dims;        /**< CONV / DW; NULL for ADD */
    const int8_t *filter;              /**< CONV / DW; NULL for ADD */
    const int32_t *bias;               /**< CONV / DW, may be NULL (packed: a run-time bias) */
    const kt_packed_filter
        *packed; /**< CONV: the frozen filter packed (kt_conv2d_packed_s8), or NULL */
    int32_t in0; /**< band index of the (first) input */
    int32_t in1; /**< ADD: band index of the second input; else -1 */
    int32_t out; /**< band index of the output */
} kt_rows_stage;

/** Run-time progress of a segment: the next event, and the bytes of a partly received row of a
 *  streamed input. */
typedef struct {
    int32_t next_event;
    int32_t partial;
} kt_rows_progress;

/** A fused segment: bands, stages and the events to run in order. */
typedef struct {
    const kt_band *bands;
    kt_band_state *state; /**< n_bands entries, owned by the generated code */
    int32_t n_bands;
    int32_t stream;             /**< index of the streamed input band (ready = 0), or -1 */
    kt_rows_progress *progress; /**< owned by the generated code */
    const kt_rows_stage *stages;
    int32_t n_stages;
    const uint16_t *event_stage; /**< stage of each event */
    const uint16_t *event_rows;  /**< output rows each event produces, >= 1 */
    int32_t n_events;
} kt_rows_plan;

/**
 * @brief Finish the segment: run every remaining event, so the output band ends up whole. Before
 *        writing rows [hi, hi + n) of a band, its oldest rows are dropped (memmove) if
 *        hi + n - lo > cap. Without a streamed input the segment starts from scratch; with one,
 *        every input byte must have been fed (kt_rows_feed()) since the last offset 0.
 * @return KT_OK; KT_ARG_ERROR if a pointer or index is invalid, the streamed input is incomplete,
 *         or an event reads a row its band no longer (or not yet) holds (a schedule that does not
 *         match its bands); the status of a kernel that failed.
 */
kt_status kt_rows_run(const kt_rows_plan *plan);

/**
 * @brief Feed bytes [offset, offset + n) of the streamed input (plan->stream >= 0). Offset 0
 *        starts a new input (all bands reset); bytes must then come in order: a range already
 *        received is skipped (a retransmission), a gap is an error. Every completed row runs the
 *        events it makes possible, so the input band only ever holds the rows still needed.
 * @return KT_OK; KT_ARG_ERROR for a plan without a streamed input, a gap, bytes beyond the
 *         input, or a schedule error; the status of a kernel that failed.
 */
kt_status kt_rows_feed(const kt_rows_plan *plan, uint32_t offset, const int8_t *data, uint32_t n);

#ifdef KT_PROFILE
/**
 * Profiling hooks of a -DKT_PROFILE training build (defined by the generated kt_train.c): called
 * around each event's kernel call, so the per-op profile covers the row-streamed prefix too.
 */
void kt_profile_rows_begin(void);
void kt_profile_rows_end(int32_t stage);
#endif

#ifdef __cplusplus
}
#endif

#endif /* KT_ROWS_H */
