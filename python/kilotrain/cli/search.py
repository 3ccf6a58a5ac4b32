"""``kilotrain search``: the sparse-update scheme that the contribution analysis and the
evolutionary search find for a model and a task under a memory budget (docs/training.md).

    kilotrain search MODEL --dataset NAME --budget 96KB --out scheme.json
                     [--steps 100] [--workers N | --scheduler tcp://HOST:PORT] [--evaluations 300]
                     [--rerank 8] [--val-fraction 0.2] [--metric loss|accuracy] [--input-size R] [--json]

Runs are scored (``--metric``: the loss by default, or the accuracy) on a validation split held out
of the training split (the test split stays for ``kilotrain train``); the ``--rerank`` best
candidates by summed contribution are fine-tuned and the best measured one (beside the analysis'
bias depths that fit, measured already) is written. The budget
is the all-in peak SRAM that ``kilotrain plan`` reports; the scheme written is taken by ``plan``,
``train`` and ``compile``. The analysis' fine-tuning runs are cached under build/search/, so a
stopped search resumes; they run in ``--workers`` local processes, or on a Dask distributed cluster
(``--scheduler``: ``dask scheduler`` and ``dask worker`` on your machines, kilotrain installed on
each). A budget below the smallest training image (the classifier alone) fails at once naming it.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from kilotrain.data.datasets import dataset_arg
from kilotrain.jobs.search import METRICS, SearchJob, parse_budget, run_search, write_scheme


def _search(args: argparse.Namespace) -> int:
    job = SearchJob(
        args.model,
        args.dataset,
        parse_budget(args.budget),
        steps=args.steps,
        seed=args.seed,
        lr=args.lr,
        input_size=args.input_size,
        workers=args.workers,
        evaluations=args.evaluations,
        limit=args.limit,
        scheduler=args.scheduler,
        val_fraction=args.val_fraction,
        rerank=args.rerank,
        metric=args.metric,
    )
    r = run_search(job, progress=not args.json)
    path = write_scheme(r["scheme"], args.out)
    r["out"] = str(path)
    if args.json:
        print(json.dumps(r))
        return 0
    rnd, evo = r["random_search"], r["evolutionary_search"]
    print(
        f"{r['model']} on {r['dataset']}, budget {r['budget_bytes']:,} B: {json.dumps(r['scheme'])} -> {path}\n"
        f"  peak SRAM {r['peak_sram_bytes']:,} B; validation accuracy {r['validation_accuracy']:.1%}, "
        f"loss {r['validation_loss']:.4f} (classifier alone {r['base_accuracy']:.1%}, {r['base_loss']:.4f}); "
        f"best by {r['metric']} of {r['reranked']} re-ranked and {len(r['rerank']) - r['reranked']} bias depths\n"
        f"  summed contribution at {r['evaluations']} evaluations: evolutionary {evo['score']:+.3f}, "
        f"random {rnd['score']:+.3f}\n"
        f"  {r['analysis_runs']} analysis runs ({r['analysis_cached']} from the cache {r['cache']})"
    )
    return 0


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``kilotrain search`` on an argparse subparsers object."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "search",
        help="find a sparse-update scheme under a memory budget (contribution analysis + evolution)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", help="a .tflite, a .ktm or zoo:NAME")
    p.add_argument("--dataset", required=True, type=dataset_arg, metavar="DATASET")
    p.add_argument("--budget", required=True, help="all-in peak SRAM, e.g. 96KB")
    p.add_argument("--out", required=True, help="the scheme JSON to write")
    p.add_argument("--steps", type=int, default=100, help="fine-tuning steps per analysis run (default 100)")
    p.add_argument("--workers", type=int, default=1, help="local processes for the analysis runs")
    p.add_argument(
        "--scheduler",
        metavar="tcp://HOST:PORT",
        help="run the analysis on this Dask distributed cluster instead (needs the distributed extra)",
    )
    p.add_argument("--evaluations", type=int, default=300, help="search candidates per search (default 300)")
    p.add_argument(
        "--rerank", type=int, default=8, help="best candidates fine-tuned; the best measured is written (default 8)"
    )
    p.add_argument(
        "--val-fraction",
        type=float,
        default=0.2,
        help="of the training split, held out to score the runs on (default 0.2; the test split is never used)",
    )
    p.add_argument(
        "--metric",
        choices=sorted(METRICS),
        default="loss",
        help="what the runs are scored on, on the validation split (default loss: it does not saturate)",
    )
    p.add_argument("--input-size", type=int, help="zoo models: input resolution")
    p.add_argument("--limit", type=int, help="at most this many images of the data set")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=_search)
    return p
