/**
 * @file kt_app.h
 * @brief The device side of the serial protocol: a command loop over kt_bsp and kt_frame.
 */
#ifndef KT_APP_H
#define KT_APP_H

#include <stdint.h>

#include "kt_frame.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KT_FW_VERSION_MAJOR 0
#define KT_FW_VERSION_MINOR 1
#define KT_FW_VERSION_PATCH 0
#define KT_PROTOCOL_VERSION 3

#ifndef KT_FRAME_IDLE_MS
/** Idle time after which a partial frame counts as truncated (board clock; virtual on QEMU). */
#define KT_FRAME_IDLE_MS 50u
#endif

/**
 * Wire schema version this runtime (kt_app.c, kt_frame.c) is written for. The payload layouts
 * come from kt_wire.h, generated from python/kilotrain/device/wire.py at build time; kt_app.c
 * stops the build when the header's KT_WIRE_SCHEMA_VERSION differs. Change it together with the
 * schema's SCHEMA_VERSION, after updating the code to the new layouts.
 */
#define KT_WIRE_RUNTIME_VERSION 3

/** Answer one valid request frame through @p sink (an answer or an error frame). */
void kt_app_handle(kt_frame_sink sink, uint8_t type, uint8_t seq, const uint8_t *payload,
                   uint16_t len);

/**
 * Take one received byte (@p c in [0, 255]) or one idle timeout of KT_FRAME_IDLE_MS (@p c < 0):
 * advance the decoder and answer through @p sink what became complete (a request, or an error
 * report). kt_app_serve() calls it for every byte; the fuzzer calls it directly.
 */
void kt_app_receive(kt_frame_decoder *decoder, kt_frame_sink sink, int32_t c);

/** Restore the newest valid checkpoint (a training image), then serve requests from the board
 *  UART forever. */
void kt_app_serve(kt_frame_decoder *decoder);

#ifdef __cplusplus
}
#endif

#endif /* KT_APP_H */
