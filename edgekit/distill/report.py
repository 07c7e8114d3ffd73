"""The distillation part of the report: settings, per-epoch log, and the recovery it bought."""

from __future__ import annotations

from typing import Any


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}%"


def distillation_report(summary: dict[str, Any], variants: list[Any], stage_dir: str,
                        reference_accuracy: float | None) -> dict[str, Any]:
    """The stage's summary, its files relative to the bundle, and the accuracy of each artifact built from it."""
    files = {k: f"{stage_dir}/{v}" for k, v in summary.get("files", {}).items()}
    before, after = summary.get("before", {}), summary.get("after", {})
    measured = {v.name: v.accuracy for v in variants
                if v.name.startswith(("pruned-", "student-")) and v.accuracy is not None}
    return {**{k: v for k, v in summary.items() if k != "files"}, "files": files,
            "accuracy_before": before.get("eval_accuracy"), "accuracy_after": after.get("eval_accuracy"),
            "agreement_before": before.get("eval_agreement"), "agreement_after": after.get("eval_agreement"),
            "reference_accuracy": reference_accuracy, "variant_accuracy": measured}


def render_distillation_markdown(report: Any) -> list[str]:
    d = report.distillation
    cfg = d["config"]
    lines = ["", "## Distillation", "",
             f"Student trained against the original model: {d['steps']} steps ({d['epochs_run']} epochs of "
             f"{d['steps_per_epoch']} steps, global batch {d['batch_size']}) on {d['train_samples']} samples, "
             f"{cfg['optimizer']} lr {cfg['lr']:g}, cosine with {cfg['warmup']:.0%} warm-up, "
             f"T={cfg['temperature']:g}, alpha={cfg['alpha']:g}; loss {d['loss']}.",
             f"- processes: {d['world_size']} ({d['backend'] or 'single process'}), device {d['device']}, "
             f"AMP {'bf16' if d['amp'] else 'off'}, seed {d['seed']}"]
    if cfg["hints"]:
        lines.append(f"- hint (feature) losses, weight {cfg['hint_weight']:g}: {', '.join(cfg['hints'])}")
    if d.get("accuracy_before") is not None:
        lines.append(f"- eval accuracy of the student (torch): before {_pct(d['accuracy_before'])} "
                     f"(after pruning + BatchNorm re-estimation), after {_pct(d['accuracy_after'])}; "
                     f"teacher {_pct(d.get('teacher_accuracy'))}")
    elif d.get("agreement_before") is not None:
        lines.append(f"- top-1 agreement with the teacher (no eval labels): before {_pct(d['agreement_before'])}, "
                     f"after {_pct(d['agreement_after'])}")
    for name, acc in d.get("variant_accuracy", {}).items():
        lines.append(f"- measured on the artifact: **{name}** {_pct(acc)}")
    if d.get("best_epoch") is not None:
        start = " = the starting weights: training did not beat them" if d["best_epoch"] == 0 else ""
        lines.append(f"- kept the weights of epoch {d['best_epoch']}{start} (best {d['metric']} "
                     f"{_pct(d['best_metric'])})" + ("; stopped early" if d.get("stopped_early") else ""))
        lines.append("- note: keep-best selects on the evaluation data, the same data the variants are verified on, "
                     "so their accuracy is slightly optimistic (--no-keep-best keeps the last weights)")
    if d.get("resumed_from_step") is not None:
        lines.append(f"- resumed from the checkpoint at step {d['resumed_from_step']}")
    if "plot" in d["files"]:
        lines.append(f"- ![loss and accuracy]({d['files']['plot']})")
    elif d.get("plot_error"):
        lines.append(f"- no plot: {d['plot_error']}")
    return lines + history_table(d.get("history", []))


def history_table(history: list[dict[str, Any]]) -> list[str]:
    """The per-epoch log of the distillation loop as a Markdown table (FP32 distillation and QAT)."""
    lines = ["", "| epoch | step | lr | loss | KD | CE | hint | eval acc % | agree % |", "|---|---|---|---|---|---|---|---|---|"]
    for row in history:
        cells = [str(row.get("epoch")), str(row.get("step"))]
        cells += ["-" if row.get(k) is None else f"{row[k]:.4g}" for k in ("lr", "loss", "kd", "ce", "hint")]
        cells += ["-" if row.get(k) is None else f"{row[k]:.2f}" for k in ("eval_accuracy", "eval_agreement")]
        lines.append("| " + " | ".join(cells) + " |")
    return lines
