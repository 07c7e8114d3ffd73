"""What every benchmark entry point shares: its common options, model-list and round-count checks, logging setup."""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.shared import ROOT
from benchmarks.shared.models import MODELS


def timing_parser(doc: str, *, rounds: int, iterations: int, warmup: int, work: str, out_help: str
                  ) -> argparse.ArgumentParser:
    """The options of the suites that time artifacts in interleaved rounds (ort, pruning, openvino)."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--models", default="resnet18,mobilenet_v2", help=f"comma list of {sorted(MODELS)}")
    ap.add_argument("--rounds", type=int, default=rounds, help="interleaved rounds (>= 3)")
    ap.add_argument("--iterations", type=int, default=iterations, help="timed inferences per process")
    ap.add_argument("--warmup", type=int, default=warmup, help="untimed inferences per process")
    ap.add_argument("--calib-samples", type=int, default=48)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work-dir", type=Path, default=ROOT / ".work" / work if work else ROOT / ".work",
                    help="artifacts and calibration .npz")
    ap.add_argument("--out", type=Path, default=ROOT / "RESULTS.md", help=out_help)
    return ap


def seeded_digits_parser(doc: str, *, epochs: int) -> argparse.ArgumentParser:
    """The options of the digits training suites (distill, qat): seeds, epochs, prune ratio, learning rate."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--epochs", type=int, default=epochs)
    ap.add_argument("--ratio", type=float, default=0.65)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--out", type=Path, default=ROOT / "RESULTS.md")
    return ap


def check_args(ap: argparse.ArgumentParser, args: argparse.Namespace, models: dict, rounds: tuple[str, ...] = ("rounds",)
               ) -> argparse.Namespace:
    """Split --models, refuse unknown ones, and insist on >= 3 interleaved rounds."""
    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = sorted(set(args.models) - models.keys())
    if unknown:
        ap.error(f"unknown model(s) {unknown}; choose from {sorted(models)}")
    too_few = [f"--{name.replace('_', '-')}" for name in rounds if getattr(args, name) < 3]
    if too_few:
        ap.error(f"{' and '.join(too_few)} must be >= 3: ratios need several interleaved rounds on a noisy box")
    return args


def setup_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("onnxruntime.quantization.shape_inference").setLevel(logging.WARNING)


def start_timing_suite(argv: list[str] | None, parse: Any, facts: Any = None) -> tuple[Any, float, dict[str, str], Path]:
    """How every timing suite starts: logging, its options (``parse(argv)``), the clock, the machine's facts
    (``facts()``, default shared.report.machine_facts) and the shared calibration set in the work dir."""
    from benchmarks.shared.calib import write_calibration_npz
    from benchmarks.shared.report import machine_facts

    setup_logging()
    args = parse(argv)
    started = time.perf_counter()
    machine = (facts or machine_facts)()
    calib = write_calibration_npz(args.work_dir / "calib.npz", n=args.calib_samples, seed=args.seed)
    return args, started, machine, calib


def suite_record(suite: str, argv: list[str] | None, args: argparse.Namespace, settings: Any,
                 machine: dict[str, str], started: float, **extra: Any) -> tuple[str, dict[str, Any]]:
    """What a timing suite writes beside its numbers: the machine at the end (load, wall time), the command line
    that reproduces the run, and its settings (``extra`` for the suite's own)."""
    machine["load average at end (1/5/15 min)"] = " / ".join(f"{v:.2f}" for v in os.getloadavg())
    machine["suite wall time"] = f"{time.perf_counter() - started:.0f} s"
    command = f"python -m benchmarks {suite} " + shlex.join(argv if argv is not None else sys.argv[1:])
    recorded = {"n_calib": args.calib_samples, "warmup": args.warmup, "iterations": args.iterations,
                "rounds": args.rounds, "quiet_cpus": settings.quiet_cpus, "quiet_wait_s": settings.quiet_wait_s,
                "quiet_budget_s": settings.quiet_budget_s, **extra}
    return command.strip(), recorded


def parse_seeded(ap: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Parse a digits training suite's options (``args.seed_list``) and pin torch to one thread."""
    import torch

    args = ap.parse_args(argv)
    args.seed_list = [int(s) for s in args.seeds.split(",")]
    torch.set_num_threads(1)  # tiny models: 2 threads on a busy 2-core box ran 45x slower
    return args
