/**
 * @file kt_rows.c
 * @brief kt_rows_run(): row-streamed execution of a fused chain (include/kt_rows.h). The numpy
 *        twin is kilotrain.codegen.rows.run_rows(); both follow the same band rules.
 */
#include <string.h>

#include "kt_rows.h"

static int kt_rows_present(const kt_band_state *s, int32_t a, int32_t b)
{
    return s->lo <= a && b <= s->hi && a < b;
}

/* The vertical geometry of a CONV / DW stage: 1 iff the stage has one. */
static int kt_rows_geometry(const kt_rows_stage *st, const kt_tile **stride, const kt_tile **pad,
                            const kt_tile **dil)
{
    if (st->params == NULL || st->filter_dims == NULL) {
        return 0;
    }
    if (st->kind == KT_ROWS_CONV) {
        const kt_conv_params *p = (const kt_conv_params *)st->params;
        *stride = &p->stride;
        *pad = &p->padding;
        *dil = &p->dilation;
        return 1;
    }
    if (st->kind == KT_ROWS_DW) {
        const kt_dw_conv_params *p = (const kt_dw_conv_params *)st->params;
        *stride = &p->stride;
        *pad = &p->padding;
        *dil = &p->dilation;
        return 1;
    }
    return 0;
}

/* One past the last input row that output rows [.., o1) of a CONV / DW stage read (unclipped). */
static int32_t kt_rows_window_end(const kt_rows_stage *st, const kt_tile *stride,
                                  const kt_tile *pad, const kt_tile *dil, int32_t o1)
{
    return (o1 - 1) * stride->h - pad->h + (st->filter_dims->h - 1) * dil->h + 1;
}

static kt_status kt_rows_event(const kt_rows_plan *plan, const kt_rows_stage *st, int32_t n)
{
    const kt_band *ob = &plan->bands[st->out];
    kt_band_state *os = &plan->state[st->out];
    const kt_band *ib = &plan->bands[st->in0];
    const kt_band_state *is = &plan->state[st->in0];
    const size_t orow = (size_t)ob->w * (size_t)ob->c;
    const size_t irow = (size_t)ib->w * (size_t)ib->c;
    const int32_t o0 = os->hi, o1 = os->hi + n;
    kt_dims in_dims, out_dims;
    int8_t *out;

    if (n < 1 || o1 > ob->h || n > ob->cap) {
        return KT_ARG_ERROR;
    }
    if (o1 - os->lo > ob->cap) { /* drop the oldest rows */
        const int32_t shift = o1 - os->lo - ob->cap;
        memmove(ob->data, ob->data + (size_t)shift * orow,
                (size_t)(os->hi - os->lo - shift) * orow);
        os->lo += shift;
    }
    out = ob->data + (size_t)(o0 - os->lo) * orow;
    out_dims.n = 1;
    out_dims.h = n;
    out_dims.w = ob->w;
    out_dims.c = ob->c;
    in_dims.n = 1;
    in_dims.w = ib->w;
    in_dims.c = ib->c;

    if (st->kind == KT_ROWS_ADD) {
        const kt_band *jb;
        const kt_band_state *js;
        if (st->in1 < 0 || st->in1 >= plan->n_bands) {
            return KT_ARG_ERROR;
        }
        jb = &plan->bands[st->in1];
        js = &plan->state[st->in1];
        if (!kt_rows_present(is, o0, o1) || !kt_rows_present(js, o0, o1)) {
            return KT_ARG_ERROR;
        }
        in_dims.h = n;
        os->hi = o1;
        return kt_add_s8((const kt_add_params *)st->params, &in_dims,
                         ib->data + (size_t)(o0 - is->lo) * irow, &in_dims,
                         jb->data + (size_t)(o0 - js->lo) * irow, &out_dims, out);
    }
    {
        /* the input rows [a, b) the filter window of output rows [o0, o1) reads, and the
           sub-problem's top padding (docs: codegen/rows.py) */
        const kt_tile *stride, *padding, *dilation;
        int32_t i0, i1, a, b;
        kt_status s;
        if (!kt_rows_geometry(st, &stride, &padding, &dilation)) {
            return KT_ARG_ERROR;
        }
        i0 = o0 * stride->h - padding->h;
        i1 = kt_rows_window_end(st, stride, padding, dilation, o1);
        a = i0 > 0 ? i0 : 0;
        b = i1 < ib->h ? i1 : ib->h;
        if (!kt_rows_present(is, a, b)) {
            return KT_ARG_ERROR;
        }
        in_dims.h = b - a;
        if (st->kind == KT_ROWS_CONV) {
            kt_conv_params p = *(const kt_conv_params *)st->params;
            p.padding.h = a - i0;
            if (st->packed != NULL) {
                s = kt_conv2d_packed_s8(&p, st->packed, st->bias, &in_dims,
                                        ib->data + (size_t)(a - is->lo) * irow, st->filter_dims,
                                        &out_dims, out);
            } else {
                s = kt_conv2d_s8(&p, st->quant, &in_dims, ib->data + (size_t)(a - is->lo) * irow,
                                 st->filter_dims, st->filter, st->bias, &out_dims, out);
            }
        } else {
            kt_dw_conv_params p = *(const kt_dw_conv_params *)st->params;
            p.padding.h = a - i0;
            s = kt_depthwise_conv2d_s8(&p, st->quant, &in_dims,
                                       ib->data + (size_t)(a - is->lo) * irow, st->filter_dims,
                                       st->filter, st->bias, &out_dims, out);
        }
        os->hi = o1;
        return s;
    }
}

static int kt_rows_plan_ok(const kt_rows_plan *plan)
{
    int32_t k;
    if (plan == NULL || plan->bands == NULL || plan->state == NULL || plan->stages == NULL ||
        plan->event_stage == NULL || plan->event_rows == NULL || plan->progress == NULL ||
        plan->n_bands < 1 || plan->stream < -1 || plan->stream >= plan->n_bands) {
        return 0;
    }
    for (k = 0; k < plan->n_bands; ++k) {
        const kt_band *b = &plan->bands[k];
        if (b->data == NULL || b->h < 1 || b->w < 1 || b->c < 1 || b->cap < 1 || b->cap > b->h ||
            (b->ready != 0 && b->ready != b->h) || (b->ready == b->h && b->cap != b->h)) {
            return 0;
        }
    }
    return plan->stream < 0 || plan->bands[plan->stream].ready == 0;
}

static void kt_rows_reset(const kt_rows_plan *plan)
{
    int32_t k;
    for (k = 0; k < plan->n_bands; ++k) {
        plan->state[k].lo = 0;
        plan->state[k].hi = plan->bands[k].ready;
    }
    plan->progress->next_event = 0;
    plan->progress->partial = 0;
}

/* Run events in order while their input rows are present (only a streamed input can be short). */
static kt_status kt_rows_advance(const kt_rows_plan *plan)
{
    kt_rows_progress *pr = plan->progress;
    while (pr->next_event < plan->n_events) {
        const int32_t si = plan->event_stage[pr->next_event];
        const kt_rows_stage *st;
        kt_status s;
        if (si >= plan->n_stages) {
            return KT_ARG_ERROR;
        }
        st = &plan->stages[si];
        if (st->in0 < 0 || st->in0 >= plan->n_bands || st->out < 0 || st->out >= plan->n_bands) {
            return KT_ARG_ERROR;
        }
        if (st->in0 == plan->stream) { /* wait for the rows this event's window reads */
            const kt_band *ib = &plan->bands[st->in0];
            const int32_t o1 = plan->state[st->out].hi + (int32_t)plan->event_rows[pr->next_event];
            const kt_tile *stride, *pad, *dil;
            int32_t need = o1;
            if (kt_rows_geometry(st, &stride, &pad, &dil)) {
                need = kt_rows_window_end(st, stride, pad, dil, o1);
            }
            if (need > ib->h) {
                need = ib->h;
            }
            if (need > plan->state[st->in0].hi) {
                return KT_OK;
            }
        }
#ifdef KT_PROFILE
        kt_profile_rows_begin();
#endif
        s = kt_rows_event(plan, st, (int32_t)plan->event_rows[pr->next_event]);
#ifdef KT_PROFILE
        kt_profile_rows_end(si);
#endif
        if (s != KT_OK) {
            return s;
        }
        pr->next_event++;
    }
    return KT_OK;
}

kt_status kt_rows_run(const kt_rows_plan *plan)
{
    kt_status s;
    if (!kt_rows_plan_ok(plan)) {
        return KT_ARG_ERROR;
    }
    if (plan->stream < 0) {
        kt_rows_reset(plan);
    } else if (plan->state[plan->stream].hi != plan->bands[plan->stream].h) {
        return KT_ARG_ERROR; /* the streamed input is incomplete */
    }
    s = kt_rows_advance(plan);
    if (s != KT_OK) {
        return s;
    }
    return plan->progress->next_event == plan->n_events ? KT_OK : KT_ARG_ERROR;
}

kt_status kt_rows_feed(const kt_rows_plan *plan, uint32_t offset, const int8_t *data, uint32_t n)
{
    const kt_band *b;
    kt_band_state *bs;
    kt_rows_progress *pr;
    size_t row;
    uint32_t expected, total;

    if (!kt_rows_plan_ok(plan) || plan->stream < 0 || (data == NULL && n > 0)) {
        return KT_ARG_ERROR;
    }
    b = &plan->bands[plan->stream];
    bs = &plan->state[plan->stream];
    pr = plan->progress;
    row = (size_t)b->w * (size_t)b->c;
    total = (uint32_t)((size_t)b->h * row);
    if (offset > total || n > total - offset) {
        return KT_ARG_ERROR;
    }
    if (offset == 0) {
        kt_rows_reset(plan);
    }
    expected = (uint32_t)((size_t)bs->hi * row + (size_t)pr->partial);
    if (offset > expected) {
        return KT_ARG_ERROR; /* a gap: bytes must come in order */
    }
    if (offset + n <= expected) {
        return KT_OK; /* a range already received */
    }
    data += expected - offset;
    n -= expected - offset;
    while (n > 0) {
        uint32_t take = (uint32_t)(row - (size_t)pr->partial);
        kt_status s;
        if (take > n) {
            take = n;
        }
        if (pr->partial == 0 && bs->hi - bs->lo == b->cap) { /* drop the oldest row */
            memmove(b->data, b->data + row, (size_t)(b->cap - 1) * row);
            bs->lo += 1;
        }
        memcpy(b->data + (size_t)(bs->hi - bs->lo) * row + (size_t)pr->partial, data, take);
        data += take;
        n -= take;
        pr->partial += (int32_t)take;
        if ((size_t)pr->partial == row) {
            pr->partial = 0;
            bs->hi += 1;
            s = kt_rows_advance(plan);
            if (s != KT_OK) {
                return s;
            }
        }
    }
    return KT_OK;
}
