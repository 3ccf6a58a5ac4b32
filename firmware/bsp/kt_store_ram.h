/* A checkpoint store in plain memory that behaves like NOR flash (QEMU's flash RAM, the native
 * build's file): erase sets bytes to 0xFF, program ANDs the new bytes in, so a program without
 * its erase corrupts the data as it would on a real board. Internal to firmware/bsp. */
#ifndef KT_STORE_RAM_H
#define KT_STORE_RAM_H

#include <stdint.h>
#include <string.h>

#include "kt_types.h"

static inline kt_status kt_store_ram_erase(uint8_t *slot, uint32_t slot_size)
{
    if (slot == NULL) {
        return KT_ARG_ERROR;
    }
    memset(slot, 0xFF, slot_size);
    return KT_OK;
}

static inline kt_status kt_store_ram_program(uint8_t *slot, uint32_t slot_size, uint32_t offset,
                                             const uint8_t *data, uint32_t len)
{
    if (slot == NULL || offset > slot_size || len > slot_size - offset) {
        return KT_ARG_ERROR;
    }
    for (uint32_t i = 0; i < len; i++) {
        slot[offset + i] &= data[i];
    }
    return KT_OK;
}

#endif /* KT_STORE_RAM_H */
