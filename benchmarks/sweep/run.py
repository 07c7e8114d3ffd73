"""Sweeps as evidence: digits CNN and ResNet-18, local vs Ray, interrupted + resumed, latency-targeted pruning.

    python -m benchmarks sweep [--work-dir /tmp/edgekit-sweep] [--out benchmarks/RESULTS.md]

Digits: the real digits CNN (edgekit.demo, 99.26% on 540 held-out digits). ResNet-18: plain-torch,
seeded random weights with BatchNorm statistics from real photos (benchmarks/prepare.py; nothing can
be downloaded here), so its "accuracy" is top-1 agreement with the FP32 original on 32 other crops
(labels = the original's own predictions). Profile cpu-onnxruntime (2 threads) with fewer benchmark
iterations. Writes only the section between <!-- BEGIN sweep --> and <!-- END sweep --> of RESULTS.md.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import time
from pathlib import Path


from benchmarks.shared import ROOT
from benchmarks.shared.common_cli import setup_logging
from benchmarks.shared.report import machine_facts
from benchmarks.shared.results_md import write_block
from edgekit.sweep.config import LatencyTarget

log = logging.getLogger("run_sweep")


def profile(iterations: int):
    import edgekit

    return edgekit.load_profile("cpu-onnxruntime").replace_section(
        "benchmark", batch_sizes=[1], warmup=max(5, iterations // 5), iterations=iterations)


def digits_inputs(work: Path) -> dict:
    from edgekit.demo import prepare_demo

    a = prepare_demo(seed=0, root=work / "demo")
    return {"model": "edgekit.demo:digits_cnn", "weights": a.weights, "calib_data": str(a.calib),
            "eval_data": str(a.eval)}


def resnet_inputs(work: Path) -> dict:
    import numpy as np
    import torch

    from benchmarks.shared.calib import make_calibration_set, write_calibration_npz
    from benchmarks.shared.prepare import build_model

    calib = write_calibration_npz(work / "r18-calib.npz", n=32, seed=0)
    model = build_model("resnet18", 0, np.load(calib)["x"])
    weights = work / "r18.pt"
    torch.save(model.state_dict(), weights)
    x = make_calibration_set(32, seed=1)
    with torch.no_grad():
        y = model(torch.from_numpy(x)).argmax(1).numpy()
    np.savez(work / "r18-eval.npz", x=x, y=y.astype(np.int64))
    return {"model": "edgekit.zoo:resnet18", "weights": weights, "calib_data": str(calib),
            "eval_data": str(work / "r18-eval.npz")}


def sweep(inputs: dict, prof, out: Path, cache: Path, *, input_shape=None, **config):
    """One edgekit.sweep(); ``config``: SweepConfig fields."""
    import edgekit

    started = time.perf_counter()
    options = edgekit.RunOptions(weights=inputs["weights"], force=True, input_shape=input_shape)
    report = edgekit.sweep(inputs["model"], prof, calib_data=inputs["calib_data"], eval_data=inputs["eval_data"],
                           out_dir=out, config=edgekit.SweepConfig(cache_dir=cache, **config), options=options)
    report.sweep["wall_s_total"] = round(time.perf_counter() - started, 1)
    log.info("%s: chosen %s (%s) in %.0f s", out.name, report.recommended, report.recommended_reason,
             report.sweep["wall_s_total"])
    return report


def interrupted_then_resumed(inputs: dict, prof, out: Path, cache: Path, after: int, **kwargs):
    from edgekit.sweep import trials

    real, calls = trials.measure_trial, []

    def flaky(ctx, built, progress=None):
        calls.append(built.spec.name)
        if len(calls) > after:
            raise KeyboardInterrupt
        return real(ctx, built, progress)

    trials.measure_trial = flaky
    try:
        sweep(inputs, prof, out, cache, **kwargs)
    except KeyboardInterrupt:
        log.info("interrupted after %d measured trials", after)
    finally:
        trials.measure_trial = real
    return sweep(inputs, prof, out, cache, resume=True, **kwargs)


def section_for(title: str, report, extra: list[str]) -> list[str]:
    from edgekit.sweep.report import markdown_table, table_rows

    s = report.sweep
    c = s["cache"]
    lines = [f"### {title}", "", f"Chosen: **{report.recommended or 'none'}** — {report.recommended_reason}.", "",
             *markdown_table(table_rows(report)), "",
             f"- Pareto front ({s['objective']} vs accuracy): {', '.join(s['pareto'])}",
             f"- stage cache: {c['hits']} hits, {c['misses']} misses ({', '.join(f'{k} {v[0]}/{v[1]}' for k, v in sorted(c['by_stage'].items()))} hit/miss); "
             f"sweep wall time {s['wall_s_total']} s", *extra]
    search = s.get("latency_search")
    if search:
        trace = "; ".join(f"r={t['ratio']:g}: {t['latency_ratio']:.2f}x" for t in search["trace"])
        lines.append(f"- latency search (target <= {search['target']:.0%} of unpruned {search['precision']}): "
                     f"{'ratio ' + format(search['ratio'], 'g') if search['met'] else 'NOT reached'}; trace {trace}")
    return lines + [""]


def main(argv: list[str] | None = None) -> int:
    setup_logging()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work-dir", type=Path, default=Path("/tmp/edgekit-sweep"))
    ap.add_argument("--out", type=Path, default=ROOT / "RESULTS.md")
    ap.add_argument("--iterations", type=int, default=100)
    ap.add_argument("--models", default="digits,resnet18")
    args = ap.parse_args(argv)
    shutil.rmtree(args.work_dir, ignore_errors=True)
    args.work_dir.mkdir(parents=True)
    t0 = time.perf_counter()
    machine = machine_facts()
    prof = profile(args.iterations)
    lines = ["## Sweeps (edgekit sweep)", "",
             f"Produced by `python -m benchmarks sweep --iterations {args.iterations}`: profile cpu-onnxruntime "
             f"(ONNX Runtime CPU EP, 2 threads), batch 1, {prof.benchmark.warmup} warm-up + {args.iterations} timed "
             "inferences per artifact in a fresh runner process; objective latency (p50), budget 1 point; "
             f"machine: {machine.get('CPU')}, {machine.get('logical CPUs (os.cpu_count / usable)')} logical CPUs "
             "shared with other users (load average "
             f"{machine.get('load average at start (1/5/15 min)')}). Ray: local instance, 2 workers (`ray.init(num_cpus=2)`), "
             "each measurement a task holding both CPUs. Every run has its own fresh cache unless said.", ""]
    models = [m.strip() for m in args.models.split(",")]
    if "digits" in models:
        d = digits_inputs(args.work_dir)
        kw = {"prune_ratios": (0.3, 0.5, 0.7)}
        local = sweep(d, prof, args.work_dir / "digits-local", args.work_dir / "c-digits-local", **kw)
        resumed = interrupted_then_resumed(d, prof, args.work_dir / "digits-resumed", args.work_dir / "c-digits-int",
                                           3, **kw)
        ray = sweep(d, prof, args.work_dir / "digits-ray", args.work_dir / "c-digits-ray", executor="ray", workers=2, **kw)
        search = sweep(d, prof, args.work_dir / "digits-search", args.work_dir / "c-digits-local", prune_ratios=(),
                       precisions=("fp32",), latency_target=LatencyTarget(0.8, steps=4))
        lines += section_for("Digits CNN (real data): --prune 0.3,0.5,0.7 --precisions fp32,int8, local executor", local, [
            f"- interrupted after 3 measured trials, then re-run with --resume: {resumed.sweep['cache']['trials_from_journal']} "
            f"trials from the journal; chosen **{resumed.recommended}** (uninterrupted: **{local.recommended}**) -> "
            f"{'same' if resumed.recommended == local.recommended else 'DIFFERENT (re-measured trials are noisy)'}",
            f"- Ray executor (2 workers, fresh cache): chosen **{ray.recommended}** -> "
            f"{'same as local' if ray.recommended == local.recommended else 'DIFFERENT from local'}; Pareto {', '.join(ray.sweep['pareto'])}; "
            f"wall {ray.sweep['wall_s_total']} s vs local {local.sweep['wall_s_total']} s"])
        lines += section_for("Digits CNN: --target-latency 0.8 (fp32, 4 bisection steps, cache of the run above)", search, [])
    if "resnet18" in models:
        r = resnet_inputs(args.work_dir)
        kw = {"prune_ratios": (0.3, 0.6), "input_shape": (1, 3, 224, 224)}
        local = sweep(r, prof, args.work_dir / "r18-local", args.work_dir / "c-r18", **kw)
        ray = sweep(r, prof, args.work_dir / "r18-ray", args.work_dir / "c-r18-ray", executor="ray", workers=2, **kw)
        search = sweep(r, prof, args.work_dir / "r18-search", args.work_dir / "c-r18", prune_ratios=(),
                       precisions=("fp32",), latency_target=LatencyTarget(0.5, steps=3), input_shape=(1, 3, 224, 224))
        lines += section_for("ResNet-18 224x224 (random weights; accuracy = top-1 agreement with FP32 on 32 crops): "
                             "--prune 0.3,0.6 --precisions fp32,int8", local, [
            f"- Ray executor (2 workers, fresh cache): chosen **{ray.recommended}** -> "
            f"{'same as local' if ray.recommended == local.recommended else 'DIFFERENT from local'}; "
            f"wall {ray.sweep['wall_s_total']} s vs local {local.sweep['wall_s_total']} s"])
        lines += section_for("ResNet-18: --target-latency 0.5 (fp32, 3 bisection steps, cache of the run above)", search, [])
    lines += [f"Suite wall time {time.perf_counter() - t0:.0f} s. Latencies of one run drift +-40% between rounds on "
              "this shared box; the choice treats p50s within 15% as ties (then the smaller artifact wins)."]
    write_block(args.out, "sweep", "\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
