"""``kilotrain study``: the accuracy study of docs/accuracy.md (the paper's Table 1 and Figure 8
on pretrained models and offline target tasks): per task, classifier-only / bias-only / last-k /
searched schemes, each fine-tuned in fp32, int8 without QAS and int8 + QAS over several seeds,
with its all-in peak SRAM; the evolutionary and the random search compared.

    kilotrain study [--tasks lfw,mnist-new-classes,digits-shift] [--seeds 5]
                    [--workers N | --scheduler tcp://HOST:PORT] [--evaluations 200] [--metric loss]
                    [--doc docs/accuracy.md] [--plot docs/accuracy.png] [--json]

Runs are cached under build/study/ and build/search/, so a stopped study resumes. The generated
tables replace the part of the doc between its study markers; the rest (the analysis) is kept.
About 75 minutes from nothing on a 2-core machine with --workers 2 for the four tasks
(docs/accuracy.md gives each task's time).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from kilotrain.jobs.search import METRICS
from kilotrain.jobs.study import TASKS, StudyJob, plot, run_study, write_report


def _study(args: argparse.Namespace) -> int:
    job = StudyJob(
        tuple(t for t in args.tasks.split(",") if t),
        seeds=args.seeds,
        workers=args.workers,
        scheduler=args.scheduler,
        evaluations=args.evaluations,
        metric=args.metric,
    )
    reports = run_study(job, progress=not args.json)
    doc, png = Path(args.doc), Path(args.plot)
    plot(reports, png)
    given = (("tasks", args.tasks), ("seeds", args.seeds), ("metric", args.metric))
    command = "kilotrain study " + " ".join(f"--{k} {v}" for k, v in given)
    write_report(reports, doc, command, os.path.relpath(png, doc.parent))
    if args.json:
        print(json.dumps(reports))
        return 0
    for rep in reports:
        print(rep["title"])
        for r in rep["rows"]:
            accs = "  ".join(f"{m} {100 * sum(v) / len(v):5.1f}%" for m, v in r["accuracy"].items())
            print(f"  {r['row']:<24} {r['peak_sram_bytes']:>9,} B  {accs}")
    print(f"written {doc} and {png}")
    return 0


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``kilotrain study`` on an argparse subparsers object."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "study",
        help="the accuracy study: baselines vs searched schemes, fp32 vs int8, over seeds (docs/accuracy.md)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--tasks", default=",".join(TASKS), help="comma-separated, of: " + ", ".join(TASKS))
    p.add_argument("--seeds", type=int, default=5, help="training (and search) seeds per row (default 5)")
    p.add_argument("--workers", type=int, default=1, help="local processes for the runs")
    p.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="run the runs on this Dask cluster instead")
    p.add_argument("--evaluations", type=int, default=200, help="candidates per search (default 200)")
    p.add_argument(
        "--metric", choices=sorted(METRICS), default="loss", help="what the searches score runs on (default loss)"
    )
    p.add_argument("--doc", default="docs/accuracy.md", help="the report to update (default docs/accuracy.md)")
    p.add_argument("--plot", default="docs/accuracy.png", help="accuracy against memory (default docs/accuracy.png)")
    p.add_argument("--json", action="store_true", help="print the reports as JSON")
    p.set_defaults(func=_study)
    return p
