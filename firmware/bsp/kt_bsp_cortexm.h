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
 * 256 KB sectors, 6 and 7, at 512 KB and 768 KB from the flash base. kt_bsp_cortexm.c implements
 * kt_bsp_store_slot_size() and kt_bsp_store_slot() from it; a board file erases and programs. */
#define KT_CORTEXM_STORE_OFFSET (512u * 1024u)
#define KT_CORTEXM_STORE_SLOT_SIZE (256u * 1024u)

/** Address of the board's flash (the store lies at KT_CORTEXM_STORE_OFFSET from it). */
uint32_t kt_board_flash_base(void);

#endif
