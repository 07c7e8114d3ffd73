"""What every benchmark entry point shares: model-list and round-count checks, logging setup."""

from __future__ import annotations

import argparse
import logging


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
