/*
 * QEMU mps2-an500 (Cortex-M7): CMSDK APB UART0, SysTick at 25 MHz, semihosting exit.
 * Run QEMU with `-icount shift=0,align=off,sleep=off` and SysTick counts instructions:
 * one tick = 40 instructions, deterministically.
 */
#if defined(__arm__) && defined(KT_BOARD_QEMU_MPS2)

#include <stdint.h>

#include "kt_bsp.h"
#include "kt_bsp_cortexm.h"
#include "kt_store_ram.h"

#define UART0_BASE 0x40004000u
#define UART_DATA (*(volatile uint32_t *)(UART0_BASE + 0x00u))
#define UART_STATE (*(volatile uint32_t *)(UART0_BASE + 0x04u))
#define UART_CTRL (*(volatile uint32_t *)(UART0_BASE + 0x08u))
#define UART_BAUDDIV (*(volatile uint32_t *)(UART0_BASE + 0x10u))
#define UART_STATE_TX_FULL 0x1u
#define UART_STATE_RX_FULL 0x2u

void kt_bsp_init(void)
{
    UART_BAUDDIV = 16u;
    UART_CTRL = 0x3u; /* TX and RX enabled */
    kt_cortexm_counter_start();
}

void kt_bsp_putc(uint8_t byte)
{
    while (UART_STATE & UART_STATE_TX_FULL) {
    }
    UART_DATA = byte;
}

void kt_board_uart_flush(void)
{
    while (UART_STATE & UART_STATE_TX_FULL) { /* QEMU's UART sends a byte as it is written */
    }
}

int32_t kt_board_uart_poll(void)
{
    if (UART_STATE & UART_STATE_RX_FULL) {
        return (int32_t)(UART_DATA & 0xFFu);
    }
    return -1;
}

/* clang-format off */
uint32_t kt_bsp_counter_hz(void) { return 25000000u; }
uint32_t kt_bsp_instructions_per_tick(void) { return 40u; }
const char *kt_bsp_board_name(void) { return "qemu_mps2_an500"; }
uint32_t kt_bsp_sram_size(void) { return 320u * 1024u; }
uint32_t kt_bsp_flash_size(void) { return 1024u * 1024u; }
/* clang-format on */

void kt_bsp_exit(int code)
{
    /* Semihosting SYS_EXIT_EXTENDED: r0 = 0x20, r1 -> {ADP_Stopped_ApplicationExit, code}. */
    volatile uint32_t block[2] = {0x20026u, (uint32_t)code};
    register uint32_t r0 __asm("r0") = 0x20u;
    register volatile uint32_t *r1 __asm("r1") = block;
    __asm volatile("bkpt 0xAB" : : "r"(r0), "r"(r1) : "memory");
    for (;;) {
    }
}

/* The checkpoint store: the STM32F746's sectors 6 and 7, at the same addresses of the RAM QEMU
   maps as flash. QEMU's reset reloads only the image's own bytes, so the slots survive RESET (not
   a restart of QEMU). */
uint32_t kt_board_flash_base(void)
{
    return 0x00000000u;
}

kt_status kt_bsp_store_erase(uint32_t slot)
{
    return kt_store_ram_erase((uint8_t *)(uintptr_t)kt_bsp_store_slot(slot),
                              kt_bsp_store_slot_size());
}

kt_status kt_bsp_store_program(uint32_t slot, uint32_t offset, const uint8_t *data, uint32_t len)
{
    return kt_store_ram_program((uint8_t *)(uintptr_t)kt_bsp_store_slot(slot),
                                kt_bsp_store_slot_size(), offset, data, len);
}

void kt_board_fault(void)
{
    kt_bsp_exit(0xFA);
}

#endif
