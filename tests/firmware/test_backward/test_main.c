/* The backward kernels' fast paths (pointwise and depthwise input gradients, the pointwise fused
 * update, kt_scale_round()'s short form) against the formulas of docs/numerics.md written out
 * plainly, on pseudo-random shapes and quantisation, on the host (portable C) and on the emulated
 * M7 (the ARMv7E-M DSP paths): every byte, weight and statistic equal. Shapes cross each fast
 * path's limits so the fallbacks run too. */
#include <stdint.h>
#include <string.h>

#include "../../../firmware/kernels/internal/kt_grad_pack.h"
#include "../../../firmware/kernels/internal/kt_grad_quant.h"
#include "kt_test.h"
#include "kt_train_kernels.h"

#define MAX_PX 10
#define MAX_CIN 72
#define MAX_COUT 132
#define MAX_K 9

static uint32_t rng_state = 2463534242u;

static uint32_t next(void)
{
    return kt_test_xorshift32(&rng_state);
}

static int32_t uniform(int32_t lo, int32_t hi) /* [lo, hi] */
{
    return lo + (int32_t)(next() % (uint32_t)(hi - lo + 1));
}

/* a gradient value: zero a third of the time (a ReLU mask), else [-127, 127], now and then -128 */
static int8_t grad_value(void)
{
    const uint32_t r = next() % 64u;
    if (r < 21u) {
        return 0;
    }
    return r == 63u ? (int8_t)-128 : (int8_t)uniform(-127, 127);
}

static int8_t gy[MAX_PX * MAX_K * MAX_COUT];
static int8_t filt[MAX_COUT * MAX_CIN];
static int8_t filt_head[MAX_COUT * MAX_CIN], filt_tail[MAX_COUT * MAX_CIN];
static int8_t got[MAX_PX * MAX_K * MAX_CIN];
static int8_t want[MAX_PX * MAX_K * MAX_CIN];
static int32_t mult[MAX_COUT], shift[MAX_COUT];

static void random_chan(int32_t n, int32_t wide)
{
    for (int32_t c = 0; c < n; ++c) {
        mult[c] = (int32_t)((next() >> 1) | 0x40000000u); /* [2^30, 2^31) */
        shift[c] = wide && next() % 4u == 0u ? 1 : uniform(-3, 0);
    }
}

/* pointwise CONV_2D: gx[p, ci] = to_grad8(scale_round(sum_co W[co, ci] h[p, co], xm, out_shift)) */
static void test_pointwise(void)
{
    for (int32_t k = 0; k < 300; ++k) {
        const int32_t px = uniform(1, MAX_PX), cin = uniform(1, MAX_CIN);
        const int32_t cout = k % 5 == 0 ? uniform(120, MAX_COUT) : uniform(1, 72);
        const int32_t hr = uniform(0, 8), e_gy = uniform(-4, 4), e_gx = uniform(-4, 4);
        const int32_t split = k % 3 == 0 ? uniform(0, cout) : 0;
        kt_conv_grad_params p;
        kt_split_filter sf;
        kt_grad_stats gs, ws;
        const kt_dims gyd = {1, 1, px, cout}, fd = {cout, 1, 1, cin}, gxd = {1, 1, px, cin};
        int32_t out_shift;
        random_chan(cout, k % 2);
        for (int32_t i = 0; i < px * cout; ++i) {
            gy[i] = grad_value();
        }
        if (k % 4 == 1) { /* a pixel masked whole (alone, or one of a pair the DSP path takes) */
            memset(gy + (size_t)uniform(0, px - 1) * cout, 0, (size_t)cout);
        }
        for (int32_t i = 0; i < cout * cin; ++i) {
            filt[i] = (int8_t)uniform(-127, 127);
        }
        memset(&p, 0, sizeof p);
        p.stride.h = p.stride.w = 1;
        p.dilation.h = p.dilation.w = 1;
        p.chan.multiplier = mult;
        p.chan.shift = shift;
        p.headroom = hr;
        p.x_multiplier = (int32_t)((next() >> 1) | 0x40000000u);
        p.x_shift = uniform(-20, -6);
        out_shift = p.x_shift + e_gy - hr - e_gx;
        /* the tail rows apart from the head (as flash is from SRAM), and the head's bytes past
           its split scribbled over: a kernel reading a tail row through the head fails */
        memcpy(filt_tail, filt + (size_t)split * cin, (size_t)(cout - split) * cin);
        sf.head = filt_head;
        sf.tail = filt_tail;
        sf.split = split;
        memcpy(filt_head, filt, (size_t)split * cin);
        memset(filt_head + (size_t)split * cin, 0x5A, (size_t)(cout - split) * cin);
        KT_CHECK_EQ_INT(
            kt_conv2d_input_grad_split_s8(&p, e_gy, e_gx, &gyd, gy, &fd, &sf, &gxd, got, &gs),
            KT_OK);
        ws.saturated = 0;
        ws.amax = 0;
        for (int32_t i = 0; i < px; ++i) {
            for (int32_t ci = 0; ci < cin; ++ci) {
                uint32_t acc = 0;
                for (int32_t co = 0; co < cout; ++co) {
                    const int32_t h = kt_scale_round(gy[i * cout + co], mult[co], shift[co] + hr);
                    acc += (uint32_t)((int32_t)filt[co * cin + ci] * h);
                }
                want[i * cin + ci] =
                    kt_to_grad8(kt_scale_round((int32_t)acc, p.x_multiplier, out_shift), &ws);
            }
        }
        KT_CHECK_EQ_INT(memcmp(got, want, (size_t)(px * cin)), 0);
        KT_CHECK_EQ_INT(gs.saturated, ws.saturated);
        KT_CHECK_EQ_INT(gs.amax, ws.amax);
    }
}

/* depthwise (depth multiplier 1): gx[iy, ix, c] sums W[ky, kx, c] h[oy, ox, c] over the taps that
   read (iy, ix) in the forward pass */
static void test_depthwise(void)
{
    for (int32_t k = 0; k < 200; ++k) {
        const int32_t kk = k % 4 == 0 ? 5 : (k % 9 == 1 ? 7 : 3), st = uniform(1, 2);
        const int32_t dil = k % 7 == 0 ? 2 : 1;
        const int32_t in_h = uniform(1, 9), in_w = uniform(1, 9), ch = uniform(1, 40);
        const int32_t pad_h = uniform(0, (kk - 1) * dil), pad_w = uniform(0, (kk - 1) * dil);
        const int32_t out_h = (in_h + 2 * pad_h - dil * (kk - 1) - 1) / st + 1;
        const int32_t out_w = (in_w + 2 * pad_w - dil * (kk - 1) - 1) / st + 1;
        const int32_t hr = uniform(0, 8), e_gy = uniform(-4, 4), e_gx = uniform(-4, 4);
        kt_dw_conv_grad_params p;
        kt_grad_stats gs, ws;
        kt_dims gyd, fd, gxd;
        int32_t out_shift;
        if (out_h < 1 || out_w < 1 || in_h * in_w > MAX_PX * MAX_K ||
            out_h * out_w > MAX_PX * MAX_K) {
            continue;
        }
        gyd.n = 1;
        gyd.h = out_h;
        gyd.w = out_w;
        gyd.c = ch;
        fd.n = 1;
        fd.h = fd.w = kk;
        fd.c = ch;
        gxd.n = 1;
        gxd.h = in_h;
        gxd.w = in_w;
        gxd.c = ch;
        random_chan(ch, k % 2);
        for (int32_t i = 0; i < out_h * out_w * ch; ++i) {
            gy[i] = grad_value();
        }
        for (int32_t i = 0; i < kk * kk * ch; ++i) {
            filt[i] = (int8_t)uniform(-127, 127);
        }
        memset(&p, 0, sizeof p);
        p.stride.h = p.stride.w = st;
        p.padding.h = pad_h;
        p.padding.w = pad_w;
        p.dilation.h = p.dilation.w = dil;
        p.depth_multiplier = 1;
        p.chan.multiplier = mult;
        p.chan.shift = shift;
        p.headroom = hr;
        p.x_multiplier = (int32_t)((next() >> 1) | 0x40000000u);
        p.x_shift = uniform(-20, -6);
        out_shift = p.x_shift + e_gy - hr - e_gx;
        KT_CHECK_EQ_INT(
            kt_depthwise_conv2d_input_grad_s8(&p, e_gy, e_gx, &gyd, gy, &fd, filt, &gxd, got, &gs),
            KT_OK);
        ws.saturated = 0;
        ws.amax = 0;
        for (int32_t iy = 0; iy < in_h; ++iy) {
            for (int32_t ix = 0; ix < in_w; ++ix) {
                for (int32_t c = 0; c < ch; ++c) {
                    uint32_t acc = 0;
                    for (int32_t oy = 0; oy < out_h; ++oy) {
                        for (int32_t ox = 0; ox < out_w; ++ox) {
                            const int32_t ty = iy - (oy * st - pad_h), tx = ix - (ox * st - pad_w);
                            int32_t h;
                            if (ty < 0 || tx < 0 || ty % dil != 0 || tx % dil != 0 ||
                                ty / dil >= kk || tx / dil >= kk) {
                                continue;
                            }
                            h = kt_scale_round(gy[(oy * out_w + ox) * ch + c], mult[c],
                                               shift[c] + hr);
                            acc += (uint32_t)((int32_t)filt[((ty / dil) * kk + tx / dil) * ch + c] *
                                              h);
                        }
                    }
                    want[(iy * in_w + ix) * ch + c] =
                        kt_to_grad8(kt_scale_round((int32_t)acc, p.x_multiplier, out_shift), &ws);
                }
            }
        }
        KT_CHECK_EQ_INT(memcmp(got, want, (size_t)(in_h * in_w * ch)), 0);
        KT_CHECK_EQ_INT(gs.saturated, ws.saturated);
        KT_CHECK_EQ_INT(gs.amax, ws.amax);
    }
}

/* kt_scale_round()'s and kt_scale_round_sr()'s short forms (31 - shift in [33, 62]) against the
   general forms written out. scale_round: round(acc * m * 2^(shift - 31)) in 64 bits, ties away
   from zero, saturated. */
static int32_t scale_round_reference(int32_t acc, int32_t m, int32_t shift)
{
    const int64_t p = (int64_t)acc * (int64_t)m;
    const int64_t r = 31 - (int64_t)shift;
    int64_t v;
    if (r >= 63) {
        return 0;
    }
    if (r <= 0) {
        return kt_sat_shl64(p, -r);
    }
    v = (p + ((int64_t)1 << (r - 1)) - (p < 0 ? 1 : 0)) >> r;
    return v > INT32_MAX ? INT32_MAX : (v < INT32_MIN ? INT32_MIN : (int32_t)v);
}

/* scale_round_sr: floor(acc * m * 2^(shift - 31) + u * 2^-32), saturated */
static int32_t scale_round_sr_reference(int32_t acc, int32_t m, int32_t shift, uint32_t u)
{
    const int64_t p = (int64_t)acc * (int64_t)m;
    const int64_t r = 31 - (int64_t)shift;
    int64_t v;
    if (r <= 0) {
        return kt_sat_shl64(p, -r);
    }
    if (r <= 32) {
        v = (p + (int64_t)(u >> (32 - r))) >> r;
    } else {
        v = ((p >> (r - 32 > 63 ? 63 : r - 32)) + (int64_t)u) >> 32;
    }
    return v > INT32_MAX ? INT32_MAX : (v < INT32_MIN ? INT32_MIN : (int32_t)v);
}

static void test_scale_round(void)
{
    static const int32_t edges[] = {0, 1, -1, 127, -128, INT32_MAX, INT32_MIN, 1 << 30, -(1 << 30)};
    for (int32_t shift = -40; shift <= 40; ++shift) {
        for (uint32_t i = 0; i < sizeof edges / sizeof edges[0]; ++i) {
            for (uint32_t j = 0; j < sizeof edges / sizeof edges[0]; ++j) {
                KT_CHECK_EQ_INT(kt_scale_round(edges[i], edges[j], shift),
                                scale_round_reference(edges[i], edges[j], shift));
                KT_CHECK_EQ_INT(kt_scale_round_sr(edges[i], edges[j], shift, 0xFFFFFFFFu),
                                scale_round_sr_reference(edges[i], edges[j], shift, 0xFFFFFFFFu));
                KT_CHECK_EQ_INT(kt_scale_round_sr(edges[i], edges[j], shift, 0u),
                                scale_round_sr_reference(edges[i], edges[j], shift, 0u));
            }
        }
        for (int32_t k = 0; k < 400; ++k) {
            const int32_t acc = (int32_t)next() >> (next() % 32u), m = (int32_t)next();
            const uint32_t u = k % 9 == 0 ? (k % 2 ? 0xFFFFFFFFu : 0u) : next();
            KT_CHECK_EQ_INT(kt_scale_round(acc, m, shift), scale_round_reference(acc, m, shift));
            KT_CHECK_EQ_INT(kt_scale_round_sr(acc, m, shift, u),
                            scale_round_sr_reference(acc, m, shift, u));
            if (kt_update_sr_k(1, shift) != 0) { /* the per-channel short form of the update */
                KT_CHECK_EQ_INT(kt_scale_round_sr_k(acc, m, kt_update_sr_k(1, shift), u),
                                scale_round_sr_reference(acc, m, shift, u));
            }
            /* the SMLAL forms, m >= 0 (0 now and then): k-form for shift in [-31, -2], r-form for
               [0, 30] with acc small enough for the value to fit int32 */
            {
                const int32_t mp = k % 17 == 0 ? 0 : (int32_t)((uint32_t)m >> 1);
                if (kt_scale_round_k_ok(mp, shift)) {
                    const int32_t kk = -1 - shift;
                    KT_CHECK_EQ_INT(kt_scale_round_k(acc, mp, (int32_t)(1u << (kk - 1)), kk),
                                    scale_round_reference(acc, mp, shift));
                }
                if (shift >= 0 && shift <= 30) {
                    const int32_t r = 31 - shift;
                    const int32_t a = acc >> (shift + 1); /* |a m| < 2^(61 - shift) = 2^(30 + r) */
                    KT_CHECK_EQ_INT(kt_scale_round_r(a, mp, 1u << (r - 1), r),
                                    scale_round_reference(a, mp, shift));
                }
            }
        }
    }
}

/* pointwise CONV_2D update: W[co, ci] -= sr(sum_p gy[p, co] (x[p, ci] - zx)) for co < n; biases */
static void test_pointwise_update(void)
{
    static int8_t w0[MAX_COUT * MAX_CIN];
    static int32_t bias[MAX_COUT], bias0[MAX_COUT];
    static int8_t x[MAX_PX * MAX_K * MAX_CIN];
    static int32_t wm[MAX_COUT], ws[MAX_COUT], bm[MAX_COUT], bs[MAX_COUT];
    for (int32_t k = 0; k < 200; ++k) {
        const int32_t px = uniform(1, MAX_PX * MAX_K), cin = uniform(1, MAX_CIN);
        const int32_t cout = uniform(1, 40), nw = uniform(0, cout), e_gy = uniform(-4, 4);
        const uint32_t key = next();
        kt_update_params p;
        const kt_dims xd = {1, 1, px, cin}, gyd = {1, 1, px, cout}, fd = {cout, 1, 1, cin};
        for (int32_t i = 0; i < px * cout; ++i) {
            gy[i] = grad_value();
        }
        for (int32_t i = 0; i < px * cin; ++i) {
            x[i] = (int8_t)uniform(-128, 127);
        }
        for (int32_t i = 0; i < cout * cin; ++i) {
            w0[i] = filt[i] = (int8_t)uniform(-127, 127);
        }
        for (int32_t c = 0; c < cout; ++c) {
            bias0[c] = bias[c] = uniform(-100000, 100000);
            wm[c] = (int32_t)((next() >> 1) | 0x40000000u);
            ws[c] = uniform(-30, -8);
            bm[c] = (int32_t)((next() >> 1) | 0x40000000u);
            bs[c] = uniform(-20, 0);
        }
        memset(&p, 0, sizeof p);
        p.n_weight_channels = nw;
        p.weight.multiplier = wm;
        p.weight.shift = ws;
        p.bias.multiplier = bm;
        p.bias.shift = bs;
        p.stride.h = p.stride.w = 1;
        p.dilation.h = p.dilation.w = 1;
        p.input_zero_point = uniform(-128, 127);
        p.stochastic = (int32_t)(k % 2);
        KT_CHECK_EQ_INT(kt_conv2d_update_s8(&p, e_gy, key, &xd, x, &gyd, gy, &fd, filt, bias),
                        KT_OK);
        for (int32_t co = 0; co < cout; ++co) {
            int32_t s = 0;
            for (int32_t ci = 0; co < nw && ci < cin; ++ci) {
                uint32_t acc = 0;
                for (int32_t i = 0; i < px; ++i) {
                    acc += (uint32_t)((int32_t)gy[i * cout + co] *
                                      ((int32_t)x[i * cin + ci] - p.input_zero_point));
                }
                KT_CHECK_EQ_INT(filt[co * cin + ci],
                                kt_update_weight_q(w0[co * cin + ci], (int32_t)acc, wm[co],
                                                   ws[co] + e_gy, p.stochastic, key,
                                                   (uint32_t)(co * cin + ci)));
            }
            for (int32_t ci = nw <= co ? 0 : cin; ci < cin; ++ci) {
                KT_CHECK_EQ_INT(filt[co * cin + ci], w0[co * cin + ci]); /* not updated */
            }
            for (int32_t i = 0; i < px; ++i) {
                s += gy[i * cout + co];
            }
            KT_CHECK_EQ_INT(bias[co], kt_update_bias(bias0[co], s, bm[co], bs[co] + e_gy));
        }
    }
}

/* the packed ReLU mask: bit i = act_min < y[i] (and y[i] < act_max for ReLU6), every clamp range's
   edges included (an empty range, the whole int8 range), lengths not a multiple of 8 */
static void test_relu_mask_pack(void)
{
    static int8_t y[203];
    static uint8_t mask[26];
    for (int32_t k = 0; k < 400; ++k) {
        const int32_t count = uniform(0, 203), relu6 = (int32_t)(next() % 2u);
        const int32_t lo = k < 4 ? (k < 2 ? -128 : 127) : uniform(-128, 127);
        const int32_t hi = k % 4 == 3 ? lo : uniform(lo, 127);
        const kt_relu_mask_params mp = {lo, hi, relu6};
        for (int32_t i = 0; i < count; ++i) {
            y[i] = (int8_t)(k % 3 == 0 ? uniform(lo, hi) : uniform(-128, 127));
        }
        memset(mask, 0xA5, sizeof mask);
        KT_CHECK_EQ_INT(kt_relu_mask_pack_s8(&mp, count, y, mask), KT_OK);
        for (int32_t i = 0; i < count; ++i) {
            const int32_t want = y[i] > lo && (!relu6 || y[i] < hi);
            KT_CHECK_EQ_INT((mask[i / 8] >> (i % 8)) & 1, want);
        }
    }
}

/* a value for to_grad8: mostly inside [-128, 127], often on its edges (+-127, -128, +-128, -129),
   now and then far outside */
static int32_t grad8_input(void)
{
    static const int32_t edges[] = {-128, -127, 127, 128, -129, 126, 0, -1};
    const uint32_t r = next() % 16u;
    if (r < 4u) {
        return edges[next() % 8u];
    }
    if (r == 4u) {
        return (int32_t)next();
    }
    return uniform(-130, 130);
}

/* kt_grad8_store4() + kt_grad8_finish() against to_grad8 value by value: bytes, saturated, amax;
   runs of groups that are all inside, all outside, and mixed, some with -128 */
static void test_grad8_store4(void)
{
    static int8_t g[4 * 64], w[4 * 64];
    for (int32_t k = 0; k < 400; ++k) {
        const int32_t groups = uniform(1, 64), mode = k % 4;
        kt_grad_stats gs = {0, 0}, ws = {0, 0};
        uint32_t lanes = 0;
        for (int32_t i = 0; i < groups; ++i) {
            int32_t v[4];
            for (int32_t j = 0; j < 4; ++j) {
                v[j] = mode == 0 ? uniform(-127, 127)
                                 : (mode == 1 ? uniform(-128, 127) : grad8_input());
                w[4 * i + j] = kt_to_grad8(v[j], &ws);
            }
            kt_grad8_store4(v[0], v[1], v[2], v[3], &g[4 * i], &lanes, &gs);
        }
        kt_grad8_finish(lanes, g, (size_t)(4 * groups), &gs);
        KT_CHECK_EQ_INT(memcmp(g, w, (size_t)(4 * groups)), 0);
        KT_CHECK_EQ_INT(gs.saturated, ws.saturated);
        KT_CHECK_EQ_INT(gs.amax, ws.amax);
    }
}

int main(void)
{
    KT_TEST_BEGIN();
    KT_RUN(test_scale_round);
    KT_RUN(test_grad8_store4);
    KT_RUN(test_pointwise_update);
    KT_RUN(test_pointwise);
    KT_RUN(test_relu_mask_pack);
    KT_RUN(test_depthwise);
    return kt_test_end();
}
