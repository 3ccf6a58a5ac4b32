/**
 * @file kt_frame.h
 * @brief Serial framing of the kilotrain protocol (docs/protocol.md).
 *
 * A frame on the wire:
 *
 *     'K' 'T' | type u8 | seq u8 | len u16 LE | payload (len bytes) | crc32 u32 LE
 *
 * The CRC is CRC-32/ISO-HDLC (zlib's crc32) over type, seq, len and payload. The decoder is a
 * byte-fed state machine with no I/O of its own, so it runs the same on every board and in
 * host unit tests.
 */
#ifndef KT_FRAME_H
#define KT_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "kt_wire.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifndef KT_FRAME_MAX_PAYLOAD
/** Largest payload a frame may carry (bytes); a compile-time buffer size. */
#define KT_FRAME_MAX_PAYLOAD 2048u
#endif

#define KT_FRAME_MAGIC0 0x4Bu    /* 'K' */
#define KT_FRAME_MAGIC1 0x54u    /* 'T' */
#define KT_FRAME_HEADER_SIZE 6u  /* magic, type, seq, len */
#define KT_FRAME_TRAILER_SIZE 4u /* crc32 */

/*
 * The frame types (KT_FRAME_INFO .. KT_FRAME_ERROR, KT_FRAME_ANSWER), the error codes (KT_ERR_*) and
 * the payload layouts are generated into kt_wire.h from python/kilotrain/device/wire.py at build
 * time (tools/pio/model_sources.py puts it in the build tree; it is never committed).
 */

/** Error codes carried by a KT_FRAME_ERROR frame (KT_ERR_* in kt_wire.h). */
typedef enum kt_wire_error kt_frame_error;

/** What feeding one byte (or an idle timeout) produced. */
typedef enum {
    KT_FRAME_EV_NONE = 0, /**< nothing yet */
    KT_FRAME_EV_READY,    /**< a whole valid frame is in the decoder */
    KT_FRAME_EV_ERROR,    /**< an error to report: see error / detail / seq */
} kt_frame_event;

/** Decoder state; the frame buffer is part of it (size known at compile time). */
typedef struct {
    uint8_t state;
    uint8_t type;
    uint8_t seq;
    uint16_t len;
    uint32_t pos;       /* bytes of payload + crc received */
    uint32_t crc;       /* running CRC */
    uint32_t discarded; /* bytes dropped outside frames, not yet reported */
    kt_frame_error error;
    uint32_t detail;
    uint8_t payload[KT_FRAME_MAX_PAYLOAD + KT_FRAME_TRAILER_SIZE];
} kt_frame_decoder;

/** Reset the decoder to hunt for a frame start. */
void kt_frame_decoder_reset(kt_frame_decoder *d);

/** Feed one received byte. On KT_FRAME_EV_READY, type/seq/len/payload hold the frame. */
kt_frame_event kt_frame_decoder_feed(kt_frame_decoder *d, uint8_t byte);

/**
 * The line was idle for the frame timeout. Returns KT_FRAME_EV_ERROR for a frame cut short
 * (KT_ERR_TRUNCATED) or for unreported dropped bytes (KT_ERR_GARBAGE), else KT_FRAME_EV_NONE.
 */
kt_frame_event kt_frame_decoder_idle(kt_frame_decoder *d);

/** CRC-32/ISO-HDLC update (start with crc = 0; zlib compatible). */
uint32_t kt_crc32_update(uint32_t crc, const uint8_t *data, size_t len);

/** Byte sink used by kt_frame_send (kt_bsp_write on a board; a buffer in tests). */
typedef void (*kt_frame_sink)(const uint8_t *data, size_t len);

/** Encode and emit one frame through @p sink. @p len must be <= KT_FRAME_MAX_PAYLOAD. */
void kt_frame_send(kt_frame_sink sink, uint8_t type, uint8_t seq, const uint8_t *payload,
                   uint16_t len);

/** One frame whose payload is @p head then @p rest (no copy into one buffer);
 *  @p head_len + @p rest_len must be <= KT_FRAME_MAX_PAYLOAD. */
void kt_frame_send_parts(kt_frame_sink sink, uint8_t type, uint8_t seq, const uint8_t *head,
                         uint16_t head_len, const uint8_t *rest, uint16_t rest_len);

/** Emit a KT_FRAME_ERROR frame. */
void kt_frame_send_error(kt_frame_sink sink, uint8_t seq, kt_frame_error code, uint32_t detail);

#ifdef __cplusplus
}
#endif

#endif /* KT_FRAME_H */
