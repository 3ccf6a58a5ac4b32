/**
 * @file kt_window.h
 * @brief Internal: the taps of a filter window that land inside the image, one axis at a time
 *        (the convolution and depthwise kernels skip the others instead of testing every tap).
 */
#ifndef KT_INTERNAL_WINDOW_H
#define KT_INTERNAL_WINDOW_H

#include <stdint.h>

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

#endif /* KT_INTERNAL_WINDOW_H */
