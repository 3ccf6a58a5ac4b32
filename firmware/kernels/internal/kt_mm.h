/**
 * @file kt_mm.h
 * @brief Internal: the DSP matrix-product core shared by the convolution kernels (1x1 layers over
 *        their pixels, small-filter layers over gathered windows).
 */
#ifndef KT_INTERNAL_MM_H
#define KT_INTERNAL_MM_H

#include <stdint.h>

#include "kt_dot.h"
#include "kt_requant.h"

#if KT_USE_DSP
/**
 * @brief Two output channels over `pixels` columns: y[p * y_stride + j] = the short-form output
 *        stage (q_j) of start_j + sum_{i < k} f_j[i] x_p[i], j = 0, 1, with f_0 = f0,
 *        f_1 = f0 + stride and x_p = x + p * stride (a 1x1 layer: pixels and filter rows both
 *        in_c bytes apart).
 *
 * Two pixels by two channels at a time: each 4-byte group costs 4 loads, 8 SXTB16 and 8 SMLAD for
 * 16 multiply-accumulates, the four sums in registers, each channel's constants read once per
 * two pixels (kt_rq_short2()). The caller guarantees k is a positive multiple of 4, both q take
 * the short form (q->fast), and k bytes are readable from both rows and every column.
 */
void kt_mm_pair_s8(const int8_t *x, int32_t stride, int32_t pixels, int32_t k, const int8_t *f0,
                   uint32_t start0, uint32_t start1, const kt_rq *q0, const kt_rq *q1, int8_t *y,
                   int32_t y_stride);

/**
 * @brief kt_mm_pair_s8() over columns stored two by two, interleaved by group (a pair's 2k bytes:
 *        the first column's group g at 8g, the second's at 8g + 4), filter rows f0 and
 *        f0 + f_stride. With an odd number of pixels the last pair's second column must be
 *        readable (any values: its outputs are not stored).
 */
void kt_mm_pair_il_s8(const int8_t *x, int32_t pixels, int32_t k, const int8_t *f0,
                      int32_t f_stride, uint32_t start0, uint32_t start1, const kt_rq *q0,
                      const kt_rq *q1, int8_t *y, int32_t y_stride);
#endif

#endif /* KT_INTERNAL_MM_H */
