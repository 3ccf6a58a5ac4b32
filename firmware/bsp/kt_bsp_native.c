/*
 * Host BSP: the "UART" is stdin/stdout (unbuffered), the counter is CLOCK_MONOTONIC in ns.
 * Used by `pio test -e native` and to serve the serial protocol to host-side tests.
 */
#if !defined(__arm__)

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "kt_bsp.h"

static uint64_t kt_native_start_ns;

static uint64_t kt_native_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void kt_bsp_init(void)
{
    kt_native_start_ns = kt_native_now_ns();
}

void kt_bsp_putc(uint8_t byte)
{
    kt_bsp_write(&byte, 1);
}

void kt_bsp_write(const uint8_t *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(STDOUT_FILENO, data, len);
        if (n <= 0) {
            exit(3); /* the host side closed the pipe */
        }
        data += n;
        len -= (size_t)n;
    }
}

int32_t kt_bsp_getc_timeout(uint32_t timeout_ms)
{
    struct pollfd pfd = {STDIN_FILENO, POLLIN, 0};
    if (poll(&pfd, 1, (int)timeout_ms) <= 0) {
        return -1;
    }
    uint8_t c;
    if (read(STDIN_FILENO, &c, 1) != 1) {
        exit(0); /* end of input: the host is done */
    }
    return c;
}

/* clang-format off */
uint64_t kt_bsp_counter(void) { return kt_native_now_ns() - kt_native_start_ns; }
uint32_t kt_bsp_counter_hz(void) { return 1000000000u; }
uint32_t kt_bsp_instructions_per_tick(void) { return 0u; }
uint32_t kt_bsp_millis(void) { return (uint32_t)(kt_bsp_counter() / 1000000u); }
uint32_t kt_bsp_stack_size(void) { return 0u; }
uint32_t kt_bsp_stack_high_water(void) { return 0u; }
uint32_t kt_bsp_static_ram_used(void) { return 0u; }
const char *kt_bsp_board_name(void) { return "native"; }
uint32_t kt_bsp_sram_size(void) { return 0u; }
uint32_t kt_bsp_flash_size(void) { return 0u; }
/* clang-format on */

void kt_bsp_exit(int code)
{
    exit(code);
}

void kt_bsp_reset(void)
{
    /* A fresh process image on the same stdin/stdout: every static back to its initial value. */
    char *const argv[] = {(char *)"kilotrain-native", NULL};
    execv("/proc/self/exe", argv);
    exit(4);
}

#endif
