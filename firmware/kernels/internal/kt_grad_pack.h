/**
 * @file kt_grad_pack.h
 * @brief Internal: four int8 gradients stored as one word, their statistics kept per byte lane.
 *
 * kt_to_grad8() per value costs a 64-bit compare pair, two clamps and a running max. Most groups
 * of four need none of it: when all four values v already lie in [-128, 127] (tested at once: the
 * OR of v ^ (v >> 31), which is |v| for v >= 0 and |v| - 1 below, is at most 127) they are packed
 * into one word and stored, and |g| of each byte is folded into a per-lane running max (SSUB8 /
 * SEL for |g|, USUB8 / SEL for the max). Other groups take kt_to_grad8() value by value.
 *
 * kt_grad8_store4() writes the four to one place, kt_grad8_store2x2() two and two to two places.
 *
 * A -128 passes the test although to_grad8 makes it -127 and counts it saturated: its lane max
 * shows 128. kt_grad8_finish() then rewrites every -128 of the written tensor (none comes from
 * kt_to_grad8(), which never produces one) and counts them, and folds the lane max into the stats.
 * The values and the stats are to_grad8's exactly.
 */
#ifndef KT_INTERNAL_GRAD_PACK_H
#define KT_INTERNAL_GRAD_PACK_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "kt_dot.h"
#include "kt_grad_quant.h"

/**
 * @brief DSP builds: when v0..v3 all lie in [-128, 127], their low bytes as one word (v0 in the
 *        lowest byte) in *w, |g| folded into the lane maxima *lanes, and 1; else 0 (nothing
 *        done: the caller stores them through kt_to_grad8()). Portable builds: always 0.
 */
static inline int kt_grad8_pack4(int32_t v0, int32_t v1, int32_t v2, int32_t v3, uint32_t *w,
                                 uint32_t *lanes)
{
#if KT_USE_DSP && defined(__GNUC__)
    const uint32_t mag =
        (uint32_t)((v0 ^ (v0 >> 31)) | (v1 ^ (v1 >> 31)) | (v2 ^ (v2 >> 31)) | (v3 ^ (v3 >> 31)));
    if (mag <= 127u) {
        /* (v0, v2) and (v1, v3) as halfwords, their low bytes, interleaved: bytes v0 v1 v2 v3 */
        const uint32_t b = __uxtb16(kt_pack_lo16((uint32_t)v0, (uint32_t)v2)) |
                           (__uxtb16(kt_pack_lo16((uint32_t)v1, (uint32_t)v3)) << 8);
        uint32_t a, t;
        /* |g| per byte (0 - g where g <= 0, else g), then the lane max; GE flags inside one block */
        __asm__("ssub8 %[a], %[z], %[b]\n\t"
                "sel %[a], %[a], %[b]\n\t"
                "usub8 %[t], %[m], %[a]\n\t"
                "sel %[m], %[m], %[a]\n\t"
                : [a] "=&r"(a), [t] "=&r"(t), [m] "+r"(*lanes)
                : [b] "r"(b), [z] "r"(0u));
        (void)t;
        *w = b;
        return 1;
    }
#else
    (void)v0;
    (void)v1;
    (void)v2;
    (void)v3;
    (void)w;
    (void)lanes;
#endif
    return 0;
}

/** @brief g[0..3] = to_grad8(v0..v3): one word store when kt_grad8_pack4() takes them. */
static inline void kt_grad8_store4(int32_t v0, int32_t v1, int32_t v2, int32_t v3, int8_t *g,
                                   uint32_t *lanes, kt_grad_stats *st)
{
    uint32_t w;
    if (kt_grad8_pack4(v0, v1, v2, v3, &w, lanes)) {
        memcpy(g, &w, 4);
        return;
    }
    g[0] = kt_to_grad8(v0, st);
    g[1] = kt_to_grad8(v1, st);
    g[2] = kt_to_grad8(v2, st);
    g[3] = kt_to_grad8(v3, st);
}

/** @brief g0[0..1] = to_grad8(v0, v1), g1[0..1] = to_grad8(v2, v3): two halfword stores when
 *         kt_grad8_pack4() takes them. */
static inline void kt_grad8_store2x2(int32_t v0, int32_t v1, int8_t *g0, int32_t v2, int32_t v3,
                                     int8_t *g1, uint32_t *lanes, kt_grad_stats *st)
{
    uint32_t w;
    if (kt_grad8_pack4(v0, v1, v2, v3, &w, lanes)) {
        const uint16_t lo = (uint16_t)w, hi = (uint16_t)(w >> 16);
        memcpy(g0, &lo, 2);
        memcpy(g1, &hi, 2);
        return;
    }
    g0[0] = kt_to_grad8(v0, st);
    g0[1] = kt_to_grad8(v1, st);
    g1[0] = kt_to_grad8(v2, st);
    g1[1] = kt_to_grad8(v3, st);
}

/**
 * @brief Settle kt_grad8_store4()'s packed stores: the lane maxima into st->amax, and when a lane
 *        saw -128, every -128 among the n written values g[0..n) becomes -127 and counts as
 *        saturated (as to_grad8 has it).
 */
static inline void kt_grad8_finish(uint32_t lanes, int8_t *g, size_t n, kt_grad_stats *st)
{
    int32_t m = 0, j;
    for (j = 0; j < 4; ++j) {
        const int32_t b = (int32_t)((lanes >> (8 * j)) & 0xFFu);
        m = b > m ? b : m;
    }
    if (m == 128) {
        size_t i;
        for (i = 0; i < n; ++i) {
            if (g[i] == -128) {
                g[i] = -127;
                st->saturated++;
            }
        }
        m = 127;
    }
    if (m > st->amax) {
        st->amax = m;
    }
}

#endif /* KT_INTERNAL_GRAD_PACK_H */
