"""The pruning section of RESULTS.md: verdicts, ratios and per-round timings of the pruning suite.

Written between markers (``results_md.write_block``), so the ort and pruning suites
each regenerate only their own part of RESULTS.md.
"""

from __future__ import annotations

import statistics
from pathlib import Path

from benchmarks.pruning.measure import EXPORT_COSINE_MIN, STRUCTURED_RATIO, UNSTRUCTURED_RATIO, PruneRun, PruningModel
from benchmarks.shared.report import (Ratio, Verdict, fmt_ratio, quiet_rounds, ratio_verdict, round_medians,
                    within_round_ratio)
from benchmarks.shared.results_md import write_block

BLOCK = "pruning-benchmark"
NOISE = 0.15  # latency differences under this are within the shared box's noise (FIELD-NOTES)
SPEEDUP_TARGET = 2.0  # ResNet-18, 50% channels, FP32 ONNX Runtime: unpruned latency / pruned latency

METHOD = """\
- Models: the same seeded ResNet-18 and MobileNetV2 as above (`benchmarks/shared/models.py`, BatchNorm
  statistics estimated on the calibration photos), input 1x3x224x224 float32, batch 1.
- Structured: `edgekit.compress(model, "cpu-onnxruntime", calib_data=calib.npz, input_shape=(1, 3, 224, 224),
  prune=edgekit.prune_config("cpu-onnxruntime", ratio={s_ratio}), batch_sizes=[1])` — {s_ratio:.0%} of the
  channels of every prunable layer removed (uniform, L2 magnitude, kept channels rounded to the profile's
  multiple of 16, stem and classifier head kept whole by default, BatchNorm re-estimated on the calibration
  images). One call yields the unpruned and the pruned FP32 and INT8 artifacts. No fine-tuning: accuracy is
  not measured here (recovery by distillation is its own issue), speed and size are.
- Unstructured (ResNet-18): the same call with `prune_config(..., ratio={u_ratio}, mode="unstructured")`:
  the smallest {u_ratio:.0%} of the weights of every prunable layer set to zero, shapes unchanged. Its unpruned
  artifacts are checked byte-identical to the structured call's, which are the baseline for both.
- Params and MACs: edgekit's pruning report (forward hooks on the torch module), cross-checked on the
  exported ONNX graphs with `edgekit.inspect_model`. "Exports cleanly": the pruned FP32 ONNX passes
  `onnx.checker` (full check), the pruned module reloads from its state_dict + architecture.json with
  `edgekit.load_pruned` (weights_only, no pickle), edgekit saved its `.pt2`, edgekit accepted every
  variant, and ONNX Runtime's logits match the reloaded torch module on all {n_calib} calibration images
  (top-1 100%, cosine >= {cos_min}).
- Zip size: the ONNX file deflated (zip's default), and edgekit's own figure (the state_dict deflated).
- Timing: the suite's timing code (`shared/timing.py`, `shared/worker.py`): one fresh process per artifact, ONNX
  Runtime CPU EP, `intra_op_num_threads=2`, `inter_op_num_threads=1`, sequential, ORT_ENABLE_ALL,
  {warmup} warm-up and {iterations} timed inferences, median per process; {rounds} interleaved rounds
  (every artifact of every model per round, start rotated). Ratios are taken within a round; the
  median over rounds is shown with the lowest and highest round in brackets. Before each process
  the suite waits (at most {quiet_wait_s:.0f} s each, {quiet_budget_s:.0f} s per run) until other
  processes use less than {quiet_cpus} CPU; "quiet rounds" are rounds in which no measurement of
  that model saw more.
"""


def _speedup(results: dict, model: str, dense: str, pruned: str, rounds: list[int] | None = None) -> Ratio | None:
    # unpruned latency / pruned latency, within each round: > 1 is faster
    return within_round_ratio(results, model, dense, pruned, rounds)


def _exports_verdict(p: PruningModel, run: PruneRun, what: str) -> Verdict:
    return Verdict(f"{p.model}, {what}: exports cleanly", run.export.describe(), "", run.export.passed)


def verdicts(models: list[PruningModel], results: dict, quiet_cpus: float) -> list[Verdict]:
    rows = []
    for p in models:
        quiet = quiet_rounds(results, p.model, quiet_cpus)
        if p.model == "resnet18":
            rows.append(ratio_verdict(
                results, p.model, "dense_fp32", "pruned_fp32", quiet, digits=2, unit="x",
                target=f"ResNet-18 at {STRUCTURED_RATIO:.0%} channels >= {SPEEDUP_TARGET:.0f}x faster than unpruned "
                       "(ONNX Runtime CPU, FP32, batch 1, 2 threads; unpruned / pruned latency)",
                ok=lambda m: m >= SPEEDUP_TARGET))
        rows.append(_exports_verdict(p, p.structured, f"{STRUCTURED_RATIO:.0%} channels"))
    for p in models:
        for key in [v.key for v in p.variants if v.precision == "int8" and v.family != "dense"]:
            v = p.variant(key)
            rows.append(Verdict(f"{p.model}: {v.label} runs every Conv as QLinearConv (check)",
                                f"{v.qlinearconv}/{v.source_convs}", "", v.qlinearconv == v.source_convs))
        if p.unstructured is not None:
            rows.append(_exports_verdict(p, p.unstructured, f"{UNSTRUCTURED_RATIO:.0%} unstructured (check)"))
            rows.append(Verdict(f"{p.model}: the unstructured call's unpruned FP32/INT8 are byte-identical to the "
                                "structured call's (one baseline, check)",
                                "identical" if p.dense_identical else "different", "", bool(p.dense_identical)))
    return rows


def _ratio_cell(r: Ratio | None, unit: str = "x") -> str:
    return "–" if r is None else f"{r.fmt()}{unit}"


def _summary_rows(p: PruningModel, results: dict, quiet_cpus: float) -> list[str]:
    rows = []
    quiet = quiet_rounds(results, p.model, quiet_cpus)
    settings = [("pruned", p.structured, f"{STRUCTURED_RATIO:.0%} channels (structured)")]
    if p.unstructured is not None:
        settings.append(("sparse", p.unstructured, f"{UNSTRUCTURED_RATIO:.0%} weights zero (unstructured)"))
    for family, run, what in settings:
        ratios = run.summary["ratios"]
        onnx_macs = run.onnx_counts["after"]["macs"] / run.onnx_counts["before"]["macs"]
        nz = run.nonzero_params["after"] / run.nonzero_params["before"]
        fp32 = within_round_ratio(results, p.model, f"{family}_fp32", "dense_fp32")
        int8 = within_round_ratio(results, p.model, f"{family}_int8", "dense_int8")
        both = _speedup(results, p.model, "dense_fp32", f"{family}_int8")
        fp32_q = within_round_ratio(results, p.model, f"{family}_fp32", "dense_fp32", quiet)
        int8_q = within_round_ratio(results, p.model, f"{family}_int8", "dense_int8", quiet)
        d32, f32 = p.variant("dense_fp32"), p.variant(f"{family}_fp32")
        d8, f8 = p.variant("dense_int8"), p.variant(f"{family}_int8")
        rows.append(
            f"| {p.model} | {what} | {ratios['params']:.3f} | {nz:.3f} | {ratios['macs']:.3f} ({onnx_macs:.3f}) "
            f"| **{_ratio_cell(fp32, '')}** | {_ratio_cell(_speedup(results, p.model, 'dense_fp32', f'{family}_fp32'))} "
            f"| **{_ratio_cell(int8, '')}** | {_ratio_cell(_speedup(results, p.model, 'dense_int8', f'{family}_int8'))} "
            f"| {_ratio_cell(both)} | {fmt_ratio(fp32_q, 2)} / {fmt_ratio(int8_q, 2)} [{len(quiet)}] "
            f"| {d32.zip_mb:.1f} → {f32.zip_mb:.1f} | {d8.zip_mb:.1f} → {f8.zip_mb:.1f} |")
    return rows


def _unchanged(summary: dict) -> dict[str, int]:
    """``{layer: output channels}`` of pruned layers (not kept whole on purpose) that lost no output channel."""
    ignored = set(summary.get("ignored", []))
    return {row["layer"]: row["channels_before"][1] for row in summary["layers"]
            if row["layer"] not in ignored and row["channels_after"]
            and row["channels_after"][1] == row["channels_before"][1]}


def _structure_notes(p: PruningModel) -> list[str]:
    s = p.structured.summary
    b, a = s["totals_before"], s["totals_after"]
    ob, oa = p.structured.onnx_counts["before"], p.structured.onnx_counts["after"]
    lines = [f"- **{p.model}**: parameters {b['params']:,} → {a['params']:,}, MACs {b['macs']:,} → {a['macs']:,} "
             f"(ONNX graph: {ob['params']:,} → {oa['params']:,} parameters after BatchNorm folding, "
             f"MACs {ob['macs']:,} → {oa['macs']:,}); kept whole by default: {', '.join(s.get('ignored', [])) or '–'}; "
             f"BatchNorm re-estimated in {s.get('batchnorm_recalibrated', 0)} layers; edgekit's zipped state_dict "
             f"{s['zipped_weight_bytes_before'] / 1e6:.1f} → {s['zipped_weight_bytes_after'] / 1e6:.1f} MB."]
    h = p.structured.head_only
    if h is not None:
        unchanged, still = _unchanged(s), set(_unchanged(h))
        by_stem = [n for n in unchanged if n not in still]
        other = [f"{n} ({c})" for n, c in unchanged.items() if n in still]
        lines.append(
            f"  Keeping the stem whole costs MACs: the same pruning with only the head kept whole "
            f"(`ignored_layers={h.get('ignored', [])}`, `edgekit.prune`, not timed) gives params ratio "
            f"{h['ratios']['params']:.3f}, MACs ratio {h['ratios']['macs']:.3f} (vs {s['ratios']['params']:.3f} / "
            f"{s['ratios']['macs']:.3f}). Layers whose output channels all survive only because the stem is kept "
            f"whole (they share its channel group): {', '.join(by_stem) or 'none'}"
            + (f"; unchanged in both runs, output channels in brackets (narrow groups, channels kept in "
               f"multiples of {p.structured.round_to}): {', '.join(other)}" if other else "") + ".")
    return lines


def _noise_verdict(*ratios: Ratio | None) -> str:
    if all(r is not None and abs(r.median - 1.0) <= NOISE for r in ratios):
        return f"Both are within this box's ~{NOISE:.0%} noise of 1.0: no speed-up."
    return f"At least one is more than ~{NOISE:.0%} away from 1.0: read the per-round range before believing it."


def _unstructured_text(p: PruningModel, results: dict, quiet_cpus: float) -> list[str]:
    u = p.unstructured
    if u is None:
        return []
    s = u.summary
    quiet = quiet_rounds(results, p.model, quiet_cpus)
    d32, s32, d8, s8 = (p.variant(k) for k in ("dense_fp32", "sparse_fp32", "dense_int8", "sparse_int8"))
    fp32 = within_round_ratio(results, p.model, "sparse_fp32", "dense_fp32")
    int8 = within_round_ratio(results, p.model, "sparse_int8", "dense_int8")
    fp32_q = within_round_ratio(results, p.model, "sparse_fp32", "dense_fp32", quiet)
    return [
        f"### Unstructured {UNSTRUCTURED_RATIO:.0%} sparsity on {p.model}: smaller to ship, not faster to run", "",
        f"edgekit zeroed {s['overall_sparsity']:.1%} of the weights of the prunable layers "
        f"(kept dense: {', '.join(s.get('ignored', []))}); {1 - u.nonzero_params['after'] / u.nonzero_params['before']:.1%} "
        f"of all parameters. The zeros survive export and quantization: {s32.weight_zeros:.1%} of the FP32 ONNX's "
        f"Conv/Gemm weights and {s8.weight_zeros:.1%} of the INT8 file's int8 weights are exactly 0 "
        f"(unpruned: {d32.weight_zeros:.1%} / {d8.weight_zeros:.1%}). The shapes and the MACs do not change, and "
        "ONNX Runtime's dense CPU kernels multiply the zeros like any other value:", "",
        f"- latency sparse / dense, FP32: **{_ratio_cell(fp32, '')}** (quiet rounds: {fmt_ratio(fp32_q, 2)}); "
        f"INT8: **{_ratio_cell(int8, '')}**. {_noise_verdict(fp32, int8)}",
        f"- file size unchanged: FP32 {d32.size_mb:.1f} → {s32.size_mb:.1f} MB, INT8 {d8.size_mb:.1f} → "
        f"{s8.size_mb:.1f} MB.",
        f"- zip-compressed size shrinks: FP32 ONNX {d32.zip_mb:.1f} → {s32.zip_mb:.1f} MB "
        f"({s32.zip_mb / d32.zip_mb:.2f}x), INT8 ONNX {d8.zip_mb:.1f} → {s8.zip_mb:.1f} MB ({s8.zip_mb / d8.zip_mb:.2f}x); "
        f"edgekit's zipped state_dict {s['zipped_weight_bytes_before'] / 1e6:.1f} → "
        f"{s['zipped_weight_bytes_after'] / 1e6:.1f} MB. That is download / storage size only: the runtime "
        "inflates the file to its full size in memory.",
        f"- for comparison, structured {STRUCTURED_RATIO:.0%} channels: FP32 ONNX zip {d32.zip_mb:.1f} → "
        f"{p.variant('pruned_fp32').zip_mb:.1f} MB, and it also runs faster (above).", "",
    ]


def _timing_table(p: PruningModel, results: dict) -> list[str]:
    lines = ["| variant | ONNX MB | zip MB | zero weights | per-round median ms | median ms "
             "| latency / unpruned same precision | QLinearConv | others' CPU (max) |",
             "|---|---:|---:|---:|---|---:|---:|---:|---:|"]
    for v in p.variants:
        meds = round_medians(results, p.model, v.key)
        rel = within_round_ratio(results, p.model, v.key, f"dense_{v.precision}")
        qconv = f"{v.qlinearconv}/{v.source_convs}" if v.qlinearconv is not None else "–"
        others = max(r["others_cpus"] for r in results[p.model][v.key])
        lines.append(f"| {v.label} | {v.size_mb:.1f} | {v.zip_mb:.1f} | {v.weight_zeros:.1%} "
                     f"| {', '.join(f'{m:.2f}' for m in meds)} | {statistics.median(meds):.2f} "
                     f"| {'reference' if v.family == 'dense' else rel.fmt(3)} | {qconv} | {others:.2f} |")
    return lines


def render(models: list[PruningModel], results: dict, *, machine: dict[str, str], settings: dict,
           command: str) -> str:
    quiet_cpus = settings["quiet_cpus"]
    keys = ("CPU", "logical CPUs (os.cpu_count / usable)", "torch", "onnxruntime", "onnx", "edgekit", "date (UTC)",
            "load average at start (1/5/15 min)", "load average at end (1/5/15 min)", "suite wall time")
    lines = ["## Pruning: pruned vs unpruned on ONNX Runtime CPU", "",
             f"Produced in one run by `{command}` (its own run; the sections before it come from `benchmarks/run.py`).",
             "", "| | |", "|---|---|"]
    lines += [f"| {k} | {machine[k]} |" for k in keys if k in machine]
    lines += ["", "### Targets", "",
              "| target | measured, all rounds | verdict | same, quiet rounds only |", "|---|---|---|---|"]
    lines += [f"| {v.target} | {v.measured} | {'PASS' if v.passed else 'FAIL'} | {v.quiet} |"
              for v in verdicts(models, results, quiet_cpus)]
    lines += ["", "### Pruned / unpruned ratios", "",
              "Latency ratios are pruned / unpruned of the same precision (lower is better); speed-ups are "
              "unpruned / pruned (higher is better); each is the median of the within-round ratios with the "
              "lowest and highest round. \"nonzero params\": parameters that are not exactly zero. "
              "MACs in brackets: counted on the ONNX graph. Contention (other processes on this shared box) "
              "slows the larger unpruned model more than the pruned one and so inflates ratios: compare with "
              "the quiet-round column.", "",
              "| model | pruning | params ratio | nonzero params ratio | MACs ratio | FP32 latency ratio | FP32 speed-up "
              "| INT8 latency ratio | INT8 speed-up | speed-up pruned INT8 vs unpruned FP32 "
              "| FP32 / INT8 latency ratio, quiet rounds only [rounds] | zip MB FP32 | zip MB INT8 |",
              "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for p in models:
        lines += _summary_rows(p, results, quiet_cpus)
    lines += [""]
    for p in models:
        lines += _structure_notes(p)
    lines += [""]
    for p in models:
        lines += _unstructured_text(p, results, quiet_cpus)
    lines += ["### Method", "", METHOD.format(s_ratio=STRUCTURED_RATIO, u_ratio=UNSTRUCTURED_RATIO,
                                               cos_min=EXPORT_COSINE_MIN, **settings)]
    lines += ["\"zero weights\": exact zeros among the Conv/Gemm weight tensors of the file (INT8: the int8 "
              "values, where ~1% of an unpruned model's weights round to 0).", ""]
    for p in models:
        lines += [f"### {p.model}: every artifact, every round", ""] + _timing_table(p, results) + [""]
    lines += ["Build times: " + "; ".join(
        f"{p.model} compress+prune {p.structured.build_s:.0f} s"
        + (f", unstructured {p.unstructured.build_s:.0f} s" if p.unstructured else "") for p in models) + "."]
    return "\n".join(lines)


def write_pruning_results(path: Path, models: list[PruningModel], results: dict, *, machine: dict[str, str],
                          settings: dict, command: str) -> None:
    write_block(path, BLOCK, render(models, results, machine=machine, settings=settings, command=command))
