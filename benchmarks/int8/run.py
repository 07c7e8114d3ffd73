"""INT8 recipes per ISA: the evidence behind edgekit.backends.int8's choice, measured on this host.

For the digits CNN and the gated digits CNN (trained, real held-out digits) and plain-torch ResNet-18 /
MobileNetV2 (seeded weights, BatchNorm statistics and calibration on real photos, as in run.py), quantize
the same FP32 ONNX with each recipe (U8S8, U8S8 with 7-bit weights, U8U8, S8S8; quantize_static QDQ,
per-channel, minmax) exactly as edgekit does (``run_quantize_static``), then measure:

- accuracy (digits: top-1 on held-out labels) or parity vs FP32 (agreement, cosine) with this host's
  integer kernels, and with the Q/DQ math emulated in float (``session.disable_quant_qdq``: the
  quantization's own accuracy, what a CPU without saturation computes);
- latency INT8 / FP32 at batch 1 (ONNX Runtime, 2 threads as the CPU profiles), within-round ratios over
  interleaved rounds (median, [lowest, highest]).

Writes the block <!-- BEGIN int8-recipes --> of RESULTS.md, naming the host's ISA.

    python -m benchmarks int8-recipes [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np


from benchmarks.shared import ROOT
from benchmarks.shared.calib import write_calibration_npz
from benchmarks.shared.prepare import build_model
from benchmarks.shared.results_md import write_block

THREADS = 2


def _session(path: Path, emulate: bool = False):
    from edgekit.deploy.run_onnxruntime import make_session

    return make_session(path, THREADS, "all", emulate_qdq=emulate)


def _export(model, x: np.ndarray, path: Path) -> None:
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.from_numpy(x[:1]),), str(path), dynamo=False, opset_version=17,
                          input_names=["input"], output_names=["output"],
                          dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})


def _quantize(fp32: Path, dst: Path, calib_x: np.ndarray, recipe: str) -> None:
    import tempfile

    from edgekit.backends.int8 import RECIPES
    from edgekit.backends.int8_search import Attempt
    from edgekit.backends.onnxruntime import CalibrationReader, preprocess, run_quantize_static
    from edgekit.deploy.run_onnxruntime import make_session
    from edgekit.profile import load_profile

    prepared, _ = preprocess(fp32, dst)
    with tempfile.TemporaryDirectory() as tmp:
        run_quantize_static(prepared, dst, CalibrationReader(make_session(fp32, 1, "disable"), calib_x, 1),
                            Attempt(RECIPES[recipe], "minmax"), load_profile("cpu-onnxruntime"),
                            nodes_to_exclude=[], workdir=Path(tmp))
    prepared.unlink()


def _quality(out: np.ndarray, ref: np.ndarray, y: np.ndarray | None) -> str:
    from edgekit.parity import accuracy, compare

    if y is not None:
        return f"{accuracy(out, y):.2f}"
    p = compare(ref, out)
    return f"{p.top1_agreement:.3f} / {p.cosine:.4f}"


def _latency(path: Path, x1: np.ndarray, n: int = 200) -> float:
    session = _session(path)
    feed = {"input": x1}
    for _ in range(20):
        session.run(None, feed)
    times = []
    for _ in range(n):
        start = time.perf_counter()
        session.run(None, feed)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run_model(name: str, model, calib_x, eval_x, eval_y, work: Path, rounds: int) -> list[str]:
    from edgekit.backends.int8 import RECIPES

    work.mkdir(parents=True, exist_ok=True)
    fp32 = work / f"{name}.onnx"
    _export(model, calib_x, fp32)
    ref = _session(fp32).run(None, {"input": eval_x})[0]
    files = {}
    for recipe in RECIPES:
        files[recipe] = work / f"{name}-{recipe}.onnx"
        _quantize(fp32, files[recipe], calib_x, recipe)
    ratios: dict[str, list[float]] = {r: [] for r in RECIPES}
    for r in range(rounds):  # interleaved: every artifact once per round, FP32 first and last
        base = _latency(fp32, eval_x[:1])
        for recipe in (list(RECIPES) if r % 2 == 0 else list(RECIPES)[::-1]):
            ratios[recipe].append(_latency(files[recipe], eval_x[:1]) / base)
    fp32_q = _quality(ref, ref, eval_y)
    rows = [f"| {name} | FP32 | {fp32_q} | {fp32_q} | 1.00 |"]
    for recipe, path in files.items():
        integer = _session(path).run(None, {"input": eval_x})[0]
        emulated = _session(path, emulate=True).run(None, {"input": eval_x})[0]
        rs = ratios[recipe]
        rows.append(f"| {name} | {recipe} | {_quality(integer, ref, eval_y)} | {_quality(emulated, ref, eval_y)} | "
                    f"{statistics.median(rs):.2f} [{min(rs):.2f}, {max(rs):.2f}] |")
    return rows


def main(argv: list[str] | None = None) -> int:
    import torch

    from edgekit.backends.int8 import plan_recipes
    from edgekit.demo import digits_splits, prepare_demo, train_digits_cnn
    from edgekit.hardware import detect
    from edgekit.zoo import digits_cnn, digits_gated_cnn

    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--rounds", type=int, default=3)
    rounds = args.parse_args(argv).rounds
    torch.set_num_threads(1)
    host = detect()
    work = ROOT / ".work" / "int8-recipes"
    assets = prepare_demo(seed=0)
    model = digits_cnn()
    model.load_state_dict(torch.load(assets.weights, weights_only=True))
    with np.load(assets.calib) as c, np.load(assets.eval) as e:
        rows = run_model("digits CNN (8x8)", model.eval(), c["x"], e["x"], e["y"], work, rounds)
    s16 = digits_splits(seed=0, size=16)
    (x, y), (xt, yt) = s16["train"], s16["test"]
    gated = train_digits_cnn(x, y, seed=0, epochs=25, factory=digits_gated_cnn)
    rows += run_model("gated digits CNN (16x16)", gated, x[:256], xt, yt, work, rounds)
    photos = write_calibration_npz(work / "photos.npz", n=48, seed=0)
    with np.load(photos) as p:
        px = p["x"]
    for name in ("resnet18", "mobilenet_v2"):
        rows += run_model(name, build_model(name, 0, px[:32]), px[:32], px[32:], None, work, rounds)
    picks = {t: plan_recipes("auto", t, host).ladder[0].name for t in ("host", "x86-64", "x86-vnni", "x86-avx2")}
    body = "\n".join([
        "## INT8 recipes per ISA (ONNX Runtime)", "",
        f"`python -m benchmarks int8-recipes --rounds {rounds}` on **{host.isa}** ({host.cpu_model}, "
        f"{host.logical_cpus} logical CPUs; flags {', '.join(host.flags)}), onnxruntime "
        f"{__import__('onnxruntime').__version__}. Quantized by edgekit's `run_quantize_static` (QDQ, per-channel, "
        "minmax, the same calibration data per model). digits: top-1 % on held-out real digits (540); "
        "ResNet-18 / MobileNetV2: seeded weights, top-1 agreement / cosine vs FP32 on 16 real photos. "
        f"Latency: batch 1, {THREADS} threads, INT8 / FP32 of the same model within a round, median "
        f"[lowest, highest] of {rounds} interleaved rounds (differences under ~15% are noise on this shared box).", "",
        f"| model | recipe | {host.isa} integer kernels | Q/DQ emulated in float | latency INT8 / FP32 |",
        "|---|---|---|---|---|", *rows, "",
        f"edgekit's choice: on this host with `isa = \"host\"` **{picks['host']}**; `cpu-onnxruntime` (any x86-64) "
        f"**{picks['x86-64']}**; `cpu-onnxruntime-vnni` **{picks['x86-vnni']}**; an AVX2 target "
        f"**{picks['x86-avx2']}**. "
        + ("This host has no VNNI: the integer-kernel column shows the int16 saturation of full-range U8S8 and of "
           "S8S8 (ONNX Runtime runs S8 activations through the same u8 x s8 path), which 7-bit weights "
           "(u8s8-rr) and U8U8 avoid; the emulated column is what a VNNI or ARM64 CPU computes. The VNNI choice "
           "(full-range U8S8) was not measured on a VNNI host in this run."
           if host.u8s8_saturates else
           "This host has VNNI: integer kernels and emulation agree for every recipe; the AVX2 choice "
           "(u8s8-rr) is exercised through the faked-ISA tests, its accuracy on an AVX2 host was not measured "
           "in this run."),
    ])
    write_block(ROOT / "RESULTS.md", "int8-recipes", body)
    print(body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
