/**
 * @file kt_bsp.h
 * @brief The one board interface every kilotrain target implements: UART bytes, a cycle /
 *        instruction counter, stack high-water mark, reset, a two-slot checkpoint store and
 *        (QEMU only) an exit code.
 *
 * Implementations: firmware/bsp/kt_bsp_mps2.c (QEMU mps2-an500), kt_bsp_stm32f746.c
 * (STM32F746 Discovery, register level, no HAL), kt_bsp_native.c (host: stdin/stdout).
 */
#ifndef KT_BSP_H
#define KT_BSP_H

#include <stddef.h>
#include <stdint.h>

#include "kt_types.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Clocks, UART and counters up. Call once, first thing in main(). */
void kt_bsp_init(void);

/** Send one byte (blocks while the transmitter is full). */
void kt_bsp_putc(uint8_t byte);

/** Send @p len bytes. */
void kt_bsp_write(const uint8_t *data, size_t len);

/**
 * Wait at most @p timeout_ms milliseconds (of the board's clock; of the virtual clock on QEMU)
 * for one received byte. Returns the byte, [0, 255], or -1 on timeout.
 */
int32_t kt_bsp_getc_timeout(uint32_t timeout_ms);

/** Free-running 64-bit counter of the board's cycle clock (see kt_bsp_counter_hz()). */
uint64_t kt_bsp_counter(void);

/** Counter frequency in Hz. */
uint32_t kt_bsp_counter_hz(void);

/**
 * Instructions per counter tick when the counter counts instructions (QEMU with
 * `-icount shift=0`: SysTick at 25 MHz = 40 instructions a tick), else 0 (the counter counts
 * CPU cycles).
 */
uint32_t kt_bsp_instructions_per_tick(void);

/** Milliseconds since kt_bsp_init() (derived from kt_bsp_counter()). */
uint32_t kt_bsp_millis(void);

/** Size of the planned stack region in bytes. */
uint32_t kt_bsp_stack_size(void);

/** Deepest stack use seen so far, in bytes (painted stack scan; 0 on the host). */
uint32_t kt_bsp_stack_high_water(void);

/** Board name, e.g. "qemu_mps2_an500". */
const char *kt_bsp_board_name(void);

/** SRAM and flash sizes of the board in bytes. */
uint32_t kt_bsp_sram_size(void);
uint32_t kt_bsp_flash_size(void);

/** SRAM bytes used by the linked image: .data + .bss + stack region (0 on the host). */
uint32_t kt_bsp_static_ram_used(void);

/**
 * End the program with @p code: semihosting exit on QEMU, exit() on the host, a reset-wait
 * loop on a real board (no debugger to report to).
 */
void kt_bsp_exit(int code);

/**
 * Restart the firmware as from power-on: .data (the flashed parameters) copied again, .bss
 * zeroed. Waits until the bytes already written have left the UART. Does not return.
 */
void kt_bsp_reset(void);

/*
 * The checkpoint store (firmware/app/kt_checkpoint.c, docs/reliability.md): two slots of equal
 * size that survive a reset, read memory-mapped and written like NOR flash: an erase sets a whole
 * slot to 0xFF, a program only clears bits. STM32F746: flash sectors 6 and 7; QEMU: the same
 * addresses of its flash RAM; native: a file named by the environment variable KT_STORE.
 */

/** Bytes of each slot; 0 when the board has no store (or the image overlaps it). */
uint32_t kt_bsp_store_slot_size(void);

/** Slot @p slot (0 or 1) for reading, kt_bsp_store_slot_size() bytes; NULL without a store. */
const uint8_t *kt_bsp_store_slot(uint32_t slot);

/** Erase slot @p slot to 0xFF. KT_ARG_ERROR for a bad slot or when the hardware reports an error. */
kt_status kt_bsp_store_erase(uint32_t slot);

/**
 * Program @p len bytes at @p offset of slot @p slot (erased beforehand). Bytes are written in
 * order: a reset part way leaves a prefix written and the rest erased. KT_ARG_ERROR outside the
 * slot or when the hardware reports an error.
 */
kt_status kt_bsp_store_program(uint32_t slot, uint32_t offset, const uint8_t *data, uint32_t len);

#ifdef __cplusplus
}
#endif

#endif /* KT_BSP_H */
