/*
 * Start-up and board-independent parts of the Cortex-M BSP: vector table, reset handler
 * (copy .data, zero .bss, FPU on, paint the stack), SysTick-based 64-bit counter, stack
 * high-water mark. Board files provide kt_board_init(), the UART and the board facts.
 */
#if defined(__arm__)

#include <stdint.h>

#include "kt_bsp.h"
#include "kt_bsp_cortexm.h"

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _sstack, _estack;
extern int main(void);

#define KT_STACK_PAINT 0xC5C5C5C5u
#define SCB_CPACR (*(volatile uint32_t *)0xE000ED88u)
#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define SYST_RELOAD 0x00FFFFFFu
#define SCB_ICSR (*(volatile uint32_t *)0xE000ED04u)
#define SCB_AIRCR (*(volatile uint32_t *)0xE000ED0Cu)
#define SCB_AIRCR_SYSRESETREQ (0x05FAu << 16 | 1u << 2) /* VECTKEY | SYSRESETREQ */
#define SCB_ICSR_PENDSTSET (1u << 26)

/* Number of SysTick wraps (each 2^24 ticks); the only mutable BSP state besides the UART. */
static volatile uint32_t kt_systick_wraps;

void kt_reset_handler(void);
void kt_default_handler(void);
void kt_systick_handler(void);

/* clang-format off */
__attribute__((section(".isr_vector"), used)) void (*const kt_vector_table[16])(void) = {
    (void (*)(void))(&_estack), /* initial stack pointer */
    kt_reset_handler,
    kt_default_handler, /* NMI */
    kt_default_handler, /* HardFault */
    kt_default_handler, /* MemManage */
    kt_default_handler, /* BusFault */
    kt_default_handler, /* UsageFault */
    0, 0, 0, 0,
    kt_default_handler, /* SVCall */
    kt_default_handler, /* DebugMon */
    0,
    kt_default_handler, /* PendSV */
    kt_systick_handler,
};
/* clang-format on */

/* Address of store slot @p slot, or 0 when it is out of range or the linked image (code,
   constants, .data's initial values) reaches into the store. */
static uint32_t kt_cortexm_store_slot_address(uint32_t slot)
{
    uint32_t image_end = (uint32_t)&_sidata + ((uint32_t)&_edata - (uint32_t)&_sdata);
    uint32_t store = kt_board_flash_base() + KT_CORTEXM_STORE_OFFSET;
    if (slot > 1u || image_end > store) {
        return 0u;
    }
    return store + slot * KT_CORTEXM_STORE_SLOT_SIZE;
}

uint32_t kt_bsp_store_slot_size(void)
{
    return kt_cortexm_store_slot_address(0u) != 0u ? KT_CORTEXM_STORE_SLOT_SIZE : 0u;
}

const uint8_t *kt_bsp_store_slot(uint32_t slot)
{
    uint32_t a = kt_cortexm_store_slot_address(slot);
    return a != 0u ? (const uint8_t *)(uintptr_t)a : NULL;
}

void kt_reset_handler(void)
{
    uint32_t *src = &_sidata;
    uint32_t *dst;
    for (dst = &_sdata; dst < &_edata;) {
        *dst++ = *src++;
    }
    for (dst = &_sbss; dst < &_ebss;) {
        *dst++ = 0u;
    }
    SCB_CPACR |= (0xFu << 20); /* CP10, CP11 full access: the FPU */
    __asm volatile("dsb\n\tisb" ::: "memory");

    /* Paint the stack below the current frame so kt_bsp_stack_high_water() can find the deepest use. */
    uint32_t sp;
    __asm volatile("mov %0, sp" : "=r"(sp));
    for (dst = &_sstack; (uint32_t)dst < sp - 64u; dst++) {
        *dst = KT_STACK_PAINT;
    }
    kt_bsp_exit(main());
}

void kt_default_handler(void)
{
    kt_board_fault();
}

void kt_systick_handler(void)
{
    kt_systick_wraps++;
}

void kt_cortexm_counter_start(void)
{
    SYST_RVR = SYST_RELOAD;
    SYST_CVR = 0u;
    SYST_CSR = 0x7u;         /* processor clock, interrupt on wrap, enabled */
    while (SYST_CVR == 0u) { /* CVR reads 0 until the first reload: wait for it */
    }
    kt_systick_wraps = 0u;
}

uint64_t kt_bsp_counter(void)
{
    uint32_t hi;
    uint32_t val;
    uint32_t pending;
    do {
        hi = kt_systick_wraps;
        val = SYST_CVR;
        pending = SCB_ICSR & SCB_ICSR_PENDSTSET;
    } while (hi != kt_systick_wraps);
    /* The counter may have wrapped before the interrupt was taken (QEMU takes interrupts at
     * block boundaries): a pending SysTick with a freshly reloaded (large) value is one more wrap. */
    if (pending && val > (SYST_RELOAD >> 1)) {
        hi++;
    }
    return ((uint64_t)hi << 24) | (uint64_t)(SYST_RELOAD - val);
}

uint32_t kt_bsp_millis(void)
{
    return (uint32_t)(kt_bsp_counter() / (kt_bsp_counter_hz() / 1000u));
}

int32_t kt_bsp_getc_timeout(uint32_t timeout_ms)
{
    const uint64_t start = kt_bsp_counter();
    const uint64_t limit = (uint64_t)timeout_ms * (kt_bsp_counter_hz() / 1000u);
    for (;;) {
        int32_t c = kt_board_uart_poll();
        if (c >= 0) {
            return c;
        }
        if (kt_bsp_counter() - start >= limit) {
            return -1;
        }
    }
}

void kt_bsp_write(const uint8_t *data, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        kt_bsp_putc(data[i]);
    }
}

uint32_t kt_bsp_stack_size(void)
{
    return (uint32_t)((uintptr_t)&_estack - (uintptr_t)&_sstack);
}

uint32_t kt_bsp_stack_high_water(void)
{
    const uint32_t *p = &_sstack;
    while (p < &_estack && *p == KT_STACK_PAINT) {
        p++;
    }
    return (uint32_t)((uintptr_t)&_estack - (uintptr_t)p);
}

uint32_t kt_bsp_static_ram_used(void)
{
    return (uint32_t)((uintptr_t)&_estack - (uintptr_t)&_sdata);
}

void kt_bsp_reset(void)
{
    kt_board_uart_flush();
    __asm volatile("dsb" ::: "memory");
    SCB_AIRCR = SCB_AIRCR_SYSRESETREQ;
    __asm volatile("dsb" ::: "memory");
    for (;;) {
    }
}

#endif /* __arm__ */
