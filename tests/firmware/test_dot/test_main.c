/* The shared int8 sums of internal/kt_dot.h (kt_sum_s8(), kt_dot_s8(), kt_dot_offset_s8()) against
 * plain loops, on every length up to 300 from every alignment and on the extreme values, on the
 * host (portable C) and on the emulated M7 (the DSP paths: USADA8, SXTB16 + SMLAD). */
#include <stdint.h>
#include <string.h>

#include "../../../firmware/kernels/internal/kt_dot.h"
#include "kt_test.h"

#define MAX_N 300

static int8_t a[MAX_N + 4], b[MAX_N + 4];
static uint32_t rng_state = 88172645u;

static uint32_t next(void)
{
    return kt_test_xorshift32(&rng_state);
}

static void fill(int8_t *x, int32_t n, int32_t mode)
{
    for (int32_t i = 0; i < n; ++i) {
        x[i] = mode == 0 ? (int8_t)next() : (mode == 1 ? (int8_t)-128 : (int8_t)127);
    }
}

static void test_sums_and_dots(void)
{
    for (int32_t mode = 0; mode < 3; ++mode) {
        for (int32_t n = 0; n <= MAX_N; ++n) {
            const int32_t at = n % 4; /* the start's alignment: unaligned words too */
            int32_t sum = 0, dot = 0, dot_off = 0;
            const int32_t off = (int32_t)(next() % 257u) - 128, acc = (int32_t)next();
            fill(a, MAX_N + 4, mode);
            fill(b, MAX_N + 4, 0);
            for (int32_t i = 0; i < n; ++i) {
                sum += a[at + i];
                dot += a[at + i] * b[at + i];
                dot_off += a[at + i] * (b[at + i] + off);
            }
            KT_CHECK_EQ_INT(kt_sum_s8(a + at, n), sum);
            KT_CHECK_EQ_INT(kt_dot_s8(a + at, b + at, n, acc),
                            (int32_t)((uint32_t)acc + (uint32_t)dot));
            KT_CHECK_EQ_INT(kt_dot_offset_s8(a + at, b + at, n, off, acc),
                            (int32_t)((uint32_t)acc + (uint32_t)dot_off));
        }
    }
}

int main(void)
{
    KT_TEST_BEGIN();
    KT_RUN(test_sums_and_dots);
    return kt_test_end();
}
