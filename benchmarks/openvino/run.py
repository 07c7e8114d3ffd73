"""edgekit on OpenVINO vs FP32 torch eager vs nncf.quantize by hand, and vs benchmark_app, in one run.

    python -m benchmarks openvino [--models resnet18,mobilenet_v2] [--rounds 6] [--iterations 300]
                                      [--app-rounds 5] [--out benchmarks/RESULTS.md]

Writes (or replaces) only the marked OpenVINO section of RESULTS.md. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
import time


from benchmarks.shared import timing
from benchmarks.shared.models import MODELS
from benchmarks.shared.common_cli import check_args, start_timing_suite, suite_record, timing_parser
from benchmarks.openvino.app import app_groups, benchmark_app_path
from benchmarks.openvino.prepare import prepare_openvino
from benchmarks.openvino.rounds import Budgets, interleaved, worker_groups
from benchmarks.shared.report import machine_facts
from benchmarks.openvino.results import write_openvino_results
from benchmarks.shared.timing import Settings

log = logging.getLogger("benchmarks")

OV_WORKER = "benchmarks.openvino.worker"
# Bounds on waiting for a quiet box and on re-measuring contended rounds, so that a busy box still
# finishes (about 6 minutes when quiet, at most ~4 more).
QUIET_BUDGET_S = 90.0
RETRY_BUDGET_S = 150.0


@contextlib.contextmanager
def openvino_worker():
    """timing.run_worker launches ``timing.WORKER`` per measurement: point it at the worker that also
    runs OpenVINO IRs (it hands torch specs to worker.py unchanged), for the duration of this suite."""
    saved = timing.WORKER
    timing.WORKER = OV_WORKER
    try:
        yield
    finally:
        timing.WORKER = saved


def _parse(argv: list[str] | None) -> argparse.Namespace:
    ap = timing_parser(__doc__, rounds=6, iterations=300, warmup=30, work="openvino",
                       out_help="its OpenVINO section is replaced")
    ap.add_argument("--app-rounds", type=int, default=5, help="rounds of edgekit runner vs benchmark_app (>= 3)")
    ap.add_argument("--app-niter", type=int, default=400,
                    help="benchmark_app -niter, and edgekit's timed iterations in that comparison")
    return check_args(ap, ap.parse_args(argv), MODELS, rounds=("rounds", "app_rounds"))


def _machine() -> dict[str, str]:
    import nncf
    import openvino as ov

    facts = machine_facts()
    facts.update(openvino=ov.__version__, nncf=nncf.__version__, benchmark_app=str(benchmark_app_path()))
    return facts


def main(argv: list[str] | None = None) -> int:
    args, t0, machine, calib = start_timing_suite(argv, _parse, _machine)
    prepared = [prepare_openvino(m, calib, args.work_dir / m, seed=args.seed) for m in args.models]
    log.info("artifacts built in %.0f s; timing %d rounds", time.perf_counter() - t0, args.rounds)
    settings = Settings(rounds=args.rounds, iterations=args.iterations, warmup=args.warmup, input_npz=calib,
                        quiet_budget_s=QUIET_BUDGET_S)
    budgets = Budgets(settings.quiet_cpus, settings.quiet_wait_s, QUIET_BUDGET_S, RETRY_BUDGET_S)
    t1 = time.perf_counter()
    with openvino_worker():
        results, discarded = interleaved(worker_groups(prepared, settings), args.rounds, budgets)
    timings = args.work_dir / "timings.json"  # raw rounds, for re-analysis (written before the next part can fail)
    timings.write_text(json.dumps({"variants": results}, indent=1) + "\n")
    log.info("variant rounds took %.0f s; edgekit runner vs benchmark_app, %d rounds", time.perf_counter() - t1,
             args.app_rounds)
    app, app_discarded = interleaved(app_groups({p.model: p.variant("edgekit_int8").path for p in prepared},
                                                args.app_niter), args.app_rounds, budgets)
    timings.write_text(json.dumps({"variants": results, "app": app, "discarded": discarded,
                                   "app_discarded": app_discarded}, indent=1) + "\n")
    command, recorded = suite_record("openvino", argv, args, settings, machine, t0, app_rounds=args.app_rounds,
                                     app_niter=args.app_niter, retry_budget_s=RETRY_BUDGET_S)
    write_openvino_results(args.out, prepared, results, app, discarded={"variants": discarded, "app": app_discarded},
                           machine=machine, command=command, settings=recorded)
    log.info("wrote the OpenVINO section of %s in %.0f s", args.out, time.perf_counter() - t0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
