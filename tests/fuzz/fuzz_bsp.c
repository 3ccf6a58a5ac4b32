/* The board under the fuzzer: a host BSP whose UART is the harness (fuzz_app.c), whose counter
 * advances by one per read, whose reset jumps back to the harness and whose checkpoint store is
 * two 64 KB slots of memory with NOR flash semantics. */
#include <setjmp.h>
#include <stdlib.h>

#include "kt_bsp.h"
#include "kt_store_ram.h"

extern jmp_buf kt_fuzz_restart;

static uint64_t kt_fuzz_ticks;

void kt_bsp_init(void) {}
void kt_bsp_putc(uint8_t byte)
{
    (void)byte;
}
void kt_bsp_write(const uint8_t *data, size_t len)
{
    (void)data;
    (void)len;
}
int32_t kt_bsp_getc_timeout(uint32_t timeout_ms)
{
    (void)timeout_ms;
    return -1;
}
uint64_t kt_bsp_counter(void)
{
    return ++kt_fuzz_ticks;
}
uint32_t kt_bsp_counter_hz(void)
{
    return 1000000u;
}
uint32_t kt_bsp_instructions_per_tick(void)
{
    return 0u;
}
uint32_t kt_bsp_millis(void)
{
    return (uint32_t)(kt_fuzz_ticks / 1000u);
}
uint32_t kt_bsp_stack_size(void)
{
    return 0u;
}
uint32_t kt_bsp_stack_high_water(void)
{
    return 0u;
}
const char *kt_bsp_board_name(void)
{
    return "fuzz";
}
uint32_t kt_bsp_sram_size(void)
{
    return 0u;
}
uint32_t kt_bsp_flash_size(void)
{
    return 0u;
}
uint32_t kt_bsp_static_ram_used(void)
{
    return 0u;
}
void kt_bsp_exit(int code)
{
    exit(code);
}
void kt_bsp_reset(void)
{
    longjmp(kt_fuzz_restart, 1);
}

#define KT_FUZZ_SLOT_SIZE (64u * 1024u)
static uint8_t kt_fuzz_store[2][KT_FUZZ_SLOT_SIZE];

uint32_t kt_bsp_store_slot_size(void)
{
    return KT_FUZZ_SLOT_SIZE;
}
const uint8_t *kt_bsp_store_slot(uint32_t slot)
{
    return slot < 2u ? kt_fuzz_store[slot] : NULL;
}
kt_status kt_bsp_store_erase(uint32_t slot)
{
    return kt_store_ram_erase(slot < 2u ? kt_fuzz_store[slot] : NULL, KT_FUZZ_SLOT_SIZE);
}
kt_status kt_bsp_store_program(uint32_t slot, uint32_t offset, const uint8_t *data, uint32_t len)
{
    return kt_store_ram_program(slot < 2u ? kt_fuzz_store[slot] : NULL, KT_FUZZ_SLOT_SIZE, offset,
                                data, len);
}
