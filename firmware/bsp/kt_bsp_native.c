/*
 * Host BSP: the "UART" is stdin/stdout (unbuffered), the counter is CLOCK_MONOTONIC in ns, the
 * checkpoint store a file named by $KT_STORE (mapped shared, so it survives RESET and the process),
 * with a power-loss hook for tests: $KT_STORE_FAIL_AT = N resets the device once N bytes have been
 * programmed (N = "erase": halfway through the next erase). Used by `pio test -e native` and to
 * serve the serial protocol to host-side tests.
 */
#if !defined(__arm__)

#define _POSIX_C_SOURCE 200809L /* ftruncate, mmap, msync, unsetenv under -std=c99 */

#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "kt_bsp.h"
#include "kt_store_ram.h"

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

/* ---- checkpoint store: two 256 KB slots in the file $KT_STORE ---- */
#define KT_NATIVE_SLOT_SIZE (256u * 1024u)

static uint8_t *kt_native_store; /* the mapped file; NULL: not opened yet or no store */
static int kt_native_store_tried;
static long long kt_native_fail_at = -1; /* programmed bytes before the simulated power loss */
static int kt_native_fail_erase;
static long long kt_native_programmed;

static uint8_t *kt_native_store_map(void)
{
    if (kt_native_store_tried) {
        return kt_native_store;
    }
    kt_native_store_tried = 1;
    const char *path = getenv("KT_STORE");
    const char *fail = getenv("KT_STORE_FAIL_AT");
    if (fail != NULL) {
        kt_native_fail_erase = strcmp(fail, "erase") == 0;
        kt_native_fail_at = kt_native_fail_erase ? -1 : atoll(fail);
    }
    if (path == NULL || path[0] == '\0') {
        return NULL;
    }
    int fd = open(path, O_RDWR | O_CREAT, 0644);
    if (fd < 0 || ftruncate(fd, 2 * (off_t)KT_NATIVE_SLOT_SIZE) != 0) {
        if (fd >= 0) {
            close(fd);
        }
        return NULL;
    }
    void *p = mmap(NULL, 2u * KT_NATIVE_SLOT_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    kt_native_store = (p == MAP_FAILED) ? NULL : (uint8_t *)p;
    return kt_native_store;
}

/* The simulated power loss: the bytes written so far stay, the device restarts (once). */
static void kt_native_power_loss(void)
{
    unsetenv("KT_STORE_FAIL_AT");
    msync(kt_native_store, 2u * KT_NATIVE_SLOT_SIZE, MS_SYNC);
    kt_bsp_reset();
}

uint32_t kt_bsp_store_slot_size(void)
{
    return kt_native_store_map() != NULL ? KT_NATIVE_SLOT_SIZE : 0u;
}

const uint8_t *kt_bsp_store_slot(uint32_t slot)
{
    uint8_t *s = kt_native_store_map();
    return (s != NULL && slot < 2u) ? s + slot * KT_NATIVE_SLOT_SIZE : NULL;
}

kt_status kt_bsp_store_erase(uint32_t slot)
{
    uint8_t *s = (uint8_t *)(uintptr_t)kt_bsp_store_slot(slot);
    if (s != NULL && kt_native_fail_erase) {
        memset(s, 0xFF, KT_NATIVE_SLOT_SIZE / 2u);
        kt_native_power_loss();
    }
    return kt_store_ram_erase(s, kt_bsp_store_slot_size());
}

kt_status kt_bsp_store_program(uint32_t slot, uint32_t offset, const uint8_t *data, uint32_t len)
{
    uint8_t *s = (uint8_t *)(uintptr_t)kt_bsp_store_slot(slot);
    if (s != NULL && kt_native_fail_at >= 0 && kt_native_programmed + len > kt_native_fail_at) {
        uint32_t head = (uint32_t)(kt_native_fail_at - kt_native_programmed);
        (void)kt_store_ram_program(s, KT_NATIVE_SLOT_SIZE, offset, data, head);
        kt_native_power_loss();
    }
    kt_native_programmed += len;
    return kt_store_ram_program(s, kt_bsp_store_slot_size(), offset, data, len);
}
#endif
