/*
 * STM32F746G-DISCO, register level (no HAL): HSE 25 MHz -> PLL -> 216 MHz (over-drive on,
 * 7 flash wait states), APB1 54 MHz, APB2 108 MHz; USART1 on the ST-LINK virtual COM port
 * (TX PA9, RX PB7, AF7) at 115200 8N1; SysTick counts CPU cycles; checkpoints in flash sectors
 * 6 and 7 (256 KB each, erased and programmed through the FLASH registers, RM0385 section 3).
 * Built offline by the disco_bm environment; not yet run on a physical board.
 */
#if defined(__arm__) && defined(KT_BOARD_STM32F746)

#include <stdint.h>

#include "kt_bsp.h"
#include "kt_bsp_cortexm.h"

#define REG(addr) (*(volatile uint32_t *)(addr))

#define RCC_BASE 0x40023800u
#define RCC_CR REG(RCC_BASE + 0x00u)
#define RCC_PLLCFGR REG(RCC_BASE + 0x04u)
#define RCC_CFGR REG(RCC_BASE + 0x08u)
#define RCC_AHB1ENR REG(RCC_BASE + 0x30u)
#define RCC_APB1ENR REG(RCC_BASE + 0x40u)
#define RCC_APB2ENR REG(RCC_BASE + 0x44u)
#define PWR_CR1 REG(0x40007000u)
#define PWR_CSR1 REG(0x40007004u)
#define FLASH_ACR REG(0x40023C00u)

#define GPIOA_BASE 0x40020000u
#define GPIOB_BASE 0x40020400u
#define GPIO_MODER(b) REG((b) + 0x00u)
#define GPIO_OSPEEDR(b) REG((b) + 0x08u)
#define GPIO_AFRL(b) REG((b) + 0x20u)
#define GPIO_AFRH(b) REG((b) + 0x24u)

#define USART1_BASE 0x40011000u
#define USART_CR1 REG(USART1_BASE + 0x00u)
#define USART_BRR REG(USART1_BASE + 0x0Cu)
#define USART_ISR REG(USART1_BASE + 0x1Cu)
#define USART_ICR REG(USART1_BASE + 0x20u)
#define USART_RDR REG(USART1_BASE + 0x24u)
#define USART_TDR REG(USART1_BASE + 0x28u)
#define USART_ISR_ORE (1u << 3)
#define USART_ISR_RXNE (1u << 5)
#define USART_ISR_TXE (1u << 7)
#define USART_ISR_TC (1u << 6)

#define CPU_HZ 216000000u
#define APB2_HZ 108000000u
#define BAUD 115200u

static void kt_stm32_clock_216mhz(void)
{
    RCC_CR |= (1u << 16); /* HSEON */
    while (!(RCC_CR & (1u << 17))) {
    }
    RCC_APB1ENR |= (1u << 28); /* PWREN */
    PWR_CR1 |= (3u << 14);     /* VOS scale 1 */
    /* PLL: 25 MHz / M=25 * N=432 / P=2 = 216 MHz; Q=9 (48 MHz domain); source HSE */
    RCC_PLLCFGR = 25u | (432u << 6) | (0u << 16) | (1u << 22) | (9u << 24);
    RCC_CR |= (1u << 24);  /* PLLON */
    PWR_CR1 |= (1u << 16); /* over-drive enable */
    while (!(PWR_CSR1 & (1u << 16))) {
    }
    PWR_CR1 |= (1u << 17); /* over-drive switch */
    while (!(PWR_CSR1 & (1u << 17))) {
    }
    FLASH_ACR = 7u | (1u << 8) | (1u << 9); /* 7 wait states, prefetch, ART */
    while (!(RCC_CR & (1u << 25))) {
    }
    RCC_CFGR = (RCC_CFGR & ~0xFCF3u) | (5u << 10) | (4u << 13) | 2u; /* APB1 /4, APB2 /2, SW=PLL */
    while (((RCC_CFGR >> 2) & 3u) != 2u) {
    }
}

static void kt_stm32_uart_init(void)
{
    RCC_AHB1ENR |= (1u << 0) | (1u << 1); /* GPIOA, GPIOB */
    RCC_APB2ENR |= (1u << 4);             /* USART1 */
    /* PA9 = USART1_TX, PB7 = USART1_RX: alternate function 7 */
    GPIO_MODER(GPIOA_BASE) = (GPIO_MODER(GPIOA_BASE) & ~(3u << 18)) | (2u << 18);
    GPIO_OSPEEDR(GPIOA_BASE) |= (3u << 18);
    GPIO_AFRH(GPIOA_BASE) = (GPIO_AFRH(GPIOA_BASE) & ~(0xFu << 4)) | (7u << 4);
    GPIO_MODER(GPIOB_BASE) = (GPIO_MODER(GPIOB_BASE) & ~(3u << 14)) | (2u << 14);
    GPIO_AFRL(GPIOB_BASE) = (GPIO_AFRL(GPIOB_BASE) & ~(0xFu << 28)) | (7u << 28);
    USART_BRR = (APB2_HZ + BAUD / 2u) / BAUD; /* oversampling by 16 */
    USART_CR1 = (1u << 3) | (1u << 2) | 1u;   /* TE, RE, UE; 8N1 */
}

void kt_bsp_init(void)
{
    kt_stm32_clock_216mhz();
    kt_stm32_uart_init();
    kt_cortexm_counter_start();
}

void kt_bsp_putc(uint8_t byte)
{
    while (!(USART_ISR & USART_ISR_TXE)) {
    }
    USART_TDR = byte;
}

void kt_board_uart_flush(void)
{
    while (!(USART_ISR & USART_ISR_TC)) { /* transmission complete: the shift register is empty */
    }
}

int32_t kt_board_uart_poll(void)
{
    uint32_t isr = USART_ISR;
    if (isr & USART_ISR_ORE) {
        USART_ICR = USART_ISR_ORE; /* an overrun loses bytes; the frame CRC reports it */
    }
    if (isr & USART_ISR_RXNE) {
        return (int32_t)(USART_RDR & 0xFFu);
    }
    return -1;
}

/* clang-format off */
uint32_t kt_bsp_counter_hz(void) { return CPU_HZ; }
uint32_t kt_bsp_instructions_per_tick(void) { return 0u; }
const char *kt_bsp_board_name(void) { return "disco_f746ng"; }
uint32_t kt_bsp_sram_size(void) { return 320u * 1024u; }
uint32_t kt_bsp_flash_size(void) { return 1024u * 1024u; }
/* clang-format on */

void kt_bsp_exit(int code)
{
    (void)code; /* no debugger to report to: wait for a reset */
    for (;;) {
    }
}

/* ---- checkpoint store: flash sectors 6 (0x08080000) and 7 (0x080C0000) ----
 * Usable when the image ends below sector 6 (kt_bsp_cortexm.c). Erase runs with
 * 32-bit parallelism (VDD 2.7-3.6 V, as on the Discovery board), program byte by byte (any
 * alignment; bytes land in order, so a reset part way leaves a written prefix). The data cache is
 * off, so reads through the AXI flash port see what was just programmed. */
#define FLASH_BASE 0x08000000u
#define FLASH_KEYR REG(0x40023C04u)
#define FLASH_SR REG(0x40023C0Cu)
#define FLASH_CR REG(0x40023C10u)
#define FLASH_KEY1 0x45670123u
#define FLASH_KEY2 0xCDEF89ABu
#define FLASH_SR_BSY (1u << 16)
#define FLASH_SR_ERRORS 0xF2u /* OPERR, WRPERR, PGAERR, PGPERR, ERSERR */
#define FLASH_CR_PG (1u << 0)
#define FLASH_CR_SER (1u << 1)
#define FLASH_CR_SNB_SHIFT 3u
#define FLASH_CR_PSIZE_X32 (2u << 8)
#define FLASH_CR_STRT (1u << 16)
#define FLASH_CR_LOCK (1u << 31)
#define STORE_FIRST_SECTOR 6u

static void kt_flash_wait(void)
{
    while (FLASH_SR & FLASH_SR_BSY) {
    }
}

static void kt_flash_unlock(void)
{
    kt_flash_wait();
    if (FLASH_CR & FLASH_CR_LOCK) {
        FLASH_KEYR = FLASH_KEY1;
        FLASH_KEYR = FLASH_KEY2;
    }
    FLASH_SR = FLASH_SR_ERRORS; /* clear stale error flags (write 1 to clear) */
}

/* Lock the controller again; KT_OK unless the operation set an error flag. */
static kt_status kt_flash_finish(void)
{
    kt_flash_wait();
    uint32_t sr = FLASH_SR;
    FLASH_CR = FLASH_CR_LOCK;
    return (sr & FLASH_SR_ERRORS) ? KT_ARG_ERROR : KT_OK;
}

uint32_t kt_board_flash_base(void)
{
    return FLASH_BASE;
}

kt_status kt_bsp_store_erase(uint32_t slot)
{
    if (kt_bsp_store_slot(slot) == NULL) {
        return KT_ARG_ERROR;
    }
    kt_flash_unlock();
    FLASH_CR =
        FLASH_CR_PSIZE_X32 | FLASH_CR_SER | ((STORE_FIRST_SECTOR + slot) << FLASH_CR_SNB_SHIFT);
    FLASH_CR |= FLASH_CR_STRT;
    __asm volatile("dsb" ::: "memory");
    return kt_flash_finish(); /* 1-4 s for a 256 KB sector (datasheet) */
}

kt_status kt_bsp_store_program(uint32_t slot, uint32_t offset, const uint8_t *data, uint32_t len)
{
    const uint8_t *base = kt_bsp_store_slot(slot);
    if (base == NULL || offset > KT_CORTEXM_STORE_SLOT_SIZE ||
        len > KT_CORTEXM_STORE_SLOT_SIZE - offset) {
        return KT_ARG_ERROR;
    }
    kt_flash_unlock();
    FLASH_CR = FLASH_CR_PG; /* PSIZE x8: one byte per write */
    volatile uint8_t *dst = (volatile uint8_t *)(uintptr_t)(base + offset);
    for (uint32_t i = 0; i < len; i++) {
        dst[i] = data[i];
        __asm volatile("dsb" ::: "memory");
        kt_flash_wait();
        if (FLASH_SR & FLASH_SR_ERRORS) {
            break;
        }
    }
    return kt_flash_finish();
}

void kt_board_fault(void)
{
    kt_bsp_exit(0xFA);
}

#endif
