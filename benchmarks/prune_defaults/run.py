"""Pruning with defaults only (issue 20's evidence): requested vs achieved MACs, accuracy, speed vs the unpruned twins.

    python -m benchmarks prune-defaults [--ratios 0.3,0.5,0.7] [--models digits,gated,resnet18,mobilenet_v2]
                                         [--seeds 0,1,2] [--iterations 100] [--work-dir /tmp/edgekit-prune-defaults]

Each row is one `edgekit.compress(..., prune=prune_config(ratio=R), distill=distill_config())` on
cpu-onnxruntime with no tuning option: the default ignored layers, rounding, importance, and the default
distillation budget (early stopping on a held-out share of the training data). The digits models are trained here
on the real digits (scikit-learn) and judged on 540 held-out digits with their labels; ResNet-18 and MobileNetV2
run at 224x224, where they are compute-bound, with seeded weights and BatchNorm statistics from real photos
(nothing can be downloaded here), so they are pruned without distillation (nothing to distil towards) and their
accuracy column is top-1 agreement with the original on held-out photos. Latency ratios are compress's own
measurements of the shipped artifacts (pruned p50 / unpruned twin p50 at batch 1, with the p50/p90 spread
verdict of report/speed.py). At R = 0.5 the distilled models also run with the other --seeds (the distillation's
seed: its validation split and sample order; same original, same pruning), and the accuracy target is judged on the
mean drop, shown with its spread. Writes only the block between <!-- BEGIN prune-defaults --> and its END.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.shared import ROOT
from benchmarks.shared.common_cli import setup_logging
from benchmarks.shared.report import machine_facts
from benchmarks.shared.results_md import write_block

log = logging.getLogger("prune_defaults")

MODELS = ("digits", "gated", "resnet18", "mobilenet_v2")
TARGET_MACS, TARGET_DROP, TARGET_SPEEDUP = 0.6, 1.0, 1.5  # at R = 0.5 (issue 20)


def _digits(work: Path) -> dict[str, Any]:
    from edgekit.demo import prepare_demo

    a = prepare_demo(seed=0, root=work / "demo")
    return {"model": "edgekit.demo:digits_cnn", "weights": a.weights, "calib": a.calib, "eval": a.eval,
            "train": a.train, "distill": True, "title": "digits CNN (8x8, real labels)"}


def _gated(work: Path) -> dict[str, Any]:
    import torch

    from edgekit.demo import digits_splits, train_digits_cnn
    from edgekit.zoo import digits_gated_cnn

    split = digits_splits(seed=0, size=16)
    (x, y), (xt, yt) = split["train"], split["test"]
    model = train_digits_cnn(x, y, seed=0, epochs=25, factory=digits_gated_cnn)
    base = work / "gated"
    base.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), base / "gated.pt")
    np.savez(base / "train.npz", x=x, y=y)
    np.savez(base / "calib.npz", x=x[:256], y=y[:256])
    np.savez(base / "eval.npz", x=xt, y=yt)
    return {"model": "edgekit.zoo:digits_gated_cnn", "weights": base / "gated.pt", "calib": base / "calib.npz",
            "eval": base / "eval.npz", "train": base / "train.npz", "distill": True,
            "title": "residual + concat + SE + grouped-conv CNN (16x16, real labels)"}


def _photos_model(name: str, work: Path) -> dict[str, Any]:
    import torch

    from benchmarks.shared.calib import make_calibration_set, write_calibration_npz
    from benchmarks.shared.prepare import build_model

    base = work / name
    calib = write_calibration_npz(base / "calib.npz", n=32, seed=0)
    model = build_model(name, 0, np.load(calib)["x"]).eval()
    torch.save(model.state_dict(), base / f"{name}.pt")
    x = make_calibration_set(32, seed=1)
    with torch.no_grad():
        y = model(torch.from_numpy(x)).argmax(1).numpy()
    np.savez(base / "eval.npz", x=x, y=y.astype(np.int64))  # labels: the original's own predictions
    return {"model": f"edgekit.zoo:{name}", "weights": base / f"{name}.pt", "calib": calib, "eval": base / "eval.npz",
            "train": None, "distill": False,
            "title": f"{name} (224x224, seeded weights; accuracy = top-1 agreement with the original)"}


def _compress(m: dict[str, Any], ratio: float, prof: Any, out: Path, seed: int | None = None) -> Any:
    import edgekit

    options = edgekit.RunOptions(weights=m["weights"], force=True)
    return edgekit.compress(m["model"], prof, out_dir=out, calib_data=str(m["calib"]), eval_data=str(m["eval"]),
                            train_data=str(m["train"]) if m["distill"] else None,
                            prune=edgekit.prune_config(ratio=ratio),
                            distill=(edgekit.distill_config() if seed is None else edgekit.distill_config(seed=seed))
                            if m["distill"] else None,
                            options=options, progress=False)


def _speed(report: Any, name: str) -> str:
    m = (report.pruning.get("measured") or {}).get(name)
    if not m:
        return "-"
    verdict = f"{1 / m['latency_ratio']:.2f}x" + ("" if m["measurable"] else " (noise)")
    return verdict


def _row(title: str, ratio: float, report: Any, wall: float, seed: int | None = None) -> tuple[str, dict[str, Any]]:
    p = report.pruning
    by = {v.name: v for v in report.variants}
    fp32, pruned = by.get("fp32"), by.get("pruned-fp32")
    drop = None if fp32 is None or pruned is None or fp32.accuracy is None or pruned.accuracy is None \
        else fp32.accuracy - pruned.accuracy
    d = report.distillation or {}
    epochs = d.get("epochs_run", "-")
    stop = d.get("stop_reason") or d.get("stopped") or ""
    facts = {"ratio": ratio, "macs": p["ratios"]["macs"], "drop": drop,
             "fp32_speedup": 1 / p["measured"]["pruned-fp32"]["latency_ratio"] if "pruned-fp32" in p.get("measured", {}) else None,
             "fp32_measurable": p.get("measured", {}).get("pruned-fp32", {}).get("measurable", False)}
    acc = "-" if drop is None else f"{fp32.accuracy:.2f} -> {pruned.accuracy:.2f} ({-drop:+.2f})"
    if report.distillation is None and drop is not None:  # seeded weights, nothing to distil towards
        acc = f"agreement {pruned.accuracy:.0f}% (not a task accuracy)"
    int8 = by.get("pruned-int8")
    line = (f"| {title} | {ratio:g}{'' if seed is None else f' (seed {seed})'} | {p['ratios']['macs']:.2f} | {p['ratios']['params']:.2f} | {acc} | "
            f"{'-' if int8 is None or int8.accuracy is None else format(int8.accuracy, '.2f')} | "
            f"{_speed(report, 'pruned-fp32')} | {_speed(report, 'pruned-int8')} | "
            f"{epochs}{f' ({stop})' if stop else ''} | {report.recommended} | {wall:.0f} |")
    return line, facts


def main(argv: list[str] | None = None) -> int:
    import edgekit
    from edgekit.hardware import detect

    setup_logging()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work-dir", type=Path, default=Path("/tmp/edgekit-prune-defaults"))
    ap.add_argument("--out", type=Path, default=ROOT / "RESULTS.md")
    ap.add_argument("--ratios", default="0.3,0.5,0.7")
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--iterations", type=int, default=100, help="timed inferences per artifact and batch size")
    ap.add_argument("--seeds", default="0,1,2", help="distillation seeds at R = 0.5 (the first is the default run)")
    args = ap.parse_args(argv)
    ratios = [float(r) for r in args.ratios.split(",")]
    seeds = [int(k) for k in args.seeds.split(",")]
    models = [m.strip() for m in args.models.split(",")]
    unknown = set(models) - set(MODELS)
    if unknown:
        ap.error(f"unknown model(s) {', '.join(sorted(unknown))}; known: {', '.join(MODELS)}")
    shutil.rmtree(args.work_dir, ignore_errors=True)
    args.work_dir.mkdir(parents=True)
    t0 = time.perf_counter()
    host, machine = detect(), machine_facts()
    prof = edgekit.load_profile("cpu-onnxruntime").replace_section(
        "benchmark", batch_sizes=[1], warmup=max(5, args.iterations // 5), iterations=args.iterations)
    builders = {"digits": _digits, "gated": _gated, "resnet18": lambda w: _photos_model("resnet18", w),
                "mobilenet_v2": lambda w: _photos_model("mobilenet_v2", w)}
    rows, checks = [], []
    for name in models:
        m = builders[name](args.work_dir)
        for ratio in ratios:
            started = time.perf_counter()
            report = _compress(m, ratio, prof, args.work_dir / f"{name}-{ratio:g}")
            line, facts = _row(m["title"], ratio, report, time.perf_counter() - started)
            log.info(line)
            rows.append(line)
            if ratio == 0.5:
                drops = [facts["drop"]]
                for seed in seeds[1:] if m["distill"] else []:
                    started = time.perf_counter()
                    report = _compress(m, ratio, prof, args.work_dir / f"{name}-{ratio:g}-s{seed}", seed=seed)
                    line, more = _row(m["title"], ratio, report, time.perf_counter() - started, seed=seed)
                    log.info(line)
                    rows.append(line)
                    drops.append(more["drop"])
                checks.append((name, m, {**facts, "drops": drops}))
    verdicts = []
    for name, m, f in checks:
        verdicts.append(f"- {name} at R = 0.5: MACs {f['macs']:.2f} of the original "
                        f"({'PASS' if f['macs'] <= TARGET_MACS else 'FAIL'}, needs <= {TARGET_MACS})")
        drops = [d for d in f["drops"] if d is not None]
        if m["distill"] and drops:
            mean = sum(drops) / len(drops)
            each = ", ".join(f"{d:+.2f}" for d in drops)
            verdicts.append(f"  - accuracy drop {mean:+.2f} points, mean of {len(drops)} distillation seed(s) "
                            f"({each}; spread {min(drops):+.2f} .. {max(drops):+.2f}) "
                            f"({'PASS' if mean <= TARGET_DROP else 'FAIL'}, needs <= {TARGET_DROP:g})")
        if not m["distill"] and f["fp32_speedup"] is not None:
            ok = f["fp32_speedup"] >= TARGET_SPEEDUP and f["fp32_measurable"]
            verdicts.append(f"  - FP32 speed-up {f['fp32_speedup']:.2f}x over the unpruned FP32 "
                            f"({'PASS' if ok else 'FAIL'}, needs >= {TARGET_SPEEDUP}x outside the noise)")
    body = "\n".join([
        "## Pruning with defaults only: requested vs achieved, accuracy, speed (issue 20)", "",
        f"`python -m benchmarks prune-defaults --ratios {args.ratios} --models {args.models} --seeds {args.seeds} "
        f"--iterations {args.iterations}` in {time.perf_counter() - t0:.0f} s on **{host.isa}** "
        f"({machine.get('CPU')}, {host.logical_cpus} logical CPUs, shared; load average at start "
        f"{machine.get('load average at start (1/5/15 min)')}), edgekit {edgekit.__version__}, profile cpu-onnxruntime "
        f"(2 threads, batch 1, {args.iterations} timed inferences per artifact). Every run is "
        "`edgekit.compress(model, prune=prune_config(ratio=R), distill=distill_config())` with no other option: "
        "the defaults decide what is kept whole, the rounding (the target ISA's channel multiple) and how long "
        "distillation trains; at R = 0.5 the distilled models also run with `distill_config(seed=k)` for the other "
        "seeds (same original, same pruning: only the validation split and sample order change), and their target is "
        "judged on the mean drop, with its spread. Speed columns: unpruned p50 / pruned p50 of the same precision, measured by compress "
        "on the shipped artifacts; \"(noise)\" marks a ratio inside the 15% band or the p50/p90 spread "
        "(report/speed.py), which the report does not claim as a speed-up.", "",
        "| model | R | MACs kept | params kept | top-1 % FP32 original -> pruned (pts) | pruned INT8 top-1 % | "
        "FP32 speed-up | INT8 speed-up | distillation epochs (stop) | recommended | compress s |",
        "|---|---|---|---|---|---|---|---|---|---|---|", *rows, "",
        "### Targets (R = 0.5)", "", *verdicts, ""])
    write_block(args.out, "prune-defaults", body)
    print(body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
