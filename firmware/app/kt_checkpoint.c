/* Checkpoints of the training state in the board's two-slot store (include/kt_checkpoint.h). */
#ifdef KT_HAVE_TRAIN

#include <string.h>

#include "kt_checkpoint.h"
#include "kt_bsp.h"
#include "kt_frame.h"
#include "kt_model.h"
#include "kt_train.h"

/* Header field offsets (the layout in kt_checkpoint.h). */
#define H_MAGIC 0u
#define H_FORMAT 4u
#define H_HEADER_SIZE 6u
#define H_SEQ 8u
#define H_STEPS 12u
#define H_LR_SHIFT 16u
#define H_TRAIN_DIGEST 20u
#define H_PAYLOAD_SIZE 28u
#define H_PAYLOAD_CRC 32u
#define H_HEADER_CRC 36u

static uint32_t kt_checkpoint_payload_size(void)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < kt_train_state_count; i++) {
        n += kt_train_state[i].size;
    }
    return n;
}

uint32_t kt_checkpoint_bytes(void)
{
    return KT_CHECKPOINT_HEADER_SIZE + kt_checkpoint_payload_size();
}

/* Slot @p slot's checkpoint into @p info when it is valid for this firmware (1), else 0. The
   callers have checked that a slot holds a checkpoint (kt_checkpoint_newest()). */
static int kt_checkpoint_read(uint32_t slot, kt_checkpoint_info *info)
{
    const uint8_t *h = kt_bsp_store_slot(slot);
    uint32_t payload = kt_checkpoint_payload_size();
    if (h == NULL) {
        return 0;
    }
    if (kt_wire_get_u32(h + H_MAGIC) != KT_CHECKPOINT_MAGIC ||
        kt_wire_get_u16(h + H_FORMAT) != KT_CHECKPOINT_FORMAT ||
        kt_wire_get_u16(h + H_HEADER_SIZE) != KT_CHECKPOINT_HEADER_SIZE ||
        kt_wire_get_u32(h + H_HEADER_CRC) != kt_crc32_update(0u, h, H_HEADER_CRC) ||
        kt_wire_get_u64(h + H_TRAIN_DIGEST) != kt_model.train_digest ||
        kt_wire_get_u32(h + H_PAYLOAD_SIZE) != payload ||
        kt_wire_get_u32(h + H_PAYLOAD_CRC) !=
            kt_crc32_update(0u, h + KT_CHECKPOINT_HEADER_SIZE, payload)) {
        return 0;
    }
    info->slot = slot;
    info->seq = kt_wire_get_u32(h + H_SEQ);
    info->steps = kt_wire_get_u32(h + H_STEPS);
    info->lr_shift = kt_wire_get_i32(h + H_LR_SHIFT);
    info->payload_size = payload;
    info->payload_crc = kt_wire_get_u32(h + H_PAYLOAD_CRC);
    return 1;
}

kt_checkpoint_status kt_checkpoint_newest(kt_checkpoint_info *info)
{
    if (kt_bsp_store_slot_size() < kt_checkpoint_bytes()) {
        return KT_CHECKPOINT_NO_STORE;
    }
    kt_checkpoint_info a, b;
    int va = kt_checkpoint_read(0u, &a);
    int vb = kt_checkpoint_read(1u, &b);
    if (!va && !vb) {
        return KT_CHECKPOINT_NONE;
    }
    /* serial-number order: b is newer when b.seq - a.seq, as a signed number, is positive */
    *info = (va && (!vb || (int32_t)(b.seq - a.seq) < 0)) ? a : b;
    return KT_CHECKPOINT_OK;
}

kt_checkpoint_status kt_checkpoint_save(kt_checkpoint_info *info)
{
    kt_checkpoint_info newest;
    kt_checkpoint_status s = kt_checkpoint_newest(&newest);
    if (s == KT_CHECKPOINT_NO_STORE) {
        return s;
    }
    uint32_t slot = (s == KT_CHECKPOINT_OK) ? 1u - newest.slot : 0u;
    uint32_t seq = (s == KT_CHECKPOINT_OK) ? newest.seq + 1u : 1u;
    if (kt_bsp_store_erase(slot) != KT_OK) {
        return KT_CHECKPOINT_ERASE_FAILED;
    }
    /* the payload, segment by segment, straight from the live state */
    uint32_t crc = 0;
    uint32_t at = KT_CHECKPOINT_HEADER_SIZE;
    for (uint32_t i = 0; i < kt_train_state_count; i++) {
        const kt_train_state_segment *sg = &kt_train_state[i];
        if (kt_bsp_store_program(slot, at, sg->data, sg->size) != KT_OK) {
            return KT_CHECKPOINT_PROGRAM_FAILED;
        }
        crc = kt_crc32_update(crc, sg->data, sg->size);
        at += sg->size;
    }
    uint32_t payload = at - KT_CHECKPOINT_HEADER_SIZE;
    if (kt_crc32_update(0u, kt_bsp_store_slot(slot) + KT_CHECKPOINT_HEADER_SIZE, payload) != crc) {
        return KT_CHECKPOINT_VERIFY_FAILED;
    }
    /* the header last, its CRC the very last bytes: the commit point */
    uint8_t h[KT_CHECKPOINT_HEADER_SIZE];
    kt_wire_put_u32(h + H_MAGIC, KT_CHECKPOINT_MAGIC);
    kt_wire_put_u16(h + H_FORMAT, (uint16_t)KT_CHECKPOINT_FORMAT);
    kt_wire_put_u16(h + H_HEADER_SIZE, (uint16_t)KT_CHECKPOINT_HEADER_SIZE);
    kt_wire_put_u32(h + H_SEQ, seq);
    kt_wire_put_u32(h + H_STEPS, kt_train_steps());
    kt_wire_put_i32(h + H_LR_SHIFT, kt_train_lr_shift());
    kt_wire_put_u64(h + H_TRAIN_DIGEST, kt_model.train_digest);
    kt_wire_put_u32(h + H_PAYLOAD_SIZE, payload);
    kt_wire_put_u32(h + H_PAYLOAD_CRC, crc);
    kt_wire_put_u32(h + H_HEADER_CRC, kt_crc32_update(0u, h, H_HEADER_CRC));
    if (kt_bsp_store_program(slot, 0u, h, KT_CHECKPOINT_HEADER_SIZE) != KT_OK) {
        return KT_CHECKPOINT_PROGRAM_FAILED;
    }
    if (!kt_checkpoint_read(slot, info) || info->seq != seq) {
        return KT_CHECKPOINT_VERIFY_FAILED;
    }
    return KT_CHECKPOINT_OK;
}

kt_checkpoint_status kt_checkpoint_restore(kt_checkpoint_info *info)
{
    kt_checkpoint_status s = kt_checkpoint_newest(info);
    if (s != KT_CHECKPOINT_OK) {
        return s;
    }
    const uint8_t *src = kt_bsp_store_slot(info->slot) + KT_CHECKPOINT_HEADER_SIZE;
    for (uint32_t i = 0; i < kt_train_state_count; i++) {
        const kt_train_state_segment *sg = &kt_train_state[i];
        memcpy(sg->data, src, sg->size);
        src += sg->size;
    }
    kt_train_set_steps(info->steps);
    /* a saved lr_shift was in range when saved; a valid slot is trusted to be one we wrote */
    (void)kt_train_set_lr_shift(info->lr_shift);
    return KT_CHECKPOINT_OK;
}

#endif /* KT_HAVE_TRAIN */
