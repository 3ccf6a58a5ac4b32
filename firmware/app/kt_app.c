/* Device side of the serial protocol: dispatch of request frames (docs/protocol.md). */
#include <string.h>

#include "kt_app.h"
#include "kt_bsp.h"
#ifdef KT_HAVE_MODEL
#include "kt_model.h"
#endif
#ifdef KT_HAVE_TRAIN
#include "kt_checkpoint.h"
#include "kt_train.h"
#endif

/* kt_wire.h (included by kt_frame.h) is generated from the wire schema at build time; this file is
 * written for the layouts of schema version KT_WIRE_RUNTIME_VERSION (kt_app.h). */
#if KT_WIRE_SCHEMA_VERSION > KT_WIRE_RUNTIME_VERSION
#error \
    "kt_wire.h has a newer wire schema than this C runtime: update firmware/app/kt_app.c to the layouts of python/kilotrain/device/wire.py, then set KT_WIRE_RUNTIME_VERSION in include/kt_app.h to its SCHEMA_VERSION"
#elif KT_WIRE_SCHEMA_VERSION < KT_WIRE_RUNTIME_VERSION
#error \
    "kt_wire.h has an older wire schema than this C runtime expects (KT_WIRE_RUNTIME_VERSION in include/kt_app.h): update python/kilotrain/device/wire.py (SCHEMA_VERSION) and rebuild to regenerate kt_wire.h"
#endif

/* Copy at most @p max bytes of @p text to @p out; the number copied. */
static uint16_t kt_app_put_text(uint8_t *out, const char *text, size_t max)
{
    size_t n = strlen(text);
    if (n > max) {
        n = max;
    }
    memcpy(out, text, n);
    return (uint16_t)n;
}

static void kt_app_info(kt_frame_sink sink, uint8_t seq)
{
    uint8_t out[KT_WIRE_INFO_ANSWER_SIZE + KT_WIRE_INFO_ANSWER_BOARD_MAX_SIZE];
    kt_wire_info_answer_put_protocol_version(out, KT_PROTOCOL_VERSION);
    kt_wire_info_answer_put_firmware_major(out, KT_FW_VERSION_MAJOR);
    kt_wire_info_answer_put_firmware_minor(out, KT_FW_VERSION_MINOR);
    kt_wire_info_answer_put_firmware_patch(out, KT_FW_VERSION_PATCH);
    kt_wire_info_answer_put_sram_bytes(out, kt_bsp_sram_size());
    kt_wire_info_answer_put_flash_bytes(out, kt_bsp_flash_size());
    kt_wire_info_answer_put_static_ram_bytes(out, kt_bsp_static_ram_used());
    kt_wire_info_answer_put_stack_bytes(out, kt_bsp_stack_size());
    kt_wire_info_answer_put_stack_high_water_bytes(out, kt_bsp_stack_high_water());
    kt_wire_info_answer_put_counter_hz(out, kt_bsp_counter_hz());
    kt_wire_info_answer_put_instructions_per_tick(out, kt_bsp_instructions_per_tick());
    kt_wire_info_answer_put_uptime_1024_ticks(out, (uint32_t)(kt_bsp_counter() >> 10));
    kt_wire_info_answer_put_max_payload(out, (uint16_t)KT_FRAME_MAX_PAYLOAD);
    kt_wire_info_answer_put_frame_idle_ms(out, (uint16_t)KT_FRAME_IDLE_MS);
#ifdef KT_HAVE_MODEL
    kt_wire_info_answer_put_model_digest(out, kt_model.model_digest);
    kt_wire_info_answer_put_train_digest(out, kt_model.train_digest);
#else
    kt_wire_info_answer_put_model_digest(out, 0u);
    kt_wire_info_answer_put_train_digest(out, 0u);
#endif
    uint16_t n = kt_app_put_text(out + KT_WIRE_INFO_ANSWER_BOARD_OFFSET, kt_bsp_board_name(),
                                 KT_WIRE_INFO_ANSWER_BOARD_MAX_SIZE);
    kt_frame_send(sink, KT_FRAME_INFO | KT_FRAME_ANSWER, seq, out,
                  (uint16_t)(KT_WIRE_INFO_ANSWER_SIZE + n));
}

#ifdef KT_HAVE_MODEL
static void kt_app_model_info(kt_frame_sink sink, uint8_t seq)
{
    uint8_t out[KT_WIRE_MODEL_INFO_ANSWER_SIZE + KT_WIRE_MODEL_INFO_ANSWER_NAME_MAX_SIZE];
    kt_wire_model_info_answer_put_arena_size(out, kt_model.arena_size);
    kt_wire_model_info_answer_put_input_size(out, kt_model.input_size);
    kt_wire_model_info_answer_put_output_size(out, kt_model.output_size);
    kt_wire_model_info_answer_put_op_count(out, kt_model.op_count);
    kt_wire_model_info_answer_put_input_height(out, (uint16_t)kt_model.input_height);
    kt_wire_model_info_answer_put_input_width(out, (uint16_t)kt_model.input_width);
    kt_wire_model_info_answer_put_input_channels(out, (uint16_t)kt_model.input_channels);
    kt_wire_model_info_answer_put_classes(out, (uint16_t)kt_model.classes);
    kt_wire_model_info_answer_put_input_zero_point(out, kt_model.input_zero_point);
    kt_wire_model_info_answer_put_input_scale_f32(out, kt_model.input_scale_f32);
    uint16_t n = kt_app_put_text(out + KT_WIRE_MODEL_INFO_ANSWER_NAME_OFFSET, kt_model.name,
                                 KT_WIRE_MODEL_INFO_ANSWER_NAME_MAX_SIZE);
    kt_frame_send(sink, KT_FRAME_MODEL_INFO | KT_FRAME_ANSWER, seq, out,
                  (uint16_t)(KT_WIRE_MODEL_INFO_ANSWER_SIZE + n));
}

/* Ticks spent consuming the current input since its offset-0 write: a row-streamed input runs the
   fused prefix while it arrives, and that work belongs to the next invoke or training step. */
static uint64_t kt_input_ticks;

static void kt_app_input_write(kt_frame_sink sink, uint8_t seq, const uint8_t *payload,
                               uint16_t len)
{
    if (len < KT_WIRE_INPUT_WRITE_REQUEST_SIZE) {
        kt_frame_send_error(sink, seq, KT_ERR_BAD_PAYLOAD, len);
        return;
    }
    uint32_t offset = kt_wire_input_write_request_get_offset(payload);
    uint32_t n = (uint32_t)len - KT_WIRE_INPUT_WRITE_REQUEST_SIZE;
    if (offset > kt_model.input_size || n > kt_model.input_size - offset) {
        kt_frame_send_error(sink, seq, KT_ERR_BAD_PAYLOAD, len);
        return;
    }
    if (offset == 0) {
        kt_input_ticks = 0;
    }
    uint64_t t0 = kt_bsp_counter();
    kt_status s = kt_model_input_write(
        offset, (const int8_t *)(payload + KT_WIRE_INPUT_WRITE_REQUEST_DATA_OFFSET), n);
    kt_input_ticks += kt_bsp_counter() - t0;
    if (s != KT_OK) {
        kt_frame_send_error(sink, seq, KT_ERR_BAD_PAYLOAD, offset);
        return;
    }
    kt_frame_send(sink, KT_FRAME_INPUT_WRITE | KT_FRAME_ANSWER, seq, NULL,
                  KT_WIRE_INPUT_WRITE_ANSWER_SIZE);
}

static void kt_app_invoke(kt_frame_sink sink, uint8_t seq)
{
    uint64_t t0 = kt_bsp_counter();
    kt_status status = kt_model_invoke();
    uint64_t ticks = kt_bsp_counter() - t0 + kt_input_ticks;
    uint8_t out[KT_WIRE_INVOKE_ANSWER_SIZE];
    kt_wire_invoke_answer_put_status(out, (int32_t)status);
    kt_wire_invoke_answer_put_ticks(out, ticks);
    kt_wire_invoke_answer_put_instructions_per_tick(out, kt_bsp_instructions_per_tick());
    kt_wire_invoke_answer_put_stack_high_water(out, kt_bsp_stack_high_water());
    kt_frame_send(sink, KT_FRAME_INVOKE | KT_FRAME_ANSWER, seq, out, sizeof out);
}

static void kt_app_output_read(kt_frame_sink sink, uint8_t seq, const uint8_t *payload,
                               uint16_t len)
{
    if (len != KT_WIRE_OUTPUT_READ_REQUEST_SIZE) {
        kt_frame_send_error(sink, seq, KT_ERR_BAD_PAYLOAD, len);
        return;
    }
    uint32_t offset = kt_wire_output_read_request_get_offset(payload);
    uint32_t n = kt_wire_output_read_request_get_length(payload);
    if (n > KT_FRAME_MAX_PAYLOAD || offset > kt_model.output_size ||
        n > kt_model.output_size - offset) {
        kt_frame_send_error(sink, seq, KT_ERR_BAD_PAYLOAD, len);
        return;
    }
    kt_frame_send(sink, KT_FRAME_OUTPUT_READ | KT_FRAME_ANSWER, seq,
                  (const uint8_t *)kt_model_output() + offset, (uint16_t)n);
}
#endif /* KT_HAVE_MODEL */

#ifdef KT_HAVE_TRAIN
/* Exactly-once steps: the host names the step it wants applied; a repeat of the last step
 * (a retry after a lost answer) gets the cached answer and changes nothing. kt_cached_steps is
 * the step count the cached answer left behind (0: no answer cached, as after boot or a restore,
 * when a repeat of the restored state's last step gets STEP_ORDER). */
static uint8_t kt_last_step_answer[KT_WIRE_TRAIN_STEP_ANSWER_SIZE];
static uint32_t kt_cached_steps;

static void kt_app_train_step(kt_frame_sink sink, uint8_t seq, const uint8_t *payload, uint16_t len)
{
    if (len != KT_WIRE_TRAIN_STEP_REQUEST_SIZE) {
        kt_frame_send_error(sink, seq, KT_ERR_BAD_PAYLOAD, len);
        return;
    }
    uint32_t step = kt_wire_train_step_request_get_step(payload);
    int32_t label = kt_wire_train_step_request_get_label(payload);
    uint32_t done = kt_train_steps();
    if (done > 0u && step == done - 1u && kt_cached_steps == done) {
        kt_frame_send(sink, KT_FRAME_TRAIN_STEP | KT_FRAME_ANSWER, seq, kt_last_step_answer,
                      sizeof kt_last_step_answer);
        return;
    }
    if (step != done) {
        kt_frame_send_error(sink, seq, KT_ERR_STEP_ORDER, done);
        return;
    }
    kt_train_result r = {0, 0, 0, 0};
    uint64_t t0 = kt_bsp_counter();
    r.status = kt_train_step(label, &r);
    uint64_t ticks = kt_bsp_counter() - t0 + kt_input_ticks;
    uint8_t refused[KT_WIRE_TRAIN_STEP_ANSWER_SIZE];
    /* Only an applied step replaces the cached answer: a retry of the last applied step must get
       its own answer even after a refused request (docs/protocol.md, exactly-once). */
    uint8_t *a = (r.status == KT_OK) ? kt_last_step_answer : refused;
    if (r.status == KT_OK) {
        kt_cached_steps = done + 1u;
    }
    kt_wire_train_step_answer_put_step(a, step);
    kt_wire_train_step_answer_put_status(a, r.status);
    kt_wire_train_step_answer_put_p_label_q15(a, r.p_label_q15);
    kt_wire_train_step_answer_put_predicted(a, r.predicted);
    kt_wire_train_step_answer_put_saturated(a, r.saturated);
    kt_wire_train_step_answer_put_ticks(a, ticks);
    kt_wire_train_step_answer_put_stack_high_water(a, kt_bsp_stack_high_water());
    kt_frame_send(sink, KT_FRAME_TRAIN_STEP | KT_FRAME_ANSWER, seq, a,
                  KT_WIRE_TRAIN_STEP_ANSWER_SIZE);
}

/* EVAL counters: frames classified and right answers since the last restart. */
static uint32_t kt_eval_seen;
static uint32_t kt_eval_correct;

static void kt_app_eval(kt_frame_sink sink, uint8_t seq, const uint8_t *payload, uint16_t len)
{
    if (len != KT_WIRE_EVAL_REQUEST_SIZE) {
        kt_frame_send_error(sink, seq, KT_ERR_BAD_PAYLOAD, len);
        return;
    }
    int32_t label = kt_wire_eval_request_get_label(payload);
    if (kt_wire_eval_request_get_restart(payload) != 0u) {
        kt_eval_seen = 0;
        kt_eval_correct = 0;
    }
    kt_train_result r = {0, 0, 0, 0};
    uint64_t t0 = kt_bsp_counter();
    kt_status s = kt_train_eval(label, &r);
    uint64_t ticks = kt_bsp_counter() - t0 + kt_input_ticks;
    if (s == KT_OK) {
        kt_eval_seen++;
        kt_eval_correct += (r.predicted == label) ? 1u : 0u;
    }
    uint8_t out[KT_WIRE_EVAL_ANSWER_SIZE];
    kt_wire_eval_answer_put_status(out, (int32_t)s);
    kt_wire_eval_answer_put_predicted(out, r.predicted);
    kt_wire_eval_answer_put_p_label_q15(out, r.p_label_q15);
    kt_wire_eval_answer_put_eval_seen(out, kt_eval_seen);
    kt_wire_eval_answer_put_eval_correct(out, kt_eval_correct);
    kt_wire_eval_answer_put_ticks(out, ticks);
    kt_frame_send(sink, KT_FRAME_EVAL | KT_FRAME_ANSWER, seq, out, sizeof out);
}

static void kt_app_infer(kt_frame_sink sink, uint8_t seq)
{
    if ((uint32_t)kt_train_classes > KT_FRAME_MAX_PAYLOAD - KT_WIRE_INFER_ANSWER_SIZE) {
        kt_frame_send_error(sink, seq, KT_ERR_BAD_PAYLOAD, (uint32_t)kt_train_classes);
        return; /* the logits do not fit one frame */
    }
    kt_train_result r = {0, 0, 0, 0};
    uint64_t t0 = kt_bsp_counter();
    kt_status s = kt_train_eval(0, &r);
    uint64_t ticks = kt_bsp_counter() - t0 + kt_input_ticks;
    uint8_t out[KT_WIRE_INFER_ANSWER_SIZE];
    kt_wire_infer_answer_put_status(out, (int32_t)s);
    kt_wire_infer_answer_put_predicted(out, r.predicted);
    kt_wire_infer_answer_put_ticks(out, ticks);
    kt_frame_send_parts(sink, KT_FRAME_INFER | KT_FRAME_ANSWER, seq, out, sizeof out,
                        (const uint8_t *)kt_train_logits(),
                        (uint16_t)(s == KT_OK ? kt_train_classes : 0));
}

static void kt_app_set_lr(kt_frame_sink sink, uint8_t seq, const uint8_t *payload, uint16_t len)
{
    if (len != KT_WIRE_SET_LR_REQUEST_SIZE ||
        kt_train_set_lr_shift(kt_wire_set_lr_request_get_lr_shift(payload)) != KT_OK) {
        kt_frame_send_error(sink, seq, KT_ERR_BAD_PAYLOAD, len);
        return;
    }
    uint8_t out[KT_WIRE_SET_LR_ANSWER_SIZE];
    kt_wire_set_lr_answer_put_lr_shift(out, kt_train_lr_shift());
    kt_frame_send(sink, KT_FRAME_SET_LR | KT_FRAME_ANSWER, seq, out, sizeof out);
}

static uint32_t kt_params_size(void)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < kt_train_segment_count; i++) {
        n += kt_train_segments[i].size;
    }
    return n;
}

/* Answers at most up to the end of the segment that holds @p offset (the host reads on until it
 * has all it asked for), so no copy buffer is needed. */
static void kt_app_params_read(kt_frame_sink sink, uint8_t seq, const uint8_t *payload,
                               uint16_t len)
{
    if (len != KT_WIRE_PARAMS_READ_REQUEST_SIZE) {
        kt_frame_send_error(sink, seq, KT_ERR_BAD_PAYLOAD, len);
        return;
    }
    uint32_t offset = kt_wire_params_read_request_get_offset(payload);
    uint32_t n = kt_wire_params_read_request_get_length(payload);
    uint32_t total = kt_params_size();
    if (n > KT_FRAME_MAX_PAYLOAD || offset > total || n > total - offset) {
        kt_frame_send_error(sink, seq, KT_ERR_BAD_PAYLOAD, len);
        return;
    }
    uint32_t base = 0;
    for (uint32_t i = 0; i < kt_train_segment_count; i++) {
        const kt_train_segment *sg = &kt_train_segments[i];
        if (offset < base + sg->size) {
            uint32_t from = offset - base;
            uint32_t take = sg->size - from < n ? sg->size - from : n;
            kt_frame_send(sink, KT_FRAME_PARAMS_READ | KT_FRAME_ANSWER, seq, sg->data + from,
                          (uint16_t)take);
            return;
        }
        base += sg->size;
    }
    kt_frame_send(sink, KT_FRAME_PARAMS_READ | KT_FRAME_ANSWER, seq, NULL, 0);
}

/* A failed checkpoint call as an ERROR frame (docs/protocol.md). */
static void kt_app_checkpoint_error(kt_frame_sink sink, uint8_t seq, kt_checkpoint_status s)
{
    switch (s) {
    case KT_CHECKPOINT_NO_STORE:
        kt_frame_send_error(sink, seq, KT_ERR_NO_STORE, kt_checkpoint_bytes());
        return;
    case KT_CHECKPOINT_NONE:
        kt_frame_send_error(sink, seq, KT_ERR_NO_CHECKPOINT, 0u);
        return;
    case KT_CHECKPOINT_ERASE_FAILED:
        kt_frame_send_error(sink, seq, KT_ERR_STORE_FAILED, 1u);
        return;
    case KT_CHECKPOINT_PROGRAM_FAILED:
        kt_frame_send_error(sink, seq, KT_ERR_STORE_FAILED, 2u);
        return;
    default:
        kt_frame_send_error(sink, seq, KT_ERR_STORE_FAILED, 3u);
        return;
    }
}

/* CHECKPOINT (@p restore = 0) or RESTORE (1): the checkpoint written or loaded. */
static void kt_app_checkpoint(kt_frame_sink sink, uint8_t type, uint8_t seq, uint16_t len,
                              int restore)
{
    if (len != KT_WIRE_CHECKPOINT_REQUEST_SIZE) {
        kt_frame_send_error(sink, seq, KT_ERR_BAD_PAYLOAD, len);
        return;
    }
    kt_checkpoint_info c;
    kt_checkpoint_status s = restore ? kt_checkpoint_restore(&c) : kt_checkpoint_save(&c);
    if (s != KT_CHECKPOINT_OK) {
        kt_app_checkpoint_error(sink, seq, s);
        return;
    }
    if (restore) {
        kt_cached_steps = 0u; /* the cached answer belongs to a state that is gone */
    }
    uint8_t out[KT_WIRE_CHECKPOINT_ANSWER_SIZE];
    kt_wire_checkpoint_answer_put_slot(out, (uint8_t)c.slot);
    kt_wire_checkpoint_answer_put_seq(out, c.seq);
    kt_wire_checkpoint_answer_put_steps(out, c.steps);
    kt_wire_checkpoint_answer_put_lr_shift(out, c.lr_shift);
    kt_wire_checkpoint_answer_put_payload_size(out, c.payload_size);
    kt_wire_checkpoint_answer_put_payload_crc(out, c.payload_crc);
    kt_frame_send(sink, (uint8_t)(type | KT_FRAME_ANSWER), seq, out, sizeof out);
}

static void kt_app_train_info(kt_frame_sink sink, uint8_t seq)
{
    kt_checkpoint_info c = {0u, 0u, 0u, 0, 0u, 0u};
    (void)kt_checkpoint_newest(&c); /* seq and steps stay 0 without a valid checkpoint */
    uint8_t out[KT_WIRE_TRAIN_INFO_ANSWER_SIZE];
    kt_wire_train_info_answer_put_steps_done(out, kt_train_steps());
    kt_wire_train_info_answer_put_params_size(out, kt_params_size());
    kt_wire_train_info_answer_put_lr_shift(out, kt_train_lr_shift());
    kt_wire_train_info_answer_put_eval_seen(out, kt_eval_seen);
    kt_wire_train_info_answer_put_eval_correct(out, kt_eval_correct);
    kt_wire_train_info_answer_put_checkpoint_seq(out, c.seq);
    kt_wire_train_info_answer_put_checkpoint_steps(out, c.steps);
    kt_frame_send(sink, KT_FRAME_TRAIN_INFO | KT_FRAME_ANSWER, seq, out, sizeof out);
}
#endif /* KT_HAVE_TRAIN */

/* PROFILE: entries of the per-op profile (a -DKT_PROFILE training build; else 0 entries). The
   ticks go out as they lie in memory: u64 little-endian on every kilotrain target. */
static void kt_app_profile(kt_frame_sink sink, uint8_t seq, const uint8_t *payload, uint16_t len)
{
    if (len != KT_WIRE_PROFILE_REQUEST_SIZE) {
        kt_frame_send_error(sink, seq, KT_ERR_BAD_PAYLOAD, len);
        return;
    }
    uint32_t first = kt_wire_profile_request_get_first(payload);
    uint32_t count = kt_wire_profile_request_get_length(payload);
#if defined(KT_HAVE_TRAIN) && defined(KT_PROFILE)
    const uint64_t *all = kt_profile_ticks;
    uint32_t total = kt_profile_entries;
#else
    const uint64_t *all = NULL;
    uint32_t total = 0u;
#endif
    if (first > total || count > total - first ||
        count > (KT_FRAME_MAX_PAYLOAD - KT_WIRE_PROFILE_ANSWER_SIZE) / 8u) {
        kt_frame_send_error(sink, seq, KT_ERR_BAD_PAYLOAD, len);
        return;
    }
    const uint8_t *ticks = all != NULL ? (const uint8_t *)(all + first) : NULL;
    uint8_t out[KT_WIRE_PROFILE_ANSWER_SIZE];
    kt_wire_profile_answer_put_entries(out, (uint16_t)total);
    kt_wire_profile_answer_put_first(out, (uint16_t)first);
    kt_frame_send_parts(sink, KT_FRAME_PROFILE | KT_FRAME_ANSWER, seq, out, sizeof out, ticks,
                        (uint16_t)(8u * count));
}

/* RESET: answer, then restart; with erase_checkpoints = 1 both store slots are erased first. */
static void kt_app_reset(kt_frame_sink sink, uint8_t seq, const uint8_t *payload, uint16_t len)
{
    if (len != KT_WIRE_RESET_REQUEST_SIZE) {
        kt_frame_send_error(sink, seq, KT_ERR_BAD_PAYLOAD, len);
        return;
    }
    if (kt_wire_reset_request_get_erase_checkpoints(payload) != 0u &&
        kt_bsp_store_slot_size() > 0u &&
        (kt_bsp_store_erase(0u) != KT_OK || kt_bsp_store_erase(1u) != KT_OK)) {
        kt_frame_send_error(sink, seq, KT_ERR_STORE_FAILED, 1u);
        return;
    }
    kt_frame_send(sink, KT_FRAME_RESET | KT_FRAME_ANSWER, seq, NULL, 0);
    kt_bsp_reset();
}

void kt_app_handle(kt_frame_sink sink, uint8_t type, uint8_t seq, const uint8_t *payload,
                   uint16_t len)
{
    switch (type) {
    case KT_FRAME_INFO:
        if (len != KT_WIRE_INFO_REQUEST_SIZE) {
            kt_frame_send_error(sink, seq, KT_ERR_BAD_PAYLOAD, len);
        } else {
            kt_app_info(sink, seq);
        }
        return;
    case KT_FRAME_ECHO:
        kt_frame_send(sink, KT_FRAME_ECHO | KT_FRAME_ANSWER, seq, payload, len);
        return;
    case KT_FRAME_RESET:
        kt_app_reset(sink, seq, payload, len);
        return;
    case KT_FRAME_PROFILE:
        kt_app_profile(sink, seq, payload, len);
        return;
#ifdef KT_HAVE_MODEL
    case KT_FRAME_MODEL_INFO:
        kt_app_model_info(sink, seq);
        return;
    case KT_FRAME_INPUT_WRITE:
        kt_app_input_write(sink, seq, payload, len);
        return;
    case KT_FRAME_INVOKE:
        kt_app_invoke(sink, seq);
        return;
    case KT_FRAME_OUTPUT_READ:
        kt_app_output_read(sink, seq, payload, len);
        return;
#endif
#ifdef KT_HAVE_TRAIN
    case KT_FRAME_TRAIN_STEP:
        kt_app_train_step(sink, seq, payload, len);
        return;
    case KT_FRAME_PARAMS_READ:
        kt_app_params_read(sink, seq, payload, len);
        return;
    case KT_FRAME_EVAL:
        kt_app_eval(sink, seq, payload, len);
        return;
    case KT_FRAME_INFER:
        if (len != KT_WIRE_INFER_REQUEST_SIZE) {
            kt_frame_send_error(sink, seq, KT_ERR_BAD_PAYLOAD, len);
        } else {
            kt_app_infer(sink, seq);
        }
        return;
    case KT_FRAME_SET_LR:
        kt_app_set_lr(sink, seq, payload, len);
        return;
    case KT_FRAME_TRAIN_INFO:
        kt_app_train_info(sink, seq);
        return;
    case KT_FRAME_CHECKPOINT:
        kt_app_checkpoint(sink, type, seq, len, 0);
        return;
    case KT_FRAME_RESTORE:
        kt_app_checkpoint(sink, type, seq, len, 1);
        return;
#endif
    default:
        kt_frame_send_error(sink, seq, KT_ERR_UNKNOWN_TYPE, type);
        return;
    }
}

void kt_app_receive(kt_frame_decoder *decoder, kt_frame_sink sink, int32_t c)
{
    kt_frame_event ev =
        (c < 0) ? kt_frame_decoder_idle(decoder) : kt_frame_decoder_feed(decoder, (uint8_t)c);
    if (ev == KT_FRAME_EV_ERROR) {
        kt_frame_send_error(sink, decoder->seq, decoder->error, decoder->detail);
    } else if (ev == KT_FRAME_EV_READY) {
        kt_app_handle(sink, decoder->type, decoder->seq, decoder->payload, decoder->len);
    }
}

void kt_app_serve(kt_frame_decoder *decoder)
{
#ifdef KT_HAVE_TRAIN
    kt_checkpoint_info c;
    (void)kt_checkpoint_restore(&c); /* the newest valid checkpoint, if any, survives the reset */
#endif
    kt_frame_decoder_reset(decoder);
    for (;;) {
        kt_app_receive(decoder, kt_bsp_write, kt_bsp_getc_timeout(KT_FRAME_IDLE_MS));
    }
}
