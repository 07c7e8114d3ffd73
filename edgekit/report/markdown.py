"""report.md: a table with one row per variant, then the details a reviewer asks for."""

from __future__ import annotations

from edgekit.report.energy import energy_cell, energy_lines
from edgekit.report.plots import TITLES
from edgekit.report.registry import resolve
from edgekit.report.schema import Report, VariantResult
from edgekit.report.speed import UNSTABLE_MARK


# Sections a feature adds to report.md when the report holds its data: attribute -> "module:function(report) -> lines".
# The one registration table (no import-time registry): report/ names the renderers here and imports none of them,
# so it never depends on the features above it (tests/unit/test_import_graph.py).
SECTIONS: tuple[tuple[str, str], ...] = (
    ("efficiency", "edgekit.report.efficiency:render_efficiency_markdown"),
    ("pruning", "edgekit.pruning.report:render_pruning_markdown"),
    ("distillation", "edgekit.distill.report:render_distillation_markdown"),
    ("sweep", "edgekit.sweep.report:render_sweep_markdown"),
    ("qat", "edgekit.qat.report:render_qat_markdown"),
    ("timings", "edgekit.pipeline.timings:render_timings_markdown"),
)


def _fmt(value: float | None, spec: str, missing: str = "n/a") -> str:
    return missing if value is None else format(value, spec)


COMPACT_COLUMNS = ("variant", "precision", "size", "p50 ms", "p99 ms", "items/s", "accuracy %", "drop pts",
                   "top-1 agree", "INT8 nodes", "status")


def variant_row(v: VariantResult, batch: str = "batch_1") -> dict[str, str]:
    """One variant as display strings; shared by the Markdown and the terminal table."""
    lat = v.latency_ms.get(batch, {})
    cov = v.int8_coverage
    return {
        "variant": v.name,
        "precision": v.precision,
        "size": f"{v.size_bytes / 2**20:.2f} MiB",
        "p50 ms": _fmt(lat.get("p50"), ".3f"),
        "p99 ms": _fmt(lat.get("p99"), ".3f") + (f" {UNSTABLE_MARK}" if lat.get("unstable") else ""),
        "items/s": _fmt(v.throughput_per_s, ".0f"),
        "energy / inference": energy_cell(v.energy),
        "accuracy %": _fmt(v.accuracy, ".2f"),
        "drop pts": _fmt(v.accuracy_drop, "+.2f"),
        # segmentation: the share of pixels with the original's class (the header says "pixel agree")
        "top-1 agree": _fmt(v.parity.get("pixel_agreement", v.parity.get("top1_agreement")), ".3f"),
        "cosine": _fmt(v.parity.get("cosine"), ".5f"),
        "max-abs": _fmt(v.parity.get("max_abs"), ".3g"),
        # with the MAC share the coverage gate weighed, when it had the MACs (KernelCoverage.basis)
        "INT8 nodes": "-" if cov is None else f"{cov['int8_nodes']}/{cov['int8_nodes'] + cov['float_nodes']}" + (
            f" ({cov['ratio']:.0%} of MACs)" if cov.get("basis") == "macs" else ""),
        "gate": v.gate or "-",
        "status": v.status,
    }


def column_headers(variants: list[VariantResult]) -> dict[str, str]:
    """variant_row's keys renamed for display where the task says what they hold: segmentation's metric is mIoU
    and its agreement per pixel; every other key is its own header."""
    if any(v.metric == "mIoU" for v in variants):
        return {"accuracy %": "mIoU %", "drop pts": "mIoU drop", "top-1 agree": "pixel agree"}
    return {}


def metric_of(reference: dict) -> str:
    """The name of the reference's accuracy figure (report.json reference.metric; older reports: top-1)."""
    return reference.get("metric") or "top-1 accuracy"


def output_lines(v: VariantResult) -> list[str]:
    """Each selected output's parity, when the model has several (report.json parity_by_output)."""
    lines = []
    for name, p in v.parity_by_output.items():
        agree = (f", pixel agreement {p['pixel_agreement']:.3f}" if "pixel_agreement" in p else
                 f", top-1 agreement {p['top1_agreement']:.3f}" if p.get("gate") == "cosine + top-1 agreement" else "")
        lines.append(f"output `{name}` (gate {p.get('gate', '-')}): cosine {p['cosine']:.5f}, max-abs "
                     f"{p['max_abs']:.3g}{agree}")
    return lines


def latency_line(stats: dict, tput: float | None) -> str:
    """One batch size's timing: the p50 with its spread, the mean, items/s at the p50, and why it is unstable."""
    spread = ", ".join(f"{k} {stats[k]:.3f}" for k in ("min", "p90", "p99") if k in stats)
    mean = f", mean {stats['mean']:.3f} +- {stats['std']:.3f} ms" if "std" in stats else ""
    line = f"p50 {stats['p50']:.3f} ms ({spread}){mean}, {_fmt(tput, '.0f')} items/s (at the p50)"
    return line + (f"; **unstable {UNSTABLE_MARK}**: {stats['unstable']}" if stats.get("unstable") else "")


def runtime_line(runtime: dict) -> str:
    """What the runtime really did, e.g. OpenVINO's float precision (bf16 vs f32) and cache."""
    parts = []
    if "precision" in runtime:
        parts.append(f"float layers ran in {runtime['precision']}")
    if "hint" in runtime:
        parts.append(f"hint {runtime['hint']}, {runtime.get('streams', '?')} stream(s)")
    if runtime.get("plugin_latency_ms"):
        batch, stats = next(iter(runtime["plugin_latency_ms"].items()))
        parts.append(f"plugin's own latency p50 {stats['p50']:.3f} ms at {batch} (InferRequest.latency; the table's "
                     "p50 is the wall clock of the Python call)")
    if "load_cold_s" in runtime:
        parts.append(f"compile cold {runtime['load_cold_s']:.3f} s / warm (cached) {runtime['load_warm_s']:.3f} s")
    if "async_items_per_s" in runtime:
        parts.append(f"async throughput {runtime['async_items_per_s']:.0f} items/s with {runtime['async_requests']} requests")
    return "; ".join(parts)


def measured_on_target(report: Report) -> bool:
    """Does the host that measured belong to the profile's target ISA ("host"/"cuda": the question does not arise)?"""
    from edgekit.hardware import isa_matches

    return not report.host or isa_matches(report.target_isa, report.host["isa"])


def host_line(report: Report) -> str:
    """Which hardware measured, and whether it is the profile's target."""
    host, target = report.host, report.target_isa
    text = f"Measured on {host['isa']} ({host['cpu_model']}, {host['logical_cpus']} logical CPUs)"
    if target in ("", "host"):
        return text + ", the profile's target."
    if target == "cuda":
        return text + "; the profile targets an NVIDIA GPU (engines are measured there)."
    if measured_on_target(report):
        return text + f"; the profile targets {target}."
    return text + f"; the profile targets **{target}**: these timings are not the target's."


def module_names(names: list[str], modules: dict[str, str] | None) -> str:
    """ONNX node names as 'conv1 (node_Conv_19)': the module (report.model["modules"]) first, the node beside it."""
    return ", ".join(f"{modules[n]} ({n})" if modules and n in modules else n for n in names)


def int8_lines(q: dict | None, modules: dict[str, str] | None = None) -> list[str]:
    """The INT8 recipe that ran, why, how it was checked and the accuracy-aware attempts; ``modules`` maps ONNX
    nodes to torch module names."""
    if not q or "recipe" not in q:
        return []
    recipe, check = q["recipe"], q.get("check", {})
    why = (q.get("recipe_plan") or {}).get("why", "")
    lines = [f"INT8 recipe {recipe['name']}: activations {recipe['activations']}, weights {recipe['weights']}"
             + (f" ({why})" if why else "")]
    if check:
        lines.append(f"INT8 check: {check['why']}"
                     + (f". Warning: {check['warning']}" if check.get("warning") else ""))
    search = q.get("search") or {}
    attempts = search.get("attempts", [])
    if len(attempts) > 1:
        tried = "; ".join(f"{i + 1}. {a['recipe']}/{a['calibration_method']}"
                          + (f" +{len(a['float_layers'])} float" if a["float_layers"] else "")
                          + (f": failed ({a['error']})" if a.get("error") else
                             f": {a['metric']} {a['value']:.4g}{'' if a['within_budget'] else ' (over)'}")
                          for i, a in enumerate(attempts))
        lines.append(f"accuracy-aware search ({search['criterion']}): {tried}; kept attempt {search['chosen'] + 1}")
    if search.get("float_layers"):
        lines.append(f"layers kept in float: {module_names(search['float_layers'], modules)}")
    return lines


def dataset_text(d: dict) -> str:
    """A dataset's description (edgekit.data.Dataset.describe()) as one line."""
    shape = d.get("shape")
    shape = (", ".join(f"{k} {v}" for k, v in shape.items()) if isinstance(shape, dict) else
             "x".join(map(str, shape)) if isinstance(shape, list) else shape)
    parts = [f"`{d.get('source')}`" + (" (random)" if d.get("random") else ""), f"{d.get('samples')} samples",
             f"shape {shape} per sample", f"labels {'yes' if d.get('labels') else 'no'}"]
    if d.get("sha256"):
        parts.append(f"sha256 {d['sha256'][:12]}")
    return ", ".join(parts) + "".join(f"; {note}" for note in d.get("notes", ()))


def data_lines(data: dict) -> list[str]:
    """report.data as readable lines: each dataset with source, samples, shape, labels and a sha256 prefix."""
    lines = []
    for key, value in data.items():
        if isinstance(value, dict) and "samples" in value:
            value = dataset_text(value)
        elif isinstance(value, dict):
            value = ", ".join(f"{k} {v}" for k, v in value.items()) or "-"
        lines.append(f"- {key.replace('_', ' ')}: {'none' if value is None else value}")
    return lines


def plot_lines(report: Report) -> list[str]:
    """The figures (report/plots.py): each an image with its caption below, then those that could not be drawn."""
    if not report.plots and not report.plots_not_drawn:
        return []
    lines = ["", "## Plots", ""]
    for name, path in report.plots.items():
        caption = report.plot_captions.get(name)
        lines += [f"![{TITLES.get(name, name)}]({path})", *([f"*{caption}*"] if caption else []), ""]
    lines += [f"- {TITLES.get(name, name)}: not drawn ({why})" for name, why in report.plots_not_drawn.items()]
    return lines


def render_markdown(report: Report) -> str:
    rows = [variant_row(v) for v in report.variants]
    rename = column_headers(report.variants)
    headers = [rename.get(h, h) for h in rows[0]] if rows else []
    lines = [f"# edgekit report: {report.model.get('source', 'model')}", "",
             f"Profile **{report.profile}** (backend {report.backend}). "
             f"Recommended: **{report.recommended or 'none'}** — {report.recommended_reason}.", ""]
    if report.host:
        lines += [host_line(report), ""]
    ref = report.reference
    if ref.get("accuracy") is not None:
        pixels = (f" (pixel accuracy {ref['pixel_accuracy']:.2f}%; logits upsampled bilinearly to the label maps, "
                  "label 255 ignored)" if ref.get("pixel_accuracy") is not None else "")
        lines.append(f"Original model (FP32, {ref['runtime']}): {metric_of(ref)} {ref['accuracy']:.2f}%{pixels} "
                     f"on {ref['samples']} labelled samples.")
    else:
        lines.append(f"Original model ({ref['runtime']}): no labels given, parity measured on {ref['samples']} inputs.")
    lines += ["", "Latency at batch 1 on the shipped artifact (runner in deploy/, fresh process); items/s = batch / p50; "
              f"{UNSTABLE_MARK} after the p99: unstable timing (see Warnings).", "",
              "| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(r.values()) + " |" for r in rows]
    lines += plot_lines(report)
    lines += ["", "## Variants", ""]
    for v in report.variants:
        lines.append(f"- **{v.name}** ({v.status}): {v.reason}. Artifact `{v.artifact}`.")
        if v.pixel_accuracy is not None:
            lines.append(f"  - {v.metric} {v.accuracy:.2f}%, pixel accuracy {v.pixel_accuracy:.2f}%")
        lines += [f"  - {line}" for line in output_lines(v)]
        lines += [f"  - {batch}: {latency_line(stats, v.throughput_by_batch.get(batch))}"
                  for batch, stats in v.latency_ms.items()]
        if v.runtime:
            lines.append(f"  - runtime: {runtime_line(v.runtime)}")
        lines += [f"  - {line}" for line in int8_lines(v.quantization, report.model.get("modules"))]
        if v.peak_rss_bytes:
            lines.append(f"  - peak RSS of the runner process {v.peak_rss_bytes / 2**20:.1f} MiB, load {v.load_s:.3f} s")
        lines += [f"  - {line.strip()}" for line in energy_lines(v.energy)]
    model = report.model
    lines += ["", "## Model", "", f"- parameters: {model.get('params', 0):,} (counted on the FP32 ONNX graph, BatchNorm folded into convs)", f"- MACs per sample: {model.get('macs', 0):,}",
              f"- inputs: {model.get('inputs')}", f"- outputs: {model.get('outputs')}"]
    for attribute, target in SECTIONS:
        if getattr(report, attribute):
            lines += resolve(target)(report)
    lines += ["", "## Data", ""] + data_lines(report.data)
    if report.warnings:
        lines += ["", "## Warnings", ""] + [f"- {w}" for w in report.warnings]
    return "\n".join(lines) + "\n"
