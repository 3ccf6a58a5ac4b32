/**
 * @file kt_avg_pool_s8.c
 * @brief AVERAGE_POOL_2D int8 (TFLM reference_integer_ops::AveragePool).
 *
 * Each output is the sum over the part of the window inside the image divided by the number of
 * those taps, rounded half away from zero, then clamped. One division per output element (the
 * rounding is TFLM's; a reciprocal would not be bit-exact for every count).
 */
#include "kt_kernels.h"
#include "internal/kt_check.h"
#include "internal/kt_requant.h"

kt_status kt_avg_pool_s8(const kt_pool_params *pool, const kt_dims *input_dims, const int8_t *input,
                         const kt_dims *output_dims, int8_t *output)
{
    int32_t b, oy, ox, c, y, x;
    int32_t in_h, in_w, ch, out_h, out_w, act_min, act_max;
    if (pool == NULL || input_dims == NULL || input == NULL || output_dims == NULL ||
        output == NULL) {
        return KT_ARG_ERROR;
    }
    in_h = input_dims->h;
    in_w = input_dims->w;
    ch = input_dims->c;
    out_h = output_dims->h;
    out_w = output_dims->w;
    act_min = pool->activation.min;
    act_max = pool->activation.max;
    if (input_dims->n < 1 || in_h < 1 || in_w < 1 || ch < 1 || out_h < 1 || out_w < 1 ||
        output_dims->n != input_dims->n || output_dims->c != ch || pool->filter.h < 1 ||
        pool->filter.w < 1 || pool->stride.h < 1 || pool->stride.w < 1 || pool->padding.h < 0 ||
        pool->padding.w < 0 || !kt_check_activation(&pool->activation)) {
        return KT_ARG_ERROR;
    }
    /* every window must overlap the image (TFLM fails the op otherwise): check the corners */
    if (-pool->padding.h + pool->filter.h <= 0 || -pool->padding.w + pool->filter.w <= 0 ||
        (out_h - 1) * pool->stride.h - pool->padding.h >= in_h ||
        (out_w - 1) * pool->stride.w - pool->padding.w >= in_w) {
        return KT_ARG_ERROR;
    }

    for (b = 0; b < input_dims->n; ++b) {
        const int8_t *in_b = input + (size_t)b * in_h * in_w * ch;
        for (oy = 0; oy < out_h; ++oy) {
            const int32_t iy0 = oy * pool->stride.h - pool->padding.h;
            const int32_t y_lo = iy0 < 0 ? 0 : iy0;
            const int32_t y_hi = iy0 + pool->filter.h < in_h ? iy0 + pool->filter.h : in_h;
            for (ox = 0; ox < out_w; ++ox) {
                const int32_t ix0 = ox * pool->stride.w - pool->padding.w;
                const int32_t x_lo = ix0 < 0 ? 0 : ix0;
                const int32_t x_hi = ix0 + pool->filter.w < in_w ? ix0 + pool->filter.w : in_w;
                const int32_t count = (y_hi - y_lo) * (x_hi - x_lo);
                const int32_t half = count / 2;
                int8_t *out = output + (((size_t)b * out_h + oy) * out_w + ox) * ch;
                for (c = 0; c < ch; ++c) {
                    int32_t acc = 0;
                    for (y = y_lo; y < y_hi; ++y) {
                        const int8_t *row = in_b + ((size_t)y * in_w) * ch + c;
                        for (x = x_lo; x < x_hi; ++x) {
                            acc += row[(size_t)x * ch];
                        }
                    }
                    acc = acc > 0 ? (acc + half) / count : (acc - half) / count;
                    out[c] = (int8_t)kt_clamp(acc, act_min, act_max);
                }
            }
        }
    }
    return KT_OK;
}
