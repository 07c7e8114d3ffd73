"""The distillation part of the report: settings, per-epoch log, and the recovery it bought."""

from __future__ import annotations

from typing import Any


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}%"


def judged_on(summary: dict[str, Any], reference: Any) -> dict[str, Any]:
    """The split that judged the variants (the reference's inputs): never the one the kept epoch was chosen on."""
    name = "evaluation data" if summary.get("evaluation") else "calibration data (no evaluation data: parity only)"
    return {"name": name, "source": reference.inputs.source, "samples": len(reference.inputs),
            "labels": reference.inputs.y is not None}


def distillation_report(summary: dict[str, Any], variants: list[Any], stage_dir: str, reference: Any) -> dict[str, Any]:
    """The stage's summary, its files relative to the bundle, the accuracy of each artifact built from it, and
    which split chose the kept epoch (``selected_on``) vs which judged the variants (``judged_on``)."""
    files = {k: f"{stage_dir}/{v}" for k, v in summary.get("files", {}).items()}
    before, after = summary.get("before", {}), summary.get("after", {})
    measured = {v.name: v.accuracy for v in variants
                if v.name.startswith(STUDENT_VARIANTS) and v.accuracy is not None}
    return {**{k: v for k, v in summary.items() if k != "files"}, "files": files,
            "accuracy_before": before.get("eval_accuracy"), "accuracy_after": after.get("eval_accuracy"),
            "agreement_before": before.get("eval_agreement"), "agreement_after": after.get("eval_agreement"),
            "reference_accuracy": reference.accuracy, "variant_accuracy": measured,
            "judged_on": judged_on(summary, reference)}


STUDENT_VARIANTS = ("pruned-", "student-")  # the variants built from the distilled student


def stopping_lines(d: dict[str, Any]) -> list[str]:
    """Why training ended (patience, or the epochs / steps / time budget) and, when the budget ended it while the
    validation score was still rising, the budget to try and how it was derived."""
    reason = d.get("stop_reason")
    if reason is None:  # a report written before the stop was recorded
        return []
    cfg, run, most = d["config"], d["epochs_run"], d["max_epochs"]
    if reason == "patience" and d.get("plateau_epoch") is not None:
        line = (f"- the validation loss plateaued at epoch {d['plateau_epoch']} (no fall of more than "
                f"{d['min_delta']:.0%} for {d['patience']} epochs); the learning rate then annealed to 0 over "
                f"{d['anneal_epochs']} epochs and training stopped at epoch {run} of at most {most}")
    elif reason == "patience":
        line = (f"- stopped early at epoch {run} of at most {most}: the validation loss had not fallen by more than "
                f"{d['min_delta']:.0%} for {d['patience']} epochs")
    else:
        budgets = {"epochs": ("epochs", "epoch"), "steps": ("steps", "step"), "time": ("max_minutes", "time")}
        field, noun = budgets[reason]
        budget = f"the {noun} budget (--{field.replace('_', '-')} {cfg[field]:g})"
        line = f"- {budget} ended training after {run} of at most {most} epochs"
        if d["early_stopping"] != "on":
            line += f"; no early stopping ({d['early_stopping']})"
    lines = [line]
    if d.get("still_improving"):
        tip = d["suggestion"]
        lines.append(f"- **still improving when the budget ended**: the validation loss last fell by more than "
                     f"{d['min_delta']:.0%} at epoch {d['last_gain_epoch']} of {run}. Try "
                     f"`{tip['option']}`" + (" with `--resume`" if reason == "time" else "") + f": {tip['basis']}.")
    elif d.get("still_improving") is False and reason != "patience":
        lines.append(f"- not improving when the budget ended: the validation loss last fell by more than "
                     f"{d['min_delta']:.0%} at epoch {d['last_gain_epoch']}")
    return lines


def still_improving_warning(d: dict[str, Any], variants: list[Any], max_drop: float) -> str | None:
    """When the budget ended distillation while the student was still improving, the variants built from it that
    the accuracy budget rejected say so (their reason), and the report warns with the budget to try."""
    if not d.get("still_improving"):
        return None
    over = [v for v in variants if v.name.startswith(STUDENT_VARIANTS) and v.status == "rejected"
            and v.accuracy_drop is not None and v.accuracy_drop > max_drop]
    if not over:
        return None
    option = d["suggestion"]["option"] + (" --resume" if d["stop_reason"] == "time" else "")
    for v in over:
        v.reason += f"; distillation was still improving when its budget ended (try {option})"
    return (f"{', '.join(v.name for v in over)} exceeded the {max_drop:g}-point accuracy budget, and distillation "
            f"was still improving on its validation split when its budget ended ({d['epochs_run']} of at most "
            f"{d['max_epochs']} epochs, last gain at epoch {d['last_gain_epoch']}): a longer run would likely "
            f"recover more. Try {option} (report.md, Distillation, says how it was estimated).")


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
    lines += stopping_lines(d)
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
    lines += selection_lines(d, " = the starting weights: training did not beat them")
    if d.get("resumed_from_step") is not None:
        lines.append(f"- resumed from the checkpoint at step {d['resumed_from_step']}")
    if report.plots.get("distillation_training"):
        lines.append("- training curve (loss, validation and evaluation accuracy per epoch): in Plots above")
    elif "plot" in d["files"]:
        lines.append(f"- ![loss and accuracy]({d['files']['plot']})")
    elif d.get("plot_error"):
        lines.append(f"- no plot: {d['plot_error']}")
    return lines + history_table(d.get("history", []))


def selection_lines(d: dict[str, Any], start: str) -> list[str]:
    """The epoch kept, the split that chose it and the split that judged the variants (distillation and QAT)."""
    chose, judged = d.get("selected_on") or {}, d.get("judged_on") or {}
    if d.get("best_epoch") is not None:
        kept = (f"- kept the weights of epoch {d['best_epoch']}{start if d['best_epoch'] == 0 else ''} "
                f"(best {d['metric'].replace('_', ' ')} {_pct(d['best_metric'])})")
    else:
        why = chose.get("reason") if d["config"]["keep_best"] else "--no-keep-best"
        kept = f"- kept the last epoch's weights ({why})"
    selected = f"nothing ({chose.get('reason')})"
    if chose.get("name"):
        selected = (f"{chose['name']} (`{chose['source']}`, {chose['samples']} samples, "
                    f"{chose['metric'].replace('_', ' ')})")
    return [kept + ("; stopped early" if d.get("stopped_early") else ""),
            f"- selected on: {selected}; judged on: {judged.get('name')} (`{judged.get('source')}`, "
            f"{judged.get('samples')} samples), which never chose the epoch"]


def history_table(history: list[dict[str, Any]]) -> list[str]:
    """The per-epoch log of the distillation loop as a Markdown table (FP32 distillation and QAT): the validation
    columns chose the kept epoch, the eval columns are only logged."""
    lines = ["", "| epoch | step | lr | loss | KD | CE | hint | val loss | val acc % | val agree % | eval acc % | "
             "eval agree % |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in history:
        cells = [str(row.get("epoch")), str(row.get("step"))]
        cells += ["-" if row.get(k) is None else f"{row[k]:.4g}"
                  for k in ("lr", "loss", "kd", "ce", "hint", "val_loss")]
        cells += ["-" if row.get(k) is None else f"{row[k]:.2f}"
                  for k in ("val_accuracy", "val_agreement", "eval_accuracy", "eval_agreement")]
        lines.append("| " + " | ".join(cells) + " |")
    return lines
