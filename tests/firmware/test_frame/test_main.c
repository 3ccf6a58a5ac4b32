/* Frame codec: CRC, encode -> decode round trip, and every error the decoder reports. */
#include <string.h>

#include "kt_frame.h"
#include "kt_test.h"

static uint8_t wire[KT_FRAME_MAX_PAYLOAD + 16];
static size_t wire_len;
static kt_frame_decoder dec;

static void to_wire(const uint8_t *data, size_t len)
{
    memcpy(&wire[wire_len], data, len);
    wire_len += len;
}

/* Feed wire[from..to) and return the last non-NONE event (and how many there were). */
static kt_frame_event feed_range(size_t from, size_t to, int *events)
{
    kt_frame_event last = KT_FRAME_EV_NONE;
    *events = 0;
    for (size_t i = from; i < to; i++) {
        kt_frame_event ev = kt_frame_decoder_feed(&dec, wire[i]);
        if (ev != KT_FRAME_EV_NONE) {
            last = ev;
            (*events)++;
        }
    }
    return last;
}

static void test_crc32_check_value(void)
{
    const uint8_t check[] = "123456789";
    KT_CHECK(kt_crc32_update(0u, check, 9) == 0xCBF43926u);
    /* incremental == one shot */
    KT_CHECK(kt_crc32_update(kt_crc32_update(0u, check, 4), check + 4, 5) == 0xCBF43926u);
}

static void test_round_trip_all_sizes(void)
{
    static uint8_t payload[KT_FRAME_MAX_PAYLOAD];
    for (size_t i = 0; i < sizeof payload; i++) {
        payload[i] = (uint8_t)(i * 7u + 3u);
    }
    const uint16_t sizes[] = {0, 1, 2, 255, 256, 1000, (uint16_t)KT_FRAME_MAX_PAYLOAD};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        wire_len = 0;
        kt_frame_send(to_wire, 0x42, (uint8_t)(k + 9), payload, sizes[k]);
        KT_CHECK_EQ_INT(wire_len, KT_FRAME_HEADER_SIZE + sizes[k] + KT_FRAME_TRAILER_SIZE);
        kt_frame_decoder_reset(&dec);
        int n;
        KT_CHECK_EQ_INT(feed_range(0, wire_len, &n), KT_FRAME_EV_READY);
        KT_CHECK_EQ_INT(n, 1);
        KT_CHECK_EQ_INT(dec.type, 0x42);
        KT_CHECK_EQ_INT(dec.seq, k + 9);
        KT_CHECK_EQ_INT(dec.len, sizes[k]);
        KT_CHECK(memcmp(dec.payload, payload, sizes[k]) == 0);
    }
}

static void test_bad_crc_then_recovers(void)
{
    const uint8_t p[3] = {1, 2, 3};
    wire_len = 0;
    kt_frame_send(to_wire, 0x01, 7, p, 3);
    wire[7] ^= 0x10u; /* flip a payload bit */
    kt_frame_decoder_reset(&dec);
    int n;
    KT_CHECK_EQ_INT(feed_range(0, wire_len, &n), KT_FRAME_EV_ERROR);
    KT_CHECK_EQ_INT(dec.error, KT_ERR_CRC);
    KT_CHECK_EQ_INT(dec.seq, 7);
    wire[7] ^= 0x10u;
    KT_CHECK_EQ_INT(feed_range(0, wire_len, &n), KT_FRAME_EV_READY);
}

static void test_truncated_frame_reported_on_idle(void)
{
    const uint8_t p[10] = {0};
    wire_len = 0;
    kt_frame_send(to_wire, 0x02, 11, p, 10);
    kt_frame_decoder_reset(&dec);
    int n;
    KT_CHECK_EQ_INT(feed_range(0, 9, &n), KT_FRAME_EV_NONE);
    KT_CHECK_EQ_INT(kt_frame_decoder_idle(&dec), KT_FRAME_EV_ERROR);
    KT_CHECK_EQ_INT(dec.error, KT_ERR_TRUNCATED);
    KT_CHECK_EQ_INT(dec.detail, 9);
    KT_CHECK_EQ_INT(dec.seq, 11);
    KT_CHECK_EQ_INT(kt_frame_decoder_idle(&dec), KT_FRAME_EV_NONE); /* reported once */
    KT_CHECK_EQ_INT(feed_range(0, wire_len, &n), KT_FRAME_EV_READY);
}

static void test_garbage_counted_before_frame_and_on_idle(void)
{
    const uint8_t junk[5] = {0x00, 'K', 'K', 0xFF, 'T'};
    wire_len = 0;
    to_wire(junk, sizeof junk);
    kt_frame_send(to_wire, 0x01, 1, NULL, 0);
    kt_frame_decoder_reset(&dec);
    int n;
    KT_CHECK_EQ_INT(feed_range(0, wire_len, &n), KT_FRAME_EV_READY);
    KT_CHECK_EQ_INT(n, 2); /* one garbage report, then the frame */
    kt_frame_decoder_reset(&dec);
    KT_CHECK_EQ_INT(feed_range(0, sizeof junk, &n), KT_FRAME_EV_NONE);
    KT_CHECK_EQ_INT(kt_frame_decoder_idle(&dec), KT_FRAME_EV_ERROR);
    KT_CHECK_EQ_INT(dec.error, KT_ERR_GARBAGE);
    KT_CHECK_EQ_INT(dec.detail, 5);
}

static void test_length_over_limit(void)
{
    const uint16_t big = (uint16_t)(KT_FRAME_MAX_PAYLOAD + 1u);
    const uint8_t head[6] = {'K', 'T', 0x02, 3, (uint8_t)big, (uint8_t)(big >> 8)};
    wire_len = 0;
    to_wire(head, sizeof head);
    kt_frame_decoder_reset(&dec);
    int n;
    KT_CHECK_EQ_INT(feed_range(0, wire_len, &n), KT_FRAME_EV_ERROR);
    KT_CHECK_EQ_INT(dec.error, KT_ERR_LENGTH);
    KT_CHECK_EQ_INT(dec.detail, big);
}

int main(void)
{
    KT_TEST_BEGIN();
    KT_RUN(test_crc32_check_value);
    KT_RUN(test_round_trip_all_sizes);
    KT_RUN(test_bad_crc_then_recovers);
    KT_RUN(test_truncated_frame_reported_on_idle);
    KT_RUN(test_garbage_counted_before_frame_and_on_idle);
    KT_RUN(test_length_over_limit);
    return kt_test_end();
}
