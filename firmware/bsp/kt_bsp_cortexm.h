/* Internal interface between the shared Cortex-M start-up code and one board file. */
#ifndef KT_BSP_CORTEXM_H
#define KT_BSP_CORTEXM_H

#include <stdint.h>

/** Start SysTick as a free-running counter of the CPU clock (wraps counted by interrupt). */
void kt_cortexm_counter_start(void);

/** One received byte, [0, 255], or -1 when none is waiting. */
int32_t kt_board_uart_poll(void);

/** Wait until every byte written to the UART has been sent (before a reset). */
void kt_board_uart_flush(void);

/** A fault handler landed: report if possible and stop. */
void kt_board_fault(void);

/* The checkpoint store of a 1 MB STM32F7 flash (and of QEMU, which mirrors it): its last two
 * 256 KB sectors, 6 and 7, at 512 KB and 768 KB from the flash base. */
#define KT_CORTEXM_STORE_OFFSET (512u * 1024u)
#define KT_CORTEXM_STORE_SLOT_SIZE (256u * 1024u)

/**
 * Address of store slot @p slot (0 or 1) in a flash at @p flash_base, or 0 when @p slot is out of
 * range or the linked image (code, constants, .data's initial values) reaches into the store.
 */
uint32_t kt_cortexm_store_slot_address(uint32_t flash_base, uint32_t slot);

#endif
