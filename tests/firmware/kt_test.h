/*
 * kt_test.h — the firmware unit-test harness (header-only, no libc stdio, no malloc).
 * Prints Unity's line format over kt_bsp so PlatformIO's parser reads the results on every
 * target: `file:line:name:PASS` / `file:line:name:FAIL: message`, then
 * `N Tests N Failures 0 Ignored`. The program's exit code is the number of failures.
 *
 * Usage: write `static void test_x(void) { KT_CHECK(a == b); KT_CHECK_EQ_INT(a, b); }`,
 * then in main(): KT_TEST_BEGIN(); KT_RUN(test_x); return kt_test_end();
 */
#ifndef KT_TEST_H
#define KT_TEST_H

#include <stdint.h>
#include <string.h>

#include "kt_bsp.h"

static uint32_t kt_test_count, kt_test_failures, kt_test_failed_now;
static const char *kt_test_name;

static void kt_test_puts(const char *s)
{
    kt_bsp_write((const uint8_t *)s, strlen(s));
}

static void kt_test_putl(long v)
{
    char buf[24];
    int i = 0;
    unsigned long u = (v < 0) ? (unsigned long)(-(v + 1)) + 1u : (unsigned long)v;
    do {
        buf[i++] = (char)('0' + (u % 10u));
        u /= 10u;
    } while (u > 0);
    if (v < 0) {
        buf[i++] = '-';
    }
    while (i > 0) {
        kt_bsp_putc((uint8_t)buf[--i]);
    }
}

static void kt_test_fail_at(const char *file, int line, const char *what, long a, long b,
                            int has_values)
{
    if (kt_test_failed_now) {
        return; /* report the first failure of a test only */
    }
    kt_test_failed_now = 1;
    kt_test_puts(file);
    kt_test_puts(":");
    kt_test_putl(line);
    kt_test_puts(":");
    kt_test_puts(kt_test_name);
    kt_test_puts(":FAIL: ");
    kt_test_puts(what);
    if (has_values) {
        kt_test_puts(" (got ");
        kt_test_putl(a);
        kt_test_puts(", expected ");
        kt_test_putl(b);
        kt_test_puts(")");
    }
    kt_test_puts("\n");
}

/** The tests' pseudo-random numbers: one xorshift32 step of *s (never 0 from a nonzero seed). */
static inline uint32_t kt_test_xorshift32(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

#define KT_CHECK(cond)                                           \
    do {                                                         \
        if (!(cond)) {                                           \
            kt_test_fail_at(__FILE__, __LINE__, #cond, 0, 0, 0); \
        }                                                        \
    } while (0)

#define KT_CHECK_EQ_INT(actual, expected)                                                   \
    do {                                                                                    \
        long kt_a_ = (long)(actual), kt_e_ = (long)(expected);                              \
        if (kt_a_ != kt_e_) {                                                               \
            kt_test_fail_at(__FILE__, __LINE__, #actual " == " #expected, kt_a_, kt_e_, 1); \
        }                                                                                   \
    } while (0)

#define KT_TEST_BEGIN() (kt_bsp_init(), kt_test_count = 0, kt_test_failures = 0)

#define KT_RUN(fn)                           \
    do {                                     \
        kt_test_name = #fn;                  \
        kt_test_failed_now = 0;              \
        kt_test_count++;                     \
        fn();                                \
        if (kt_test_failed_now) {            \
            kt_test_failures++;              \
        } else {                             \
            kt_test_puts(__FILE__ ":");      \
            kt_test_putl(__LINE__);          \
            kt_test_puts(":" #fn ":PASS\n"); \
        }                                    \
    } while (0)

static int kt_test_end(void)
{
    kt_test_puts("-----------------------\n");
    kt_test_putl((long)kt_test_count);
    kt_test_puts(" Tests ");
    kt_test_putl((long)kt_test_failures);
    kt_test_puts(" Failures 0 Ignored\n");
    kt_test_puts(kt_test_failures ? "FAIL\n" : "OK\n");
    return (int)kt_test_failures;
}

#endif /* KT_TEST_H */
