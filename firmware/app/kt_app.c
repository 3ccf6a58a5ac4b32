/* Device side of the serial protocol: dispatch of request frames (docs/protocol.md). */
#include <string.h>

#include "kt_app.h"
#include "kt_bsp.h"

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
    kt_frame_send(sink, KT_FRAME_INFO | KT_FRAME_ANSWER, seq, out, (uint16_t)(KT_INFO_FIXED_SIZE + n));
}

void kt_app_handle(kt_frame_sink sink, uint8_t type, uint8_t seq, const uint8_t *payload, uint16_t len)
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
        kt_frame_event ev = (c < 0) ? kt_frame_decoder_idle(decoder) : kt_frame_decoder_feed(decoder, (uint8_t)c);
        if (ev == KT_FRAME_EV_ERROR) {
            kt_frame_send_error(kt_bsp_write, decoder->seq, decoder->error, decoder->detail);
        } else if (ev == KT_FRAME_EV_READY) {
            kt_app_handle(kt_bsp_write, decoder->type, decoder->seq, decoder->payload, decoder->len);
        }
    }
}
