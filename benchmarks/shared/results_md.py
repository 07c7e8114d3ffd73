"""Render RESULTS.md from the prepared artifacts and the timing rounds."""

from __future__ import annotations

import re
import statistics
from pathlib import Path

from benchmarks.shared.prepare import Prepared
from benchmarks.shared.report import round_medians, verdicts, within_round_ratio

METHOD = """\
- Models: plain-torch ResNet-18 and MobileNetV2 (`benchmarks/shared/models.py`, torchvision's
  architectures and parameter counts), seeded random weights; BatchNorm statistics estimated
  on the calibration photos so activations have realistic ranges (no pretrained weights can
  be downloaded here). Input 1x3x224x224 float32, batch 1.
- Calibration / parity images: {n_calib} random-resized 224x224 crops of real photos bundled
  with scikit-image, ImageNet mean/std normalised (`benchmarks/shared/calib.py`).
- Variants: (a) FP32 torch eager, `torch.inference_mode`, `torch.set_num_threads(2)`;
  (b) edgekit FP32 and (c) edgekit INT8 ONNX Runtime artifacts, both from one call
  `edgekit.compress(model, "cpu-onnxruntime", calib_data=calib.npz, input_shape=(1, 3, 224, 224))`;
  (d) the peer: edgekit's FP32 ONNX (b) quantized by hand with `quant_pre_process` +
  `quantize_static(QDQ, per_channel=True, QUInt8 activations, QInt8 weights)`, same images.
- Timing: every measurement is a fresh Python process (`benchmarks/shared/worker.py`) that loads one
  artifact, runs {warmup} warm-up and {iterations} timed inferences and reports the median.
  ONNX Runtime: CPU EP, `intra_op_num_threads=2`, `inter_op_num_threads=1`, sequential, ORT_ENABLE_ALL.
  {rounds} rounds, interleaved: round r runs a, b, c, d of every model, each in its own process,
  starting at a rotated position. Ratios are taken within a round and the median over rounds is
  reported, with the lowest and highest round in brackets.
- Contention: before each measurement the suite waits (at most {quiet_wait_s:.0f} s, {quiet_budget_s:.0f} s per
  run) until other processes use less than {quiet_cpus} CPU, and during it records the CPU time
  the rest of the machine took (`/proc/stat` busy time minus the worker's own). "Quiet rounds"
  are rounds in which every measurement of that model saw less than {quiet_cpus} CPU of others.
  Verdicts use all rounds, as specified; the quiet-round ratios show how much contention moved them.
- Parity: logits of every calibration image vs FP32 torch eager: top-1 agreement and cosine
  similarity. INT8 execution: QLinearConv nodes in ONNX Runtime's optimised graph
  (`SessionOptions.optimized_model_filepath`) against the Conv count of the FP32 ONNX.
"""

NOISE_NOTE = """\
On a shared 2-vCPU box the median of the same artifact drifts by up to ±40% between rounds and
differences under ~15% are noise (FIELD-NOTES); the 5% peer target is tighter than that, so
read the per-round range next to the median. Contention hurts 2-thread torch eager far more
than ONNX Runtime (a stolen core stalls its OpenMP team), so contended rounds inflate the
speed-ups vs torch eager: the quiet-round column is the fairer one for those.

Random weights make top-1 agreement a harsh metric (logits of an untrained net lie close
together, so small INT8 errors flip the top-1); cosine similarity is the steadier parity
number here."""


# Sections that other entry points (the pruning suite) own live between these markers; a run of
# one entry point rewrites only its own parts of RESULTS.md and keeps the others' blocks.
BLOCK_BEGIN = "<!-- BEGIN {name} -->"
BLOCK_END = "<!-- END {name} -->"
_BLOCK = re.compile(r"<!-- BEGIN (?P<name>[\w.-]+) -->\n.*?<!-- END (?P=name) -->\n?", re.S)


def marked_blocks(text: str) -> dict[str, str]:
    """``{name: whole block including its markers}`` of every marked block in ``text``."""
    return {m["name"]: m.group(0).rstrip("\n") + "\n" for m in _BLOCK.finditer(text)}


def _keep_blocks(path: Path, text: str) -> str:
    """``text`` with the marked blocks of the existing ``path`` appended (those ``text`` lacks)."""
    old = marked_blocks(path.read_text()) if path.exists() else {}
    new = marked_blocks(text)
    kept = [block for name, block in old.items() if name not in new]
    return text.rstrip("\n") + "\n" + "".join("\n" + b for b in kept)


def write_block(path: Path, name: str, body: str) -> None:
    """Replace (or append) the marked block ``name`` in ``path``; everything else is left as it is."""
    block = f"{BLOCK_BEGIN.format(name=name)}\n{body.strip()}\n{BLOCK_END.format(name=name)}\n"
    text = path.read_text() if path.exists() else "# edgekit benchmark results\n"
    if name in marked_blocks(text):
        text = _BLOCK.sub(lambda m: block if m["name"] == name else m.group(0), text)
    else:
        text = text.rstrip("\n") + "\n\n" + block
    path.write_text(text)


def _table(p: Prepared, results: dict) -> list[str]:
    lines = [
        "| variant | size MB | per-round median ms | median ms | speed-up vs torch eager | top-1 agree "
        "| cosine mean (min) | QLinearConv | others' CPU (max) |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for v in p.variants:
        meds = round_medians(results, p.model, v.key)
        speed = within_round_ratio(results, p.model, "torch_fp32", v.key)
        par = v.parity
        top1 = f"{par.top1_agreement:.1%}" if par else "reference"
        cos = f"{par.cosine_mean:.4f} ({par.cosine_min:.4f})" if par else "reference"
        qconv = f"{v.qlinearconv}/{p.source_convs}" if v.qlinearconv is not None else "–"
        others = max(r["others_cpus"] for r in results[p.model][v.key])
        lines.append(
            f"| {v.label} | {v.size_mb:.1f} | {', '.join(f'{m:.2f}' for m in meds)} "
            f"| {statistics.median(meds):.2f} | {speed.fmt()}x | {top1} | {cos} | {qconv} | {others:.2f} |"
        )
    peer = within_round_ratio(results, p.model, "edgekit_int8", "peer_int8")
    lines += [
        "",
        f"edgekit INT8 / peer INT8 latency (median of within-round ratios): **{peer.fmt(3)}**. "
        f"edgekit's INT8 file is {'byte-identical to' if p.int8_identical_to_peer else 'different from'} "
        f"the peer's. Build time: edgekit.compress {p.build_s['edgekit']:.1f} s, peer quantization {p.build_s['peer']:.1f} s.",
    ]
    return lines


def write_results(path: Path, *, prepared: list[Prepared], results: dict, machine: dict[str, str],
                  settings: dict, command: str) -> None:
    lines = ["# edgekit benchmark results", ""]
    lines += [f"Produced in one run by `{command}`.", "", "## Machine", "", "| | |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in machine.items()]
    lines += ["", "## Method", "", METHOD.format(**settings), "## Targets", "",
              "| target | measured, all rounds | verdict | same, quiet rounds only |", "|---|---|---|---|"]
    lines += [f"| {v.target} | {v.measured} | {'PASS' if v.passed else 'FAIL'} | {v.quiet} |"
              for v in verdicts(prepared, results, settings["quiet_cpus"])]
    lines += ["", NOISE_NOTE, ""]
    for p in prepared:
        lines += [f"## {p.model} ({p.params_m:.2f}M parameters, {p.source_convs} Conv)", ""]
        lines += _table(p, results) + [""]
    path.write_text(_keep_blocks(path, "\n".join(lines)))
