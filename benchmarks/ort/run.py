"""edgekit vs FP32 torch eager vs ONNX Runtime quantization by hand, ratios in one run.

    python -m benchmarks ort [--models resnet18,mobilenet_v2] [--rounds 7] [--iterations 150]
                             [--out benchmarks/RESULTS.md]

See benchmarks/README.md for what is measured and why.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time


from benchmarks.shared.models import MODELS
from benchmarks.shared.common_cli import check_args, start_timing_suite, suite_record, timing_parser
from benchmarks.shared.prepare import prepare_model
from benchmarks.shared.results_md import write_results
from benchmarks.shared.timing import Settings, time_all

log = logging.getLogger("benchmarks")


def _parse(argv: list[str] | None) -> argparse.Namespace:
    ap = timing_parser(__doc__, rounds=7, iterations=150, warmup=20, work="", out_help="RESULTS.md (marked blocks kept)")
    return check_args(ap, ap.parse_args(argv), MODELS)


def main(argv: list[str] | None = None) -> int:
    args, t0, machine, calib = start_timing_suite(argv, _parse)
    prepared = [
        prepare_model(m, calib, args.work_dir / m, seed=args.seed) for m in args.models
    ]
    settings = Settings(rounds=args.rounds, iterations=args.iterations, warmup=args.warmup, input_npz=calib)
    results = time_all(prepared, settings)
    command, recorded = suite_record("ort", argv, args, settings, machine, t0)
    write_results(args.out, prepared=prepared, results=results, machine=machine, command=command, settings=recorded)
    log.info("wrote %s in %.0f s", args.out, time.perf_counter() - t0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
