"""The contract facts shared by the golden model, the C kernels, the code generators and the
training plan, each defined once (docs/numerics.md says what they mean). The C headers spell
the same numbers as macros; tests/python/architecture/test_contract.py parses include/*.h and
fails when the two disagree."""

from __future__ import annotations

#: Version of the C interface generated code is written against (kt_types.h: KT_C_API_VERSION):
#: generated C refuses to build against headers of another version (nanopb's habit).
C_API_VERSION = 1

#: Largest tensor rank the C kernels handle (kt_kernels.h: KT_MAX_RANK).
MAX_RANK = 4

#: Kernel status codes (kt_types.h: kt_status).
STATUS: dict[int, str] = {0: "KT_OK", -1: "KT_ARG_ERROR", -2: "KT_NO_IMPL"}

#: Range of every compile-time shift in a backward record (kt_train_kernels.h: KT_GRAD_SHIFT_MIN/MAX).
SHIFT_MIN, SHIFT_MAX = -31, 63
#: Range of every run-time gradient exponent argument (KT_GRAD_EXP_MIN/MAX).
EXP_MIN, EXP_MAX = -64, 64
#: Largest per-channel fold shift (chan_shift): the fold ratio s_W[co] / max s_W is <= 1 (KT_GRAD_CHAN_SHIFT_MAX).
CHAN_SHIFT_MAX = 1
#: Largest input-gradient headroom H (KT_GRAD_HEADROOM_MAX).
HEADROOM_MAX = 8
#: Largest payload of one serial frame, the size of the firmware's receive buffer (kt_frame.h:
#: KT_FRAME_MAX_PAYLOAD).
FRAME_MAX_PAYLOAD = 2048
#: int32 accumulators per block of the backward kernels, on the stack (KT_GRAD_BLOCK).
GRAD_BLOCK = 32

#: Largest window (KH * KW * Cin rounded up to a multiple of 8) of a packed frozen filter
#: (kt_kernels.h: KT_PACKED_MAX_K): the kernel widens one window on the stack.
PACKED_MAX_K = 128

#: The scale policy (docs/numerics.md, "Scale policy"): an exponent goes up by one after a step in
#: which its tensor saturated, down by one when max |g| < AMAX_LOW, and stays in
#: [POLICY_EXP_MIN, POLICY_EXP_MAX].
AMAX_LOW = 32
POLICY_EXP_MIN, POLICY_EXP_MAX = -24, 8
#: Run-time learning-rate exponent (SET_LR, kt_train.h: KT_LR_SHIFT_MIN/MAX): a step updates at the
#: compiled learning rate times 2**lr_shift. Every update's exponent is e_gy + lr_shift, so
#: POLICY_EXP_MIN/MAX + this range stays inside EXP_MIN/MAX.
LR_SHIFT_MIN, LR_SHIFT_MAX = -16, 16
