/**
 * @file kt_filter.h
 * @brief Internal: output-channel rows of a kt_split_filter (the trainable rows of a partially
 *        updated layer in SRAM, the frozen rows in flash), read without a copy.
 */
#ifndef KT_INTERNAL_FILTER_H
#define KT_INTERNAL_FILTER_H

#include "kt_kernels.h"

/** Start of output channel oc's row (row_size bytes per output channel). */
static inline const int8_t *kt_filter_row(const kt_split_filter *f, int32_t oc, size_t row_size)
{
    return oc < f->split ? f->head + (size_t)oc * row_size
                         : f->tail + (size_t)(oc - f->split) * row_size;
}

/** A split filter of n output channels: 0 <= split <= n, each part present when it has rows. */
static inline int kt_check_split_filter(const kt_split_filter *f, int32_t n)
{
    return f != NULL && f->split >= 0 && f->split <= n && (f->split == 0 || f->head != NULL) &&
           (f->split == n || f->tail != NULL);
}

/** Any non-NULL part (for the shared pointer checks). */
static inline const int8_t *kt_filter_any(const kt_split_filter *f)
{
    return f == NULL ? NULL : (f->head != NULL ? f->head : f->tail);
}

#endif /* KT_INTERNAL_FILTER_H */
