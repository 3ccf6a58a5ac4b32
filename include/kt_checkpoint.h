/**
 * @file kt_checkpoint.h
 * @brief Checkpoints of the training state in the board's two-slot store (kt_bsp.h), written so
 *        that a reset at any moment leaves the previous checkpoint valid (docs/reliability.md).
 *
 * A slot holds a header and a payload: the mutable training state (kt_train_state[]: the SRAM
 * parameters, then the gradient exponents). Header, little-endian, KT_CHECKPOINT_HEADER_SIZE bytes:
 *
 *     magic u32 ("KTCK") | format u16 | header_size u16 | seq u32 | steps u32 | lr_shift i32 |
 *     train_digest u64 | payload_size u32 | payload_crc u32 | header_crc u32
 *
 * (CRC-32/ISO-HDLC; header_crc covers the 36 bytes before it). A save erases the slot that does
 * not hold the newest valid checkpoint, programs the payload, reads it back, and only then
 * programs the header, header_crc last: until that last byte lands the slot is not valid and the
 * other one still is. A slot is valid when magic, format, sizes and both CRCs check and
 * train_digest is this firmware's training plan; of two valid slots the higher seq wins.
 */
#ifndef KT_CHECKPOINT_H
#define KT_CHECKPOINT_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KT_CHECKPOINT_MAGIC 0x4B43544Bu /* "KTCK" little-endian */
#define KT_CHECKPOINT_FORMAT 1u
#define KT_CHECKPOINT_HEADER_SIZE 40u

/** What a checkpoint call reports. */
typedef enum {
    KT_CHECKPOINT_OK = 0,
    KT_CHECKPOINT_NO_STORE = 1,       /**< no store, or a slot is smaller than a checkpoint */
    KT_CHECKPOINT_NONE = 2,           /**< no valid checkpoint of this training plan */
    KT_CHECKPOINT_ERASE_FAILED = 3,   /**< the store reported an erase error */
    KT_CHECKPOINT_PROGRAM_FAILED = 4, /**< the store reported a program error */
    KT_CHECKPOINT_VERIFY_FAILED = 5,  /**< the payload read back differs from what was written */
} kt_checkpoint_status;

/** One checkpoint's header fields. */
typedef struct {
    uint32_t slot;         /**< 0 or 1 */
    uint32_t seq;          /**< the newer valid slot (higher seq, serial-number order) wins */
    uint32_t steps;        /**< training steps applied when it was written */
    int32_t lr_shift;      /**< learning-rate exponent in force */
    uint32_t payload_size; /**< bytes of the training state */
    uint32_t payload_crc;  /**< CRC-32 of the payload */
} kt_checkpoint_info;

/** Bytes a checkpoint of this firmware takes in a slot (header + payload). */
uint32_t kt_checkpoint_bytes(void);

/** The newest valid checkpoint into @p info: KT_CHECKPOINT_OK, NO_STORE or NONE. */
kt_checkpoint_status kt_checkpoint_newest(kt_checkpoint_info *info);

/** Write the training state as it is now into the older slot; @p info describes what was written. */
kt_checkpoint_status kt_checkpoint_save(kt_checkpoint_info *info);

/** Load the newest valid checkpoint into the training state (parameters, exponents, steps,
 *  lr_shift); @p info describes it. Nothing changes unless it returns KT_CHECKPOINT_OK. */
kt_checkpoint_status kt_checkpoint_restore(kt_checkpoint_info *info);

#ifdef __cplusplus
}
#endif

#endif /* KT_CHECKPOINT_H */
