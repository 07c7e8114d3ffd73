"""The QAT part of the report: PTQ vs QAT accuracy, measured on the artifacts, next to the original."""

from __future__ import annotations

from typing import Any

from edgekit.distill.report import _pct, history_table, judged_on, selection_lines

QAT_STEPS = ("qat", "compile-qat")


def qat_report(summary: dict[str, Any], variants: list[Any], plan: Any, stage_dir: str, reference: Any) -> dict[str, Any]:
    """The stage's summary plus the measured accuracy of the QAT artifact, its PTQ twin and its FP32 twin, and
    which split chose the kept epoch (``selected_on``) vs which judged the variants (``judged_on``)."""
    name = next(n for n, step in plan.variants.items() if step in QAT_STEPS)
    prefix = name[: -len("int8-qat")]
    by_name = {v.name: v for v in variants}

    def measured(variant: str) -> dict[str, Any] | None:
        v = by_name.get(variant)
        if v is None:
            return None
        return {"variant": variant, "accuracy": v.accuracy, "drop": v.accuracy_drop, "status": v.status,
                "int8_coverage": v.int8_coverage}

    qat, ptq = measured(name), measured(f"{prefix}int8")
    gain = None
    if qat and ptq and qat["accuracy"] is not None and ptq["accuracy"] is not None:
        gain = qat["accuracy"] - ptq["accuracy"]
    files = {"log_csv": f"{stage_dir}/log.csv", "log_json": f"{stage_dir}/log.json", "summary": f"{stage_dir}/qat.json",
             "checkpoint": f"{stage_dir}/checkpoints/last.pt", "onnx": f"{stage_dir}/model.onnx"}
    return {**summary, "suggestion": qat_suggestion(summary), "variant": name, "reference_accuracy": reference.accuracy,
            "judged_on": judged_on(summary, reference),
            "fp32": measured(f"{prefix}fp32"), "ptq": ptq, "qat": qat, "gain_over_ptq": gain,
            "accuracy_start": summary.get("before", {}).get("eval_accuracy"),
            "accuracy_after": summary.get("after", {}).get("eval_accuracy"), "files": files}


def qat_suggestion(summary: dict[str, Any]) -> dict[str, Any] | None:
    """The budget to try when the QAT fine-tune was still improving, as the option that sets it: the distillation
    loop phrases it as --epochs, but the QAT phase runs --qat-epochs (it has no --steps or --max-minutes budget:
    DistillConfig.qat_phase)."""
    tip = summary.get("suggestion")
    return tip and {**tip, "option": f"--qat-epochs {tip['epochs']}"}


def _row(label: str, where: str, m: dict[str, Any] | None) -> str:
    if m is None:
        return f"| {label} | {where} | n/a | n/a | n/a |"
    drop = "n/a" if m.get("drop") is None else f"{m['drop']:+.2f}"
    return f"| {label} | {where} | {_pct(m.get('accuracy'))} | {drop} | {m.get('status', '-')} |"


def render_qat_markdown(report: Any) -> list[str]:
    d = report.qat
    cfg = d["config"]
    lines = ["", "## Quantization-aware distillation (INT8)", "",
             f"The INT8 model was fake-quantized ({d['scheme']['weights']} weights, {d['scheme']['activations']} "
             f"activations; BatchNorm {d['scheme']['batchnorm']}), its ranges initialised on "
             f"{d['calibration']['samples']} calibration samples, then fine-tuned against the original FP32 model for "
             f"{d['steps']} steps ({d['epochs_run']} epochs, {cfg['optimizer']} lr {cfg['lr']:g}, T={cfg['temperature']:g}, "
             f"alpha={cfg['alpha']:g}; loss {d['loss']}) and exported as QDQ ONNX "
             f"(`{d['files']['onnx']}`), which the backend runs as is (no post-training quantization on top).", "",
             "| model | measured on | top-1 % | drop pts | status |", "|---|---|---|---|---|",
             f"| original (teacher) | torch eager | {_pct(d.get('reference_accuracy'))} | - | - |"]
    if d.get("fp32") and d["fp32"]["variant"] != "fp32":
        lines.append(_row("student FP32", f"artifact `{d['fp32']['variant']}`", d["fp32"]))
    lines += [_row("INT8 post-training (PTQ)", f"artifact `{d['ptq']['variant']}`" if d.get("ptq") else "-", d.get("ptq")),
              f"| INT8 QAT start (after calibration) | torch fake-quant | {_pct(d.get('accuracy_start'))} | - | - |",
              f"| INT8 QAT after fine-tuning | torch fake-quant | {_pct(d.get('accuracy_after'))} | - | - |",
              _row("**INT8 QAT**", f"artifact `{d['variant']}`", d.get("qat")), ""]
    if d.get("gain_over_ptq") is not None:
        lines.append(f"- QAT vs PTQ on the artifacts: {d['gain_over_ptq']:+.2f} points "
                     "(one evaluation sample is 100/N points: small differences are noise)")
    cov = (d.get("qat") or {}).get("int8_coverage")
    if cov:
        lines.append(f"- INT8 kernels in the runtime's optimised graph: {cov['int8_nodes']}/"
                     f"{cov['int8_nodes'] + cov['float_nodes']} ({', '.join(f'{k} {v}' for k, v in cov['by_op'].items())})")
    lines += selection_lines(d, " = the calibrated start: fine-tuning did not beat it")
    if d.get("resumed_from_step") is not None:
        lines.append(f"- resumed from the checkpoint at step {d['resumed_from_step']}")
    return lines + history_table(d.get("history", []))
