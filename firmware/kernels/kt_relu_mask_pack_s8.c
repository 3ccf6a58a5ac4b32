/**
 * @file kt_relu_mask_pack_s8.c
 * @brief Pack the ReLU mask of a forward output, one bit per element, LSB first
 *        (golden relu_mask.py: relu_mask_pack).
 */
#include <string.h>

#include "kt_train_kernels.h"
#include "internal/kt_dot.h"

#if KT_USE_DSP
/* The bits of four values (bit k: lo1 <= y[k] <= tm1, signed): SSUB8 sets byte k's GE flag where
   y[k] - lo1 >= 0 and SEL keeps 0xFF there, the second SSUB8 / SEL keeps the bytes where also
   tm1 - y[k] >= 0; the multiply gathers byte k's low bit to bit 24 + k (0x01020408: shifts of
   24 - 7k; the cross terms land on distinct bits below 24 or above 31, so nothing carries in). */
static inline uint32_t kt_mask4(uint32_t y, uint32_t lo4, uint32_t tm4)
{
    uint32_t a;
#if defined(__GNUC__)
    uint32_t t; /* the flags between SSUB8 and SEL in one block: the compiler cannot drop them */
    __asm__("ssub8 %[a], %[y], %[lo]\n\t"
            "sel %[a], %[ff], %[z]\n\t"
            "ssub8 %[t], %[tm], %[y]\n\t"
            "sel %[a], %[a], %[z]\n\t"
            : [a] "=&r"(a), [t] "=&r"(t)
            : [y] "r"(y), [lo] "r"(lo4), [tm] "r"(tm4), [ff] "r"(0xFFFFFFFFu), [z] "r"(0u)
            : "cc");
#else
    (void)__ssub8(y, lo4);
    a = __sel(0xFFFFFFFFu, 0u);
    (void)__ssub8(tm4, y);
    a = __sel(a, 0u);
#endif
    return ((a & 0x01010101u) * 0x01020408u) >> 24;
}
#endif

kt_status kt_relu_mask_pack_s8(const kt_relu_mask_params *p, int32_t count, const int8_t *output,
                               uint8_t *mask)
{
    int32_t i;
    if (p == NULL || count < 0 || (count > 0 && (output == NULL || mask == NULL)) ||
        p->act_min < -128 || p->act_max > 127 || p->act_min > p->act_max) {
        return KT_ARG_ERROR;
    }
    {
        /* lo < y < top (top = act_max for RELU6, else 128) as one unsigned compare */
        const int32_t lo1 = p->act_min + 1, top = p->relu6 ? p->act_max : 128;
        const uint32_t span = top - lo1 > 0 ? (uint32_t)(top - lo1) : 0u;
        i = 0;
#if KT_USE_DSP
        if (span != 0u) { /* lo1 and top - 1 are then both in [-127, 127]: one int8 lane each */
            const uint32_t lo4 = 0x01010101u * (uint8_t)lo1, tm4 = 0x01010101u * (uint8_t)(top - 1);
            for (; i + 8 <= count; i += 8) {
                uint32_t y0, y1;
                memcpy(&y0, output + i, 4);
                memcpy(&y1, output + i + 4, 4);
                mask[i / 8] = (uint8_t)(kt_mask4(y0, lo4, tm4) | (kt_mask4(y1, lo4, tm4) << 4));
            }
        }
#endif
        for (; i < count; i += 8) {
            const int32_t n = count - i < 8 ? count - i : 8;
            uint32_t byte = 0;
            int32_t k;
            for (k = 0; k < n; ++k) {
                byte |= (uint32_t)((uint32_t)(output[i + k] - lo1) < span) << k;
            }
            mask[i / 8] = (uint8_t)byte;
        }
    }
    return KT_OK;
}
