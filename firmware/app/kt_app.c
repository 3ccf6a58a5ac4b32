/* Device side of the serial protocol: dispatch of request frames (docs/protocol.md). */
#include <string.h>

#include "kt_app.h"
#include "kt_bsp.h"
#ifdef KT_HAVE_MODEL
#include "kt_model.h"
#endif
#ifdef KT_HAVE_TRAIN
#include "kt_train.h"
#endif

static uint8_t *kt_put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    return p + 2;
}

static uint8_t *kt_put_u32(uint8_t *p, uint32_t v)
{
    p = kt_put_u16(p, (uint16_t)v);
    return kt_put_u16(p, (uint16_t)(v >> 16));
}

static void kt_app_info(kt_frame_sink sink, uint8_t seq)
{
    uint8_t out[KT_INFO_FIXED_SIZE + 32];
    uint8_t *p = out;
    *p++ = KT_PROTOCOL_VERSION;
    *p++ = KT_FW_VERSION_MAJOR;
    *p++ = KT_FW_VERSION_MINOR;
    *p++ = KT_FW_VERSION_PATCH;
    p = kt_put_u32(p, kt_bsp_sram_size());
    p = kt_put_u32(p, kt_bsp_flash_size());
    p = kt_put_u32(p, kt_bsp_static_ram_used());
    p = kt_put_u32(p, kt_bsp_stack_size());
    p = kt_put_u32(p, kt_bsp_stack_high_water());
    p = kt_put_u32(p, kt_bsp_counter_hz());
    p = kt_put_u32(p, kt_bsp_instructions_per_tick());
    p = kt_put_u32(p, (uint32_t)(kt_bsp_counter() >> 10)); /* uptime in 1024-tick units */
    p = kt_put_u16(p, (uint16_t)KT_FRAME_MAX_PAYLOAD);
    p = kt_put_u16(p, (uint16_t)KT_FRAME_IDLE_MS);
    const char *name = kt_bsp_board_name();
    size_t n = strlen(name);
    if (n > sizeof out - KT_INFO_FIXED_SIZE) {
        n = sizeof out - KT_INFO_FIXED_SIZE;
    }
    memcpy(p, name, n);
    kt_frame_send(sink, KT_FRAME_INFO | KT_FRAME_ANSWER, seq, out,
                  (uint16_t)(KT_INFO_FIXED_SIZE + n));
}

#ifdef KT_HAVE_MODEL
static uint32_t kt_get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static void kt_app_model_info(kt_frame_sink sink, uint8_t seq)
{
    uint8_t out[16 + 48];
    uint8_t *p = kt_put_u32(out, kt_model.arena_size);
    p = kt_put_u32(p, kt_model.input_size);
    p = kt_put_u32(p, kt_model.output_size);
    p = kt_put_u32(p, kt_model.op_count);
    size_t n = strlen(kt_model.name);
    if (n > sizeof out - 16u) {
        n = sizeof out - 16u;
    }
    memcpy(p, kt_model.name, n);
    kt_frame_send(sink, KT_FRAME_MODEL_INFO | KT_FRAME_ANSWER, seq, out, (uint16_t)(16u + n));
}

static void kt_app_input_write(kt_frame_sink sink, uint8_t seq, const uint8_t *payload,
                               uint16_t len)
{
    if (len < 4u) {
        kt_frame_send_error(sink, seq, KT_ERR_BAD_PAYLOAD, len);
        return;
    }
    uint32_t offset = kt_get_u32(payload);
    uint32_t n = (uint32_t)len - 4u;
    if (offset > kt_model.input_size || n > kt_model.input_size - offset) {
        kt_frame_send_error(sink, seq, KT_ERR_BAD_PAYLOAD, len);
        return;
    }
    memcpy(kt_model_input() + offset, payload + 4, n);
    kt_frame_send(sink, KT_FRAME_INPUT_WRITE | KT_FRAME_ANSWER, seq, NULL, 0);
}

static void kt_app_invoke(kt_frame_sink sink, uint8_t seq)
{
    uint64_t t0 = kt_bsp_counter();
    kt_status status = kt_model_invoke();
    uint64_t ticks = kt_bsp_counter() - t0;
    uint8_t out[20];
    uint8_t *p = kt_put_u32(out, (uint32_t)(int32_t)status);
    p = kt_put_u32(p, (uint32_t)ticks);
    p = kt_put_u32(p, (uint32_t)(ticks >> 32));
    p = kt_put_u32(p, kt_bsp_instructions_per_tick());
    (void)kt_put_u32(p, kt_bsp_stack_high_water());
    kt_frame_send(sink, KT_FRAME_INVOKE | KT_FRAME_ANSWER, seq, out, sizeof out);
}

static void kt_app_output_read(kt_frame_sink sink, uint8_t seq, const uint8_t *payload,
                               uint16_t len)
{
    if (len != 6u) {
        kt_frame_send_error(sink, seq, KT_ERR_BAD_PAYLOAD, len);
        return;
    }
    uint32_t offset = kt_get_u32(payload);
    uint32_t n = (uint32_t)payload[4] | ((uint32_t)payload[5] << 8);
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
 * (a retry after a lost answer) gets the cached answer and changes nothing. */
static uint32_t kt_steps_done;
static uint8_t kt_last_step_answer[32];

static void kt_app_train_step(kt_frame_sink sink, uint8_t seq, const uint8_t *payload, uint16_t len)
{
    if (len != 8u) {
        kt_frame_send_error(sink, seq, KT_ERR_BAD_PAYLOAD, len);
        return;
    }
    uint32_t step = kt_get_u32(payload);
    int32_t label = (int32_t)kt_get_u32(payload + 4);
    if (kt_steps_done > 0u && step == kt_steps_done - 1u) {
        kt_frame_send(sink, KT_FRAME_TRAIN_STEP | KT_FRAME_ANSWER, seq, kt_last_step_answer,
                      sizeof kt_last_step_answer);
        return;
    }
    if (step != kt_steps_done) {
        kt_frame_send_error(sink, seq, KT_ERR_STEP_ORDER, kt_steps_done);
        return;
    }
    kt_train_result r = {0, 0, 0, 0};
    uint64_t t0 = kt_bsp_counter();
    r.status = kt_train_step(label, &r);
    uint64_t ticks = kt_bsp_counter() - t0;
    if (r.status == KT_OK) {
        kt_steps_done++;
    }
    uint8_t *p = kt_put_u32(kt_last_step_answer, step);
    p = kt_put_u32(p, (uint32_t)r.status);
    p = kt_put_u32(p, r.p_label_q15);
    p = kt_put_u32(p, (uint32_t)r.predicted);
    p = kt_put_u32(p, r.saturated);
    p = kt_put_u32(p, (uint32_t)ticks);
    p = kt_put_u32(p, (uint32_t)(ticks >> 32));
    (void)kt_put_u32(p, kt_bsp_stack_high_water());
    kt_frame_send(sink, KT_FRAME_TRAIN_STEP | KT_FRAME_ANSWER, seq, kt_last_step_answer,
                  sizeof kt_last_step_answer);
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
    if (len != 6u) {
        kt_frame_send_error(sink, seq, KT_ERR_BAD_PAYLOAD, len);
        return;
    }
    uint32_t offset = kt_get_u32(payload);
    uint32_t n = (uint32_t)payload[4] | ((uint32_t)payload[5] << 8);
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
#endif /* KT_HAVE_TRAIN */

void kt_app_handle(kt_frame_sink sink, uint8_t type, uint8_t seq, const uint8_t *payload,
                   uint16_t len)
{
    switch (type) {
    case KT_FRAME_INFO:
        if (len != 0) {
            kt_frame_send_error(sink, seq, KT_ERR_BAD_PAYLOAD, len);
        } else {
            kt_app_info(sink, seq);
        }
        return;
    case KT_FRAME_ECHO:
        kt_frame_send(sink, KT_FRAME_ECHO | KT_FRAME_ANSWER, seq, payload, len);
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
    case KT_FRAME_TRAIN_INFO: {
        uint8_t out[8];
        (void)kt_put_u32(kt_put_u32(out, kt_steps_done), kt_params_size());
        kt_frame_send(sink, KT_FRAME_TRAIN_INFO | KT_FRAME_ANSWER, seq, out, sizeof out);
        return;
    }
#endif
    default:
        kt_frame_send_error(sink, seq, KT_ERR_UNKNOWN_TYPE, type);
        return;
    }
}

void kt_app_serve(kt_frame_decoder *decoder)
{
    kt_frame_decoder_reset(decoder);
    for (;;) {
        int32_t c = kt_bsp_getc_timeout(KT_FRAME_IDLE_MS);
        kt_frame_event ev =
            (c < 0) ? kt_frame_decoder_idle(decoder) : kt_frame_decoder_feed(decoder, (uint8_t)c);
        if (ev == KT_FRAME_EV_ERROR) {
            kt_frame_send_error(kt_bsp_write, decoder->seq, decoder->error, decoder->detail);
        } else if (ev == KT_FRAME_EV_READY) {
            kt_app_handle(kt_bsp_write, decoder->type, decoder->seq, decoder->payload,
                          decoder->len);
        }
    }
}
