/*
 * libFuzzer harness of the firmware's serial front end: every input is a byte stream fed to the
 * frame decoder and command handler exactly as kt_app_serve() feeds them (kt_app_receive()),
 * with AddressSanitizer and UndefinedBehaviorSanitizer (docs/reliability.md).
 *
 * In an input, the pair 0xFF 0xFE stands for one idle timeout of the line (KT_FRAME_IDLE_MS);
 * every input ends with one. The output is an oracle too: whatever the device sends must be whole,
 * valid frames (checked with a second decoder); anything else aborts. A RESET request restarts
 * the "board" (kt_bsp_reset() jumps back here).
 *
 * Built model-less, or with -DKT_HAVE_MODEL -DKT_HAVE_TRAIN and a generated kt_train.c (the
 * training commands: INPUT_WRITE, TRAIN_STEP, EVAL, INFER, SET_LR, PARAMS_READ, ...).
 */
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "kt_app.h"
#include "kt_frame.h"

jmp_buf kt_fuzz_restart;

static kt_frame_decoder kt_fuzz_rx;
static kt_frame_decoder kt_fuzz_out;
static unsigned long long kt_fuzz_answers;
static unsigned long long kt_fuzz_reports;

/* The device's output: each byte through a decoder; a frame the host could not read is a bug. */
static void kt_fuzz_sink(const uint8_t *data, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        kt_frame_event ev = kt_frame_decoder_feed(&kt_fuzz_out, data[i]);
        if (ev == KT_FRAME_EV_ERROR) {
            fprintf(stderr, "fuzz: the device sent bytes that are not a valid frame (error %d)\n",
                    (int)kt_fuzz_out.error);
            abort();
        }
        if (ev == KT_FRAME_EV_READY) {
            if (kt_fuzz_out.type == KT_FRAME_ERROR) {
                kt_fuzz_reports++;
            } else if (kt_fuzz_out.type & KT_FRAME_ANSWER) {
                kt_fuzz_answers++;
            } else {
                fprintf(stderr, "fuzz: the device sent a request frame (type %u)\n",
                        kt_fuzz_out.type);
                abort();
            }
        }
    }
}

static void kt_fuzz_report(void)
{
    fprintf(stderr, "fuzz: %llu requests answered, %llu error reports, all valid frames\n",
            kt_fuzz_answers, kt_fuzz_reports);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    atexit(kt_fuzz_report);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static size_t i;
    i = 0;
    kt_frame_decoder_reset(&kt_fuzz_rx);
    kt_frame_decoder_reset(&kt_fuzz_out);
    if (setjmp(kt_fuzz_restart) != 0) {
        return 0; /* RESET: the board restarts; the rest of the input is lost with it */
    }
    for (; i < size; i++) {
        if (data[i] == 0xFF && i + 1 < size && data[i + 1] == 0xFE) {
            kt_app_receive(&kt_fuzz_rx, kt_fuzz_sink, -1);
            i++;
        } else {
            kt_app_receive(&kt_fuzz_rx, kt_fuzz_sink, data[i]);
        }
    }
    kt_app_receive(&kt_fuzz_rx, kt_fuzz_sink, -1);
    if (kt_frame_decoder_idle(&kt_fuzz_out) != KT_FRAME_EV_NONE) {
        fprintf(stderr, "fuzz: the device's output ends inside a frame\n");
        abort();
    }
    return 0;
}
