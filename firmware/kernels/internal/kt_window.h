/**
 * @file kt_window.h
 * @brief Internal: the taps of a filter window that land inside the image, one axis at a time
 *        (the convolution and depthwise kernels skip the others instead of testing every tap),
 *        and the short copy that gathers a window's runs.
 */
#ifndef KT_INTERNAL_WINDOW_H
#define KT_INTERNAL_WINDOW_H

#include <stdint.h>
#include <string.h>

/** Taps t in [0, k) whose position i0 + t * dil lies in [0, size): [*lo, *hi) (empty: lo == hi). */
static inline void kt_taps_inside(int32_t i0, int32_t k, int32_t dil, int32_t size, int32_t *lo,
                                  int32_t *hi)
{
    int32_t a = 0, b = k;
    while (a < k && i0 + a * dil < 0) {
        ++a;
    }
    while (b > a && i0 + (b - 1) * dil >= size) {
        --b;
    }
    *lo = a;
    *hi = b;
}

/**
 * n bytes from src to dst a word at a time (unaligned word access: LDR / STR on the M7), then
 * bytes; returns the end of dst. The empty asm statements keep GCC from turning the loops into a
 * call of memcpy / memmove, whose set-up costs more than these short runs (a window's row: the
 * stem's 9 bytes cost ~150 instructions through newlib's memmove, 8 here).
 */
static inline int8_t *kt_copy_short(int8_t *dst, const int8_t *src, int32_t n)
{
    for (; n >= 4; n -= 4, src += 4, dst += 4) {
        uint32_t w;
        memcpy(&w, src, 4);
#if defined(__GNUC__)
        __asm__("" : "+r"(w));
#endif
        memcpy(dst, &w, 4);
    }
    for (; n > 0; --n) {
        int32_t b = *src++;
#if defined(__GNUC__)
        __asm__("" : "+r"(b));
#endif
        *dst++ = (int8_t)b;
    }
    return dst;
}

#endif /* KT_INTERNAL_WINDOW_H */
