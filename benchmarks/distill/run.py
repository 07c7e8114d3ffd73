"""Accuracy recovery after pruning on the digits CNN: BN re-estimation, fine-tuning, KD, pure KD.

    python -m benchmarks distill [--seeds 0,1,2] [--epochs 20] [--ratio 0.65] [--out benchmarks/RESULTS.md]

Real data (scikit-learn digits), held-out 30% test split per seed (edgekit.demo.digits_splits).
Every trained arm starts from the same pruned + BN-re-estimated student, uses the same loop
(edgekit.distill.train.distill: AdamW, cosine, same epochs, batch and seed) and differs only in
the loss: fine-tuning = alpha 0 (cross-entropy on labels only), KD = alpha*KD + (1-alpha)*CE,
pure KD = KD with every label withheld. Training never sees the test split (no eval data during
training, no keep-best), so the test accuracy is unbiased. Writes only the section between
<!-- BEGIN distill --> and <!-- END distill --> of RESULTS.md.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import platform
import statistics
import sys
import time

from benchmarks.shared.common_cli import seeded_digits_parser, parse_seeded
from benchmarks.shared.results_md import write_block  # the marked-block writer every suite shares

BLOCK = "distill"  # RESULTS.md block, written by results_md.write_block

ARMS = [  # name, what it shows, DistillConfig overrides
    ("fine-tune (CE, labels)", {"alpha": 0.0}),
    ("KD T=4 a=0.7 (+labels)", {"alpha": 0.7, "temperature": 4.0}),
    ("KD T=2 a=0.9 (+labels)", {"alpha": 0.9, "temperature": 2.0}),
    ("KD T=4 a=0.7 + hint conv2 (+labels)", {"alpha": 0.7, "temperature": 4.0, "hints": ("conv2:conv2",)}),
    ("pure KD T=4 (NO labels)", {"use_labels": False, "temperature": 4.0}),
]


def _accuracy(model, x, y) -> float:
    import torch

    with torch.no_grad():
        return float((model.eval()(torch.from_numpy(x)).argmax(1).numpy() == y).mean() * 100)


def run_seed(seed: int, epochs: int, ratio: float, lr: float) -> dict[str, float]:
    import torch

    from edgekit.api import prune_config
    from edgekit.data import Dataset
    from edgekit.demo import digits_splits, train_digits_cnn
    from edgekit.distill.config import DistillConfig
    from edgekit.distill.train import distill
    from edgekit.pruning.run import prune_module, recalibrate_batchnorm

    split = digits_splits(seed)
    (x, y), (xt, yt) = split["train"], split["test"]
    teacher = train_digits_cnn(x, y, seed)
    cfg = dataclasses.replace(prune_config("cpu-onnxruntime", ratio=ratio), recalibrate_bn=False)
    pruned = prune_module(teacher, torch.zeros(1, 1, 8, 8), cfg)
    row = {"teacher": _accuracy(teacher, xt, yt), "pruned": _accuracy(pruned.model, xt, yt),
           "params": pruned.summary["ratios"]["params"], "macs": pruned.summary["ratios"]["macs"]}
    student = copy.deepcopy(pruned.model)
    recalibrate_batchnorm(student, x[:256])  # label-free, the calibration-sized slice edgekit uses
    row["BN re-estimated"] = _accuracy(student, xt, yt)
    for name, overrides in ARMS:
        train = Dataset(x) if overrides.get("use_labels") is False else Dataset(x, y)
        config = DistillConfig(epochs=epochs, lr=lr, keep_best=False, patience=0, **overrides)  # fixed epochs
        result = distill(teacher, copy.deepcopy(student), train, None, config, seed=seed)
        row[name] = _accuracy(result.student, xt, yt)
    return row


def table(rows: list[dict[str, float]], args: argparse.Namespace, wall: float) -> str:
    import torch

    teacher = statistics.mean(r["teacher"] for r in rows)
    lines = ["## Distillation: accuracy recovery after pruning (digits CNN)", "",
             f"Produced by `python -m benchmarks distill --seeds {args.seeds} --epochs {args.epochs} "
             f"--ratio {args.ratio} --lr {args.lr}` in {wall:.0f} s (torch {torch.__version__}, Python "
             f"{platform.python_version()}, 1 thread). Structured pruning of {args.ratio:.0%} of the channels of "
             f"conv2/fc1 (stem and head kept): parameters {statistics.mean(r['params'] for r in rows):.1%}, MACs "
             f"{statistics.mean(r['macs'] for r in rows):.1%} of the teacher. Top-1 on the held-out 30% (540 digits) "
             f"per seed; each seed has its own split, teacher and pruning. Trained arms: {args.epochs} epochs, "
             f"AdamW lr {args.lr:g}, cosine, batch 64, same seed; none sees the test split.", "",
             "| model | " + " | ".join(f"seed {s}" for s in args.seed_list) + " | mean | vs teacher |",
             "|---|" + "---|" * (len(rows) + 2)]
    for key in ["teacher", "pruned", "BN re-estimated"] + [name for name, _ in ARMS]:
        values = [r[key] for r in rows]
        mean = statistics.mean(values)
        label = {"pruned": "student right after pruning", "BN re-estimated": "+ BatchNorm re-estimation (no labels)"}
        lines.append(f"| {label.get(key, key)} | " + " | ".join(f"{v:.2f}" for v in values)
                     + f" | **{mean:.2f}** | {mean - teacher:+.2f} |")
    kd, ft, pure = (statistics.mean(r[k] for r in rows) for k in
                    ("KD T=4 a=0.7 (+labels)", "fine-tune (CE, labels)", "pure KD T=4 (NO labels)"))
    lines += ["", f"- requirement KD with labels within 1 point of the teacher: {kd - teacher:+.2f} -> "
              f"{'met' if teacher - kd <= 1 else 'NOT met'}",
              f"- requirement pure KD (all labels withheld) within 2 points: {pure - teacher:+.2f} -> "
              f"{'met' if teacher - pure <= 2 else 'NOT met'} (plain fine-tuning cannot run without labels)",
              f"- KD vs plain fine-tuning: {kd - ft:+.2f} points (mean of {len(rows)} seeds; one test digit is "
              "0.19 points, so differences under ~0.5 are within seed noise). On this easy, clean-label task "
              "fine-tuning from the pruned weights recovers about as much as KD; KD's distinct value is that it "
              "needs no labels.",
              "- BatchNorm re-estimation adds little here (the L1-ranked pruning keeps most of the accuracy before it); "
              "the FIELD-NOTES measurement of 10% -> 56% was a different pruning of the same task.",
              "- Scale-out and resume (asserted by tests, not timed here): `torchrun --nproc_per_node 2` (gloo) "
              "runs the same `compress --prune 0.6 --distill` command; its final accuracy must match the single-process "
              "run within 1 point (`tests/cli/test_cli_distill.py`, measured 98.70% vs 98.70% at 2 epochs) and both "
              "ranks end with bitwise-identical weights; a run killed at step 13 and resumed from its step-10 "
              "checkpoint ends with bitwise-identical weights and the same per-epoch log "
              "(`tests/unit/test_distill_train.py`)."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = parse_seeded(seeded_digits_parser(__doc__, epochs=20), argv)
    started = time.perf_counter()
    rows = []
    for seed in args.seed_list:
        rows.append(run_seed(seed, args.epochs, args.ratio, args.lr))
        print(f"seed {seed}: " + ", ".join(f"{k} {v:.2f}" for k, v in rows[-1].items()), file=sys.stderr)
    section = table(rows, args, time.perf_counter() - started)
    write_block(args.out, BLOCK, section)
    print(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
