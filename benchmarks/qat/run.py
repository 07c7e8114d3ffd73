"""PTQ vs quantization-aware distillation (QAT) on the digits CNN, pruned 65%, measured in ONNX Runtime.

    python -m benchmarks qat [--seeds 0,1,2] [--epochs 10] [--qat-epochs 3] [--out benchmarks/RESULTS.md]

Per seed (its own split, teacher and pruning, as in the distill suite): the pruned student is distilled
in FP32 (KD T=4 a=0.7, no eval data, no keep-best), exported, and quantized two ways from the same
256 calibration samples: PTQ (the ORT backend's quantize_static, QDQ) and QAT (edgekit.stages.qat:
fake-quant, ranges from the same calibration, ``--qat-epochs`` of KD at lr/10, QDQ export). A
second pair uses deliberately bad calibration (64 images dimmed x0.1, as if preprocessed wrongly)
to show what QAT's range re-learning buys when PTQ breaks. All accuracies are top-1 of the INT8
artifacts run by ONNX Runtime on the held-out 30%; INT8 kernel counts from ORT's optimised graph.
Writes only the section between <!-- BEGIN qat --> and <!-- END qat --> of RESULTS.md.
"""

from __future__ import annotations

import argparse
import copy
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.shared.common_cli import seeded_digits_parser, parse_seeded
from benchmarks.shared.results_md import write_block  # noqa: E402  (the marked-block writer every suite shares)

KEYS = ["teacher (FP32, torch)", "student FP32 (pruned 65% + KD, ORT)", "PTQ INT8", "QAT INT8",
        "PTQ INT8, bad calibration", "QAT INT8, bad calibration"]


def _context(teacher, train, test, calib):
    from edgekit.backends.onnxruntime import OnnxRuntimeBackend
    from edgekit.profile import load_profile
    from edgekit.stages.base import RunContext

    return RunContext(load_profile("cpu-onnxruntime"), OnnxRuntimeBackend(), calib, test, train=train, teacher=teacher)


def _ort(ctx, path: Path) -> tuple[float, str]:
    from edgekit.parity import accuracy

    acc = accuracy(ctx.backend.open(path, ctx.profile).run(ctx.evald.x), ctx.evald.y)
    cov = ctx.backend.kernel_coverage(path, ctx.profile, path.parent)
    return acc, f"{cov.int8_nodes}/{cov.int8_nodes + cov.float_nodes}"


def _pair(ctx, onnx_path: Path, student, args, work: Path, tag: str) -> dict[str, tuple[float, str]]:
    from edgekit.artifact import Artifact, Format
    from edgekit.distill.config import DistillConfig
    from edgekit.stages.qat import QatStage

    ptq = work / f"ptq-{tag}.onnx"
    ctx.backend.quantize(onnx_path, ptq, ctx.calib, ctx.profile)
    cfg = DistillConfig(lr=args.lr, keep_best=False, patience=0, qat=True, qat_epochs=args.qat_epochs)
    stage_dir = work / f"qat-{tag}"
    stage_dir.mkdir()
    ctx.evald, evald = None, ctx.evald  # training never sees the test split
    artifact = QatStage(cfg, (1, 1, 8, 8)).run(Artifact(Format.TORCH, None, {"module": student}), ctx, stage_dir)
    ctx.evald = evald
    return {"ptq": _ort(ctx, ptq), "qat": _ort(ctx, artifact.path)}


def run_seed(seed: int, args: argparse.Namespace) -> dict[str, tuple[float, str]]:
    import torch

    from edgekit.api import prune_config
    from edgekit.data import Dataset
    from edgekit.demo import digits_splits, train_digits_cnn
    from edgekit.distill.config import DistillConfig
    from edgekit.distill.train import distill
    from edgekit.pruning.run import prune_module
    from edgekit.stages.export import ExportConfig, ExportStage
    from edgekit.artifact import Artifact, Format

    split = digits_splits(seed)
    (x, y), (xt, yt) = split["train"], split["test"]
    teacher = train_digits_cnn(x, y, seed)
    pruned = prune_module(teacher, torch.zeros(1, 1, 8, 8), prune_config("cpu-onnxruntime", ratio=args.ratio),
                          calib_x=x[:256]).model
    student = distill(teacher, copy.deepcopy(pruned), Dataset(x, y), None,
                      DistillConfig(epochs=args.epochs, lr=args.lr, keep_best=False, patience=0), seed=seed).student
    row = {}
    with torch.no_grad():
        row[KEYS[0]] = (float((teacher(torch.from_numpy(xt)).argmax(1).numpy() == yt).mean() * 100), "-")
    with tempfile.TemporaryDirectory(prefix="edgekit-qat-bench-") as tmp:
        work = Path(tmp)
        fp32 = ExportStage(ExportConfig((1, 1, 8, 8))).export(Artifact(Format.TORCH, None, {"module": student}), work)
        ctx = _context(teacher, Dataset(x, y), Dataset(xt, yt), Dataset(x[:256]))
        row[KEYS[1]] = (_ort(ctx, fp32.path)[0], "-")
        good = _pair(ctx, fp32.path, student, args, work, "good")
        ctx.calib = Dataset(x[:64] * 0.1)
        bad = _pair(ctx, fp32.path, student, args, work, "bad")
    row.update(dict(zip(KEYS[2:], [good["ptq"], good["qat"], bad["ptq"], bad["qat"]])))
    return row


def table(rows: list[dict], args: argparse.Namespace, wall: float) -> str:
    import torch

    teacher = statistics.mean(r[KEYS[0]][0] for r in rows)
    lines = ["## Quantization-aware distillation vs PTQ (digits CNN, pruned 65%, ONNX Runtime INT8)", "",
             f"Produced by `python -m benchmarks qat --seeds {args.seeds} --epochs {args.epochs} --qat-epochs "
             f"{args.qat_epochs} --ratio {args.ratio} --lr {args.lr}` in {wall:.0f} s (torch {torch.__version__}, "
             f"Python {platform.python_version()}, 1 thread). Per seed: its own split, teacher and 65% structured "
             f"pruning; the student is distilled in FP32 ({args.epochs} epochs KD), then quantized by PTQ "
             "(`quantize_static`, QDQ, 256 calibration samples) and by QAT (same calibration, "
             f"{args.qat_epochs} epochs of KD with fake quantization at lr {args.lr / 10:g}, QDQ export). Top-1 of "
             "the artifacts in ONNX Runtime on the held-out 30% (540 digits; one digit = 0.19 points); "
             "training never sees it (no keep-best). INT8 kernels: integer/total compute nodes in ORT's optimised graph.",
             "", "| model | " + " | ".join(f"seed {s}" for s in args.seed_list) + " | mean | vs teacher | INT8 kernels |",
             "|---|" + "---|" * (len(rows) + 3)]
    for key in KEYS:
        values = [r[key][0] for r in rows]
        mean = statistics.mean(values)
        lines.append(f"| {key} | " + " | ".join(f"{v:.2f}" for v in values)
                     + f" | **{mean:.2f}** | {mean - teacher:+.2f} | {rows[0][key][1]} |")
    gain, bad_gain = (statistics.mean(r[q][0] - r[p][0] for r in rows) for p, q in
                      ((KEYS[2], KEYS[3]), (KEYS[4], KEYS[5])))
    lines += ["", f"- QAT vs PTQ with good calibration: {gain:+.2f} points (mean of {len(rows)} seeds). On this easy "
              "task 8-bit PTQ already keeps the FP32 student's accuracy, so QAT has nothing to recover: use `--qat` "
              "when the PTQ variant breaks the budget, not by default (it costs a training run).",
              f"- With bad calibration (64 images dimmed x0.1) PTQ clips every real input; QAT starts from the same "
              f"ranges, re-learns them on the training data (moving average) while the weights adapt: {bad_gain:+.2f} "
              "points over PTQ.",
              "- Both INT8 artifacts run every Conv/Gemm as an integer kernel (QLinearConv/QGemm); the QAT file "
              "also loads in OpenVINO (`ov.convert_model`) with all 4 compute layers at u8 (checked by hand, "
              "digits CNN)."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = seeded_digits_parser(__doc__, epochs=10)
    ap.add_argument("--qat-epochs", type=int, default=3)
    args = parse_seeded(ap, argv)
    started = time.perf_counter()
    rows = []
    for seed in args.seed_list:
        rows.append(run_seed(seed, args))
        print(f"seed {seed}: " + ", ".join(f"{k} {v[0]:.2f}" for k, v in rows[-1].items()), file=sys.stderr)
    section = table(rows, args, time.perf_counter() - started)
    write_block(args.out, "qat", section)
    print(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
