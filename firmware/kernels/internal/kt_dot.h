/**
 * @file kt_dot.h
 * @brief int8 dot products shared by the conv / fully-connected kernels: portable C, or the
 *        ARMv7E-M DSP path (SXTB16 + SMLAD: four multiply-accumulates in two instructions).
 *
 * The path is chosen at compile time: KT_USE_DSP defaults to 1 when the compiler targets a
 * core with the DSP extension (__ARM_FEATURE_DSP, e.g. Cortex-M4/M7) and to 0 elsewhere;
 * build with -DKT_USE_DSP=0 to force the portable path. Both paths return the same int32
 * (sums wrap modulo 2^32 in both; no realistic layer comes near it), which the tests check by
 * running the same models with both builds.
 */
#ifndef KT_DOT_H
#define KT_DOT_H

#include <stdint.h>
#include <string.h>

#ifndef KT_USE_DSP
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
#define KT_USE_DSP 1
#else
#define KT_USE_DSP 0
#endif
#endif

/*
 * KT_HOST_SIMD: kernels with a host path, loops laid out for the host compiler's vectoriser
 * (portable C: one channel per lane, no intrinsics, bounded tiles on the stack). It defaults to 1
 * when the target is not an Arm core (the host engine, the native program, the fuzz build) and to
 * 0 on a microcontroller, whose stack is budgeted; -DKT_HOST_SIMD=0 gives the host the portable
 * loops the M7's portable build runs (the tests compare the two builds).
 */
#ifndef KT_HOST_SIMD
#if !KT_USE_DSP && !defined(__arm__) && !defined(__thumb__) && !defined(__aarch64__)
#define KT_HOST_SIMD 1
#else
#define KT_HOST_SIMD 0
#endif
#endif

/** Two 16-bit lanes in one word: lo's low half in bits 0-15, hi's in bits 16-31 (SMLAD operands,
    staged gradients). */
static inline uint32_t kt_pack16(int32_t lo, int32_t hi)
{
    return ((uint32_t)lo & 0xFFFFu) | ((uint32_t)hi << 16);
}

/** The signed 16-bit lanes of a word (kt_pack16()'s lo and hi, for the portable loops). */
static inline int32_t kt_lo16(uint32_t w)
{
    return (int16_t)(w & 0xFFFFu);
}
static inline int32_t kt_hi16(uint32_t w)
{
    return (int16_t)(w >> 16);
}

/* Keeps a helper out of its caller: a fast path and the portable loop it falls back to then never
   have their frames on the stack together (the stack is budgeted: device/memory.py). */
#if defined(__GNUC__)
#define KT_NOINLINE __attribute__((noinline))
#else
#define KT_NOINLINE
#endif

#if KT_USE_DSP
#include <arm_acle.h>
/* SXTB16 / SXTAB16 of a word rotated right by 8 (bytes 1 and 3 into the extended lanes) in one
   instruction: GCC does not fold the rotation into the intrinsics, so GCC and Clang get the
   instruction's own ROR operand; other compilers the intrinsic of the rotated word. */
#if defined(__GNUC__)
static inline uint32_t kt_sxtb16_ror8(uint32_t w)
{
    uint32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(w));
    return r;
}
static inline uint32_t kt_sxtab16_ror8(uint32_t a, uint32_t w)
{
    uint32_t r;
    __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(a), "r"(w));
    return r;
}
/* Two 16-bit lanes from two words: (low half of a, low half of b) and (high half of a, high half
   of b): PKHBT / PKHTB (GCC 12 builds them from shifts, masks and ORs: two instructions each). */
static inline uint32_t kt_pack_lo16(uint32_t a, uint32_t b)
{
    uint32_t r;
    __asm__("pkhbt %0, %1, %2, lsl #16" : "=r"(r) : "r"(a), "r"(b));
    return r;
}
static inline uint32_t kt_pack_hi16(uint32_t a, uint32_t b)
{
    uint32_t r;
    __asm__("pkhtb %0, %1, %2, asr #16" : "=r"(r) : "r"(b), "r"(a));
    return r;
}
#else
static inline uint32_t kt_pack_lo16(uint32_t a, uint32_t b)
{
    return kt_pack16((int32_t)a, (int32_t)b);
}
static inline uint32_t kt_pack_hi16(uint32_t a, uint32_t b)
{
    return (a >> 16) | (b & 0xFFFF0000u);
}
static inline uint32_t kt_sxtb16_ror8(uint32_t w)
{
    return __sxtb16((w >> 8) | (w << 24));
}
static inline uint32_t kt_sxtab16_ror8(uint32_t a, uint32_t w)
{
    return __sxtab16(a, (w >> 8) | (w << 24));
}
#endif
#endif

/** acc + sum_{i<n} a[i] * b[i]; n >= 0. */
static inline int32_t kt_dot_s8(const int8_t *a, const int8_t *b, int32_t n, int32_t acc)
{
    int32_t i = 0;
#if KT_USE_DSP
    for (; i + 4 <= n; i += 4) {
        uint32_t wa, wb;
        memcpy(&wa, a + i, 4);
        memcpy(&wb, b + i, 4);
        /* lanes (0, 2) and (1, 3) sign-extended to 16 bits, then two dual MACs */
        acc = (int32_t)__smlad(__sxtb16(wa), __sxtb16(wb), (uint32_t)acc);
        acc = (int32_t)__smlad(kt_sxtb16_ror8(wa), kt_sxtb16_ror8(wb), (uint32_t)acc);
    }
#endif
    for (; i < n; ++i) {
        acc = (int32_t)((uint32_t)acc + (uint32_t)((int32_t)a[i] * (int32_t)b[i]));
    }
    return acc;
}

/** acc + sum_{i<n} a[i] * (b[i] + b_offset); b_offset in [-128, 128] (the input offset). */
static inline int32_t kt_dot_offset_s8(const int8_t *a, const int8_t *b, int32_t n,
                                       int32_t b_offset, int32_t acc)
{
    int32_t i = 0;
#if KT_USE_DSP
    /* the offset added to both 16-bit lanes: b + offset fits int16 ([-256, 255]) */
    const uint32_t off2 = kt_pack16(b_offset, b_offset);
    for (; i + 4 <= n; i += 4) {
        uint32_t wa, wb;
        memcpy(&wa, a + i, 4);
        memcpy(&wb, b + i, 4);
        acc = (int32_t)__smlad(__sxtb16(wa), __sxtab16(off2, wb), (uint32_t)acc);
        acc = (int32_t)__smlad(kt_sxtb16_ror8(wa), kt_sxtab16_ror8(off2, wb), (uint32_t)acc);
    }
#endif
    for (; i < n; ++i) {
        acc = (int32_t)((uint32_t)acc + (uint32_t)((int32_t)a[i] * ((int32_t)b[i] + b_offset)));
    }
    return acc;
}

/** sum_{i<n} a[i] (the filter sum that folds an input offset out of a dot product). */
static inline int32_t kt_sum_s8(const int8_t *a, int32_t n)
{
    int32_t s = 0, i = 0;
#if KT_USE_DSP
    /* four bytes a word: USADA8 adds the four unsigned bytes of w ^ 0x80808080 (each a[i] + 128),
       so the sum over the words is sum a[i] + 128 * bytes (no lane overflows: a 32-bit sum) */
    uint32_t u = 0;
    for (; i + 8 <= n; i += 8) {
        uint32_t w0, w1;
        memcpy(&w0, a + i, 4);
        memcpy(&w1, a + i + 4, 4);
        u = __usada8(w0 ^ 0x80808080u, 0u, u);
        u = __usada8(w1 ^ 0x80808080u, 0u, u);
    }
    if (i + 4 <= n) {
        uint32_t w;
        memcpy(&w, a + i, 4);
        u = __usada8(w ^ 0x80808080u, 0u, u);
        i += 4;
    }
    s = (int32_t)(u - 128u * (uint32_t)i);
#endif
    for (; i < n; ++i) {
        s += a[i];
    }
    return s;
}

#endif /* KT_DOT_H */
