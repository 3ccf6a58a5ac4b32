"""The long run of the firmware fuzzer (docs/reliability.md): each target for --seconds with
libFuzzer + ASan + UBSan, from the committed seed corpus; prints the frames fuzzed.

    tools/run fuzz [--seconds 600] [--target app|train] [--jobs 1] [--seed-corpus]
"""

from __future__ import annotations

import argparse
import json
import sys

from kilotrain.device import fuzz


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=int, default=600)
    ap.add_argument("--target", choices=fuzz.TARGETS, action="append", help="default: all")
    ap.add_argument("--jobs", type=int, default=1, help="parallel libFuzzer workers per target")
    ap.add_argument("--seed-corpus", action="store_true", help="rewrite tests/fuzz/corpus/ and stop")
    args = ap.parse_args()
    targets = args.target or list(fuzz.TARGETS)
    if args.seed_corpus:
        for t in targets:
            print(f"{t}: wrote {len(fuzz.write_seed_corpus(t))} seeds to {fuzz.CORPUS_DIR / t}")
        return 0
    total = 0
    for t in targets:
        try:
            run = fuzz.run_fuzzer(t, args.seconds, jobs=args.jobs)
        except fuzz.FuzzFinding as e:
            print(f"fuzz: FINDING: {e}", file=sys.stderr)
            return 1
        total += run.frames
        print(json.dumps({**vars(run), "frames": run.frames}))
        print(
            f"fuzz {t}: {run.inputs:,} inputs in {run.seconds:.0f} s, {run.frames:,} frames "
            f"({run.answers:,} requests answered, {run.reports:,} error reports), coverage {run.coverage}, "
            "no sanitizer finding"
        )
    print(f"fuzz: {total:,} frames fuzzed, no finding")
    return 0


if __name__ == "__main__":
    sys.exit(main())
