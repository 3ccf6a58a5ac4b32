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

#endif
