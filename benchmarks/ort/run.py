"""edgekit vs FP32 torch eager vs ONNX Runtime quantization by hand, ratios in one run.

    python -m benchmarks ort [--models resnet18,mobilenet_v2] [--rounds 7] [--iterations 150]
                             [--out benchmarks/RESULTS.md]

See benchmarks/README.md for what is measured and why.
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import sys
import time


from benchmarks.shared.calib import write_calibration_npz
from benchmarks.shared.models import MODELS
from benchmarks.shared.common_cli import check_args, setup_logging, timing_parser
from benchmarks.shared.prepare import prepare_model
from benchmarks.shared.report import machine_facts
from benchmarks.shared.results_md import write_results
from benchmarks.shared.timing import Settings, time_all

log = logging.getLogger("benchmarks")


def _parse(argv: list[str] | None) -> argparse.Namespace:
    ap = timing_parser(__doc__, rounds=7, iterations=150, warmup=20, work="", out_help="RESULTS.md (marked blocks kept)")
    return check_args(ap, ap.parse_args(argv), MODELS)


def main(argv: list[str] | None = None) -> int:
    setup_logging()
    args = _parse(argv)
    t0 = time.perf_counter()
    machine = machine_facts()
    calib = write_calibration_npz(args.work_dir / "calib.npz", n=args.calib_samples, seed=args.seed)
    prepared = [
        prepare_model(m, calib, args.work_dir / m, seed=args.seed) for m in args.models
    ]
    settings = Settings(rounds=args.rounds, iterations=args.iterations, warmup=args.warmup, input_npz=calib)
    results = time_all(prepared, settings)
    machine["load average at end (1/5/15 min)"] = " / ".join(f"{v:.2f}" for v in os.getloadavg())
    machine["suite wall time"] = f"{time.perf_counter() - t0:.0f} s"
    command = "python -m benchmarks ort " + shlex.join(argv if argv is not None else sys.argv[1:])
    write_results(
        args.out, prepared=prepared, results=results, machine=machine, command=command.strip(),
        settings={"n_calib": args.calib_samples, "warmup": args.warmup, "iterations": args.iterations,
                  "rounds": args.rounds, "quiet_cpus": settings.quiet_cpus, "quiet_wait_s": settings.quiet_wait_s,
                  "quiet_budget_s": settings.quiet_budget_s},
    )
    log.info("wrote %s in %.0f s", args.out, time.perf_counter() - t0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
