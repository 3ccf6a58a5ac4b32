/**
 * @file kt_pad_s8.c
 * @brief PAD / PADV2 int8, rank <= 4: the input copied into the middle of an output filled with
 *        pad_value. Works row by row (innermost axis) with memset / memcpy.
 */
#include <string.h>

#include "kt_kernels.h"
#include "internal/kt_pad_dims.h"

kt_status kt_pad_s8(const kt_pad_params *pad, const int32_t *input_shape, const int8_t *input,
                    int8_t *output)
{
    int32_t in[4], before[4], out[4];
    int32_t i0, i1, i2;
    int8_t value;
    if (pad == NULL || input_shape == NULL || input == NULL || output == NULL) {
        return KT_ARG_ERROR;
    }
    if (pad->pad_value < -128 || pad->pad_value > 127 ||
        !kt_pad_dims4(pad, input_shape, in, before, out)) {
        return KT_ARG_ERROR;
    }
    value = (int8_t)pad->pad_value;

    for (i0 = 0; i0 < out[0]; ++i0) {
        const int32_t j0 = i0 - before[0];
        for (i1 = 0; i1 < out[1]; ++i1) {
            const int32_t j1 = i1 - before[1];
            for (i2 = 0; i2 < out[2]; ++i2) {
                const int32_t j2 = i2 - before[2];
                int8_t *row = output + (((size_t)i0 * out[1] + i1) * out[2] + i2) * out[3];
                if (j0 < 0 || j0 >= in[0] || j1 < 0 || j1 >= in[1] || j2 < 0 || j2 >= in[2]) {
                    memset(row, value, (size_t)out[3]);
                } else {
                    const int8_t *src = input + (((size_t)j0 * in[1] + j1) * in[2] + j2) * in[3];
                    memset(row, value, (size_t)before[3]);
                    memcpy(row + before[3], src, (size_t)in[3]);
                    memset(row + before[3] + in[3], value, (size_t)(out[3] - in[3] - before[3]));
                }
            }
        }
    }
    return KT_OK;
}
