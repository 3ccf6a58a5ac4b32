/**
 * @file kt_softmax_ce_grad_s8.c
 * @brief Softmax cross-entropy gradient from int8 logits with a 256-entry exp table (golden
 *        softmax_ce_grad.py). Per row: d = max - z, S = sum E[d] (uint32),
 *        p = (E[d] * 2^15 + S / 2) / S, g = p - 2^15 [i == label],
 *        gz = to_grad8(shift_round(g, 15 + e_z)); p_label and argmax == label reported.
 */
#include "kt_train_kernels.h"
#include "internal/kt_check.h"
#include "internal/kt_grad_quant.h"

kt_status kt_softmax_ce_grad_s8(const kt_softmax_ce_params *p, int32_t rows, int32_t depth,
                                int32_t e_z, const int8_t *logits, const int32_t *labels,
                                int8_t *grad, kt_grad_stats *stats, int32_t *p_label,
                                uint8_t *correct)
{
    int32_t r, i;
    if (p == NULL || p->exp_table == NULL || rows < 0 || depth < 1 || depth > 32768 ||
        stats == NULL || !kt_check_exponent(e_z) || p->exp_table[0] == 0 ||
        (rows > 0 && (logits == NULL || labels == NULL || grad == NULL || p_label == NULL ||
                      correct == NULL))) {
        return KT_ARG_ERROR;
    }
    for (r = 0; r < rows; ++r) {
        if (labels[r] < 0 || labels[r] >= depth) {
            return KT_ARG_ERROR;
        }
    }
    kt_grad_stats_reset(stats);
    for (r = 0; r < rows; ++r) {
        const int8_t *z = logits + (size_t)r * depth;
        int8_t *g = grad + (size_t)r * depth;
        const int32_t label = labels[r];
        int32_t zmax = z[0], arg = 0;
        uint32_t s = 0;
        for (i = 1; i < depth; ++i) {
            if (z[i] > zmax) {
                zmax = z[i];
                arg = i;
            }
        }
        for (i = 0; i < depth; ++i) {
            s += p->exp_table[zmax - z[i]];
        }
        for (i = 0; i < depth; ++i) {
            const uint32_t e = p->exp_table[zmax - z[i]];
            const int32_t prob = (int32_t)((e * 32768u + s / 2u) / s);
            const int32_t gi = prob - (i == label ? 32768 : 0);
            if (i == label) {
                p_label[r] = prob;
            }
            g[i] = kt_to_grad8(kt_shift_round(gi, 15 + e_z), stats);
        }
        correct[r] = (uint8_t)(arg == label);
    }
    return KT_OK;
}
