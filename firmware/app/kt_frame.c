/* Byte-fed frame decoder and frame encoder (docs/protocol.md). */
#include "kt_frame.h"

enum {
    ST_HUNT = 0, /* waiting for 'K' */
    ST_MAGIC1,   /* got 'K', waiting for 'T' */
    ST_TYPE,
    ST_SEQ,
    ST_LEN0,
    ST_LEN1,
    ST_BODY, /* payload then 4 CRC bytes */
};

void kt_frame_decoder_reset(kt_frame_decoder *d)
{
    d->state = ST_HUNT;
    d->pos = 0;
    d->discarded = 0;
}

static kt_frame_event kt_frame_fail(kt_frame_decoder *d, kt_frame_error code, uint32_t detail)
{
    d->error = code;
    d->detail = detail;
    d->state = ST_HUNT;
    return KT_FRAME_EV_ERROR;
}

kt_frame_event kt_frame_decoder_feed(kt_frame_decoder *d, uint8_t byte)
{
    switch (d->state) {
    case ST_HUNT:
        if (byte == KT_FRAME_MAGIC0) {
            d->state = ST_MAGIC1;
        } else {
            d->discarded++;
        }
        return KT_FRAME_EV_NONE;
    case ST_MAGIC1:
        if (byte == KT_FRAME_MAGIC1) {
            d->state = ST_TYPE;
            if (d->discarded > 0) { /* report what was dropped before this frame */
                uint32_t n = d->discarded;
                d->discarded = 0;
                d->error = KT_ERR_GARBAGE;
                d->detail = n;
                d->seq = 0;
                return KT_FRAME_EV_ERROR;
            }
        } else if (byte == KT_FRAME_MAGIC0) {
            d->discarded++; /* the previous 'K' was noise; this one may start a frame */
        } else {
            d->discarded += 2u;
            d->state = ST_HUNT;
        }
        return KT_FRAME_EV_NONE;
    case ST_TYPE:
        d->type = byte;
        d->crc = kt_crc32_update(0u, &byte, 1);
        d->state = ST_SEQ;
        return KT_FRAME_EV_NONE;
    case ST_SEQ:
        d->seq = byte;
        d->crc = kt_crc32_update(d->crc, &byte, 1);
        d->state = ST_LEN0;
        return KT_FRAME_EV_NONE;
    case ST_LEN0:
        d->len = byte;
        d->crc = kt_crc32_update(d->crc, &byte, 1);
        d->state = ST_LEN1;
        return KT_FRAME_EV_NONE;
    case ST_LEN1:
        d->len = (uint16_t)(d->len | ((uint16_t)byte << 8));
        d->crc = kt_crc32_update(d->crc, &byte, 1);
        if (d->len > KT_FRAME_MAX_PAYLOAD) {
            return kt_frame_fail(d, KT_ERR_LENGTH, d->len);
        }
        d->pos = 0;
        d->state = ST_BODY;
        return KT_FRAME_EV_NONE;
    default: /* ST_BODY */
        d->payload[d->pos++] = byte;
        if (d->pos < (uint32_t)d->len + KT_FRAME_TRAILER_SIZE) {
            return KT_FRAME_EV_NONE;
        }
        d->state = ST_HUNT;
        {
            uint32_t got = kt_wire_get_u32(&d->payload[d->len]);
            uint32_t want = kt_crc32_update(d->crc, d->payload, d->len);
            if (got != want) {
                return kt_frame_fail(d, KT_ERR_CRC, got);
            }
        }
        return KT_FRAME_EV_READY;
    }
}

kt_frame_event kt_frame_decoder_idle(kt_frame_decoder *d)
{
    if (d->state == ST_MAGIC1) { /* a lone 'K' followed by silence is noise */
        d->discarded++;
        d->state = ST_HUNT;
    }
    if (d->state != ST_HUNT) {
        uint32_t got = (d->state == ST_BODY) ? KT_FRAME_HEADER_SIZE + d->pos : (uint32_t)d->state;
        d->seq = (d->state > ST_SEQ) ? d->seq : 0u;
        d->discarded = 0;
        return kt_frame_fail(d, KT_ERR_TRUNCATED, got);
    }
    if (d->discarded > 0) {
        uint32_t n = d->discarded;
        d->discarded = 0;
        d->seq = 0;
        return kt_frame_fail(d, KT_ERR_GARBAGE, n);
    }
    return KT_FRAME_EV_NONE;
}

void kt_frame_send_parts(kt_frame_sink sink, uint8_t type, uint8_t seq, const uint8_t *head,
                         uint16_t head_len, const uint8_t *rest, uint16_t rest_len)
{
    uint16_t len = (uint16_t)(head_len + rest_len);
    uint8_t frame_head[KT_FRAME_HEADER_SIZE] = {
        KT_FRAME_MAGIC0, KT_FRAME_MAGIC1, type, seq, (uint8_t)(len & 0xFFu), (uint8_t)(len >> 8)};
    uint32_t crc = kt_crc32_update(0u, &frame_head[2], 4u);
    crc = kt_crc32_update(crc, head, head_len);
    crc = kt_crc32_update(crc, rest, rest_len);
    uint8_t tail[KT_FRAME_TRAILER_SIZE] = {(uint8_t)crc, (uint8_t)(crc >> 8), (uint8_t)(crc >> 16),
                                           (uint8_t)(crc >> 24)};
    sink(frame_head, sizeof frame_head);
    if (head_len > 0) {
        sink(head, head_len);
    }
    if (rest_len > 0) {
        sink(rest, rest_len);
    }
    sink(tail, sizeof tail);
}

void kt_frame_send(kt_frame_sink sink, uint8_t type, uint8_t seq, const uint8_t *payload,
                   uint16_t len)
{
    kt_frame_send_parts(sink, type, seq, payload, len, NULL, 0);
}

void kt_frame_send_error(kt_frame_sink sink, uint8_t seq, kt_frame_error code, uint32_t detail)
{
    uint8_t p[KT_WIRE_ERROR_SIZE];
    kt_wire_error_put_code(p, (uint8_t)code);
    kt_wire_error_put_detail(p, detail);
    kt_frame_send(sink, KT_FRAME_ERROR, seq, p, sizeof p);
}
