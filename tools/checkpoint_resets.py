"""The power-loss sweep of docs/reliability.md: lose power at every byte offset of a checkpoint
write (and halfway through its erase) on the native build, and check each time that the previous
checkpoint is what the device restores, that RESTORE loads it, and that training goes on bit-exact
with the golden model.

    tools/run checkpoint-resets [--stride 1]
"""

from __future__ import annotations

import argparse
import json
import sys

from kilotrain.jobs.soak import CHECKPOINT_HEADER_BYTES, SoakFailed, run_checkpoint_resets


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stride", type=int, default=1, help="try every Nth payload byte (every header byte always)")
    args = ap.parse_args()
    if args.stride < 1:
        print(f"checkpoint-resets: --stride must be >= 1; got {args.stride}", file=sys.stderr)
        return 2
    offsets = None
    if args.stride > 1:
        payload = 712  # tiny_mixed_plan's; run_checkpoint_resets checks the write's real size
        size = CHECKPOINT_HEADER_BYTES + payload
        offsets = [*range(0, payload, args.stride), *range(payload, size + 1), "erase"]
    try:
        r = run_checkpoint_resets(offsets, progress=True)
    except SoakFailed as e:
        print(f"checkpoint-resets: FAILED: {e}", file=sys.stderr)
        return 1
    print(json.dumps(r))
    print(
        f"checkpoint-resets: {r['resets']} power losses during a {r['checkpoint_bytes']}-byte checkpoint write "
        f"(+ {r['writes_completed']} completed) in {r['seconds']} s: the previous checkpoint was restored every "
        "time, and training went on equal to the golden model"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
