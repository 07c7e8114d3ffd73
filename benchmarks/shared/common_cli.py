"""What every benchmark entry point shares: its common options, model-list and round-count checks, logging setup."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

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
