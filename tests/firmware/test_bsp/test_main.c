/* Board support: counter, timeouts, stack high-water mark, memory facts. */
#include "kt_bsp.h"
#include "kt_test.h"

static void test_counter_advances(void)
{
    uint64_t a = kt_bsp_counter();
    volatile uint32_t sink = 0;
    for (uint32_t i = 0; i < 100000u; i++) {
        sink += i;
    }
    uint64_t b = kt_bsp_counter();
    KT_CHECK(b > a);
    KT_CHECK(kt_bsp_counter_hz() >= 1000000u);
}

static void test_counter_crosses_systick_wrap(void)
{
    /* 2^24 ticks is one SysTick wrap; wait past one and check the 64-bit count kept going. */
    uint64_t start = kt_bsp_counter();
    uint64_t prev = start;
    uint64_t now;
    do {
        now = kt_bsp_counter();
        KT_CHECK(now >= prev);
        prev = now;
    } while (now - start < (1ull << 24) + 1000u);
}

#if defined(__arm__)
static uint32_t burn_stack(uint32_t depth)
{
    volatile uint8_t frame[256];
    frame[0] = (uint8_t)depth;
    return depth == 0 ? frame[0] : burn_stack(depth - 1) + frame[0];
}

static void test_stack_high_water_sees_deep_call(void)
{
    uint32_t before = kt_bsp_stack_high_water();
    KT_CHECK(before > 0);
    KT_CHECK(before < kt_bsp_stack_size());
    (void)burn_stack(20);
    uint32_t after = kt_bsp_stack_high_water();
    KT_CHECK(after >= before + 20u * 256u);
    KT_CHECK(after < kt_bsp_stack_size());
}

static void test_uart_timeout_without_input(void)
{
    uint32_t t0 = kt_bsp_millis();
    KT_CHECK_EQ_INT(kt_bsp_getc_timeout(5), -1);
    KT_CHECK(kt_bsp_millis() - t0 >= 5u);
}

static void test_memory_facts(void)
{
    KT_CHECK_EQ_INT(kt_bsp_sram_size(), 320 * 1024);
    KT_CHECK_EQ_INT(kt_bsp_flash_size(), 1024 * 1024);
    KT_CHECK(kt_bsp_static_ram_used() >= kt_bsp_stack_size());
    KT_CHECK(kt_bsp_static_ram_used() < kt_bsp_sram_size());
}
#endif

int main(void)
{
    KT_TEST_BEGIN();
    KT_RUN(test_counter_advances);
    KT_RUN(test_counter_crosses_systick_wrap);
#if defined(__arm__)
    KT_RUN(test_stack_high_water_sees_deep_call);
    KT_RUN(test_uart_timeout_without_input);
    KT_RUN(test_memory_facts);
#endif
    return kt_test_end();
}
