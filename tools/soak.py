"""The long fault-injection soak of docs/reliability.md: train the soak model on the emulated board
through the fault-injecting proxy (10 % loss, duplication and corruption each by default) and
check every step and the final parameters against the golden model.

    tools/run soak [--steps 5000] [--seed 1] [--percent 10]
"""

from __future__ import annotations

import argparse
import json
import sys

from kilotrain.device.proxy import Faults
from kilotrain.jobs.soak import SoakFailed, run_soak


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--percent", type=float, default=10.0, help="loss, duplication and corruption, each")
    args = ap.parse_args()
    p = args.percent / 100.0
    faults = Faults(drop=p, duplicate=p, corrupt=p, truncate=p / 2, delay=p, reorder=p / 2)
    try:
        counts = run_soak(args.steps, faults, seed=args.seed, progress=True)
    except (SoakFailed, ValueError) as e:
        print(f"soak: FAILED: {e}", file=sys.stderr)
        return 1
    print(json.dumps(counts))
    up, down = counts["host->device"], counts["device->host"]
    injected = sum(v for k, v in up.items() if k != "frames") + sum(v for k, v in down.items() if k != "frames")
    print(
        f"soak: {counts['steps']} steps in {counts['seconds']} s through {injected} injected faults "
        f"({up['frames'] + down['frames']} frames, {counts['host_resends']} resends): device == golden, "
        f"params_sha256 {counts['params_sha256'][:16]}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
