"""Hardware efficiency: ResNet-18 FP32 and INT8 on OpenVINO, GOP/s per batch against this host's peak, and where
the time goes layer by layer (OpenVINO's per-layer performance counters).

    python -m benchmarks efficiency [--batch-sizes 1,2,4,8,16] [--iterations 20] [--counter-iterations 10]

1. One ``edgekit.compress(resnet18, <the host's OpenVINO profile>)`` with these batch sizes builds, verifies and
   times the FP32 and INT8 IRs with the bundle's own runner; each variant's ``efficiency`` in its report.json
   (edgekit/efficiency.py: ops = 2 x MACs, GOP/s at the best batch, the host's peak for the precision, its basis)
   is what the table shows, so the figures are the ones every report carries.
2. Each IR is compiled once more, static at its best batch, with ``PERF_COUNT``; the counters of
   ``--counter-iterations`` inferences are summed per layer: time by layer type and kernel (``exec_type``, whose
   suffix is the precision the kernel ran in), every Convolution's own GOP/s against the same peak, reorders.

Writes the block <!-- BEGIN efficiency --> of RESULTS.md, naming the host and its ISA.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.efficiency.clock import measured_ghz
from benchmarks.shared import ROOT
from benchmarks.shared.calib import write_calibration_npz
from benchmarks.shared.common_cli import setup_logging
from benchmarks.shared.prepare import reference_model
from benchmarks.shared.results_md import write_block

log = logging.getLogger("benchmarks")

INPUT_SHAPE = (1, 3, 224, 224)
TARGET_SHARE = 0.70  # the target: INT8 ResNet-18 at its best batch >= 70% of the host's INT8 peak
CONV_TYPES = ("Convolution", "GroupConvolution")


def _parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch-sizes", default="1,2,4,8,16", help="batch sizes timed by compress")
    ap.add_argument("--iterations", type=int, default=20, help="timed inferences per batch size")
    ap.add_argument("--warmup", type=int, default=5, help="untimed inferences per batch size")
    ap.add_argument("--counter-iterations", type=int, default=10, help="inferences summed by the perf counters")
    ap.add_argument("--calib-samples", type=int, default=48)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work-dir", type=Path, default=ROOT / ".work" / "efficiency")
    ap.add_argument("--out", type=Path, default=ROOT / "RESULTS.md", help="its efficiency block is replaced")
    args = ap.parse_args(argv)
    args.batch_sizes = tuple(int(b) for b in args.batch_sizes.split(","))
    return args


def host_profile(isa: str) -> str:
    """The built-in OpenVINO profile for this host: VNNI/AMX, else AVX2 (what compress would be told)."""
    return "x86-openvino" if isa in ("x86-vnni", "x86-amx") else "cpu-openvino-avx2"


def compress(model: Any, calib: Path, out: Path, args: argparse.Namespace, host_isa: str) -> Any:
    import edgekit
    from edgekit.profile import load_profile

    profile = load_profile(host_profile(host_isa))
    profile = dataclasses.replace(profile, benchmark=dataclasses.replace(
        profile.benchmark, batch_sizes=args.batch_sizes, warmup=args.warmup, iterations=args.iterations))
    return edgekit.compress(model, profile, calib_data=str(calib), out_dir=str(out), progress=False,
                            options=edgekit.RunOptions(input_shape=INPUT_SHAPE, force=True))


@dataclasses.dataclass
class LayerTime:
    name: str
    layer_type: str
    exec_type: str
    ms: float  # per inference of the whole batch
    macs: int = 0  # per sample (0: not a compute layer of the ONNX graph)


def counters(xml: Path, batch: int, iterations: int, threads: int, x: np.ndarray
             ) -> tuple[list[LayerTime], float, float | None]:
    """Per-layer time (ms per batch inference, averaged over ``iterations``) from OpenVINO's PERF_COUNT, the wall ms
    per inference and the share of the CPUs other processes used meanwhile; the IR compiled static at ``batch`` with
    the runner's settings, as it was timed."""
    import openvino as ov

    from edgekit.deploy.run_openvino import compile_config, static_model
    from edgekit.deploy.runner_common import cpu_ticks, others_cpu_load

    data = np.resize(x, (batch, *x.shape[1:])).astype(np.float32)
    compiled = ov.Core().compile_model(static_model(xml, data), "CPU",
                                       {**compile_config(threads, "latency", 0, "f32"), "PERF_COUNT": True})
    request = compiled.create_infer_request()
    for _ in range(3):
        request.infer([data])
    total: dict[str, LayerTime] = {}
    before, started = cpu_ticks(), time.perf_counter()
    for _ in range(iterations):
        request.infer([data])
        for info in request.get_profiling_info():
            if info.status != info.Status.EXECUTED:
                continue
            entry = total.setdefault(info.node_name, LayerTime(info.node_name, info.node_type, info.exec_type, 0.0))
            entry.ms += info.real_time.total_seconds() * 1000.0 / iterations
    wall = (time.perf_counter() - started) * 1000.0 / iterations
    return list(total.values()), wall, others_cpu_load(before, cpu_ticks())


def attach_macs(layers: list[LayerTime], onnx_path: Path) -> None:
    """Each Convolution / MatMul its MACs from the ONNX graph (edgekit.summary, the one counter): OpenVINO keeps the
    ONNX node's name on the layer, with "/WithoutBiases" where it split the bias off."""
    from edgekit.summary import summarize_onnx

    macs = {layer.name: layer.macs for layer in summarize_onnx(onnx_path).layers}
    for layer in layers:
        layer.macs = macs.get(layer.name.removesuffix("/WithoutBiases"), 0)


def precision_of(exec_type: str) -> str:
    """The precision suffix of an OpenVINO CPU kernel name ('brgconv_avx2_I8' -> 'I8', 'jit_avx2_FP32' -> 'FP32')."""
    return exec_type.rsplit("_", 1)[-1] if "_" in exec_type else exec_type


def by_type(layers: list[LayerTime]) -> list[tuple[str, str, int, float]]:
    """(layer type, kernel, count, ms) sorted by time."""
    groups: dict[tuple[str, str], list[float]] = defaultdict(list)
    for layer in layers:
        groups[(layer.layer_type, layer.exec_type)].append(layer.ms)
    return sorted(((t, e, len(ms), sum(ms)) for (t, e), ms in groups.items()), key=lambda r: -r[3])


def layer_section(name: str, e: dict, layers: list[LayerTime], wall_ms: float, others: float | None,
                  batch: int) -> list[str]:
    """One variant's counters: time by layer type and kernel, then the slowest convolutions' own GOP/s."""
    total = sum(layer.ms for layer in layers)
    peak = e["peak_gops"]
    convs = [layer for layer in layers if layer.layer_type in CONV_TYPES]
    conv_ms, conv_macs = sum(c.ms for c in convs), sum(c.macs for c in convs)
    conv_gops = 2 * conv_macs * batch / (conv_ms / 1000.0) / 1e9 if conv_ms else 0.0
    precisions = defaultdict(int)
    for c in convs:
        precisions[precision_of(c.exec_type)] += 1
    unmatched = sum(1 for c in convs if not c.macs)
    wall_gops = e["ops_per_inference"] * batch / (wall_ms / 1000.0) / 1e9
    lines = [f"**{name}** at batch {batch} (its best): counters sum to {total:.1f} ms per inference, wall "
             f"{wall_ms:.1f} ms = {wall_gops:.1f} GOP/s with PERF_COUNT on (timed run: {e['gops']:.1f}; other "
             f"processes used {_pct(others)} of the CPUs meanwhile). Convolutions: {len(convs)} ("
             + ", ".join(f"{n} {p}" for p, n in sorted(precisions.items())) + f"), {conv_ms / total:.0%} of the time, "
             f"{conv_gops:.1f} GOP/s on their own = {conv_gops / peak:.0%} of the {e['precision'].upper()} peak at the "
             "reported clock"
             + (f" ({unmatched} convolutions not matched to an ONNX node: their MACs are left out)" if unmatched else "")
             + "." + (" The counters sum to more than the wall time: some layers' intervals overlap or are counted "
                      "high, so the time shares below are of the counters' sum and the convolutions' GOP/s is low."
                      if total > 1.05 * wall_ms else ""), "",
             "| layer type | kernel (exec_type) | layers | ms / inference | share of time |", "|---|---|---:|---:|---:|"]
    lines += [f"| {t} | {k} | {n} | {ms:.2f} | {ms / total:.1%} |" for t, k, n, ms in by_type(layers)]
    lines += ["", "| slowest convolutions | kernel | MACs / sample | ms / inference | GOP/s | % of peak (reported clock) |",
              "|---|---|---:|---:|---:|---:|"]
    for c in sorted(convs, key=lambda c: -c.ms)[:8]:
        gops = layer_gops(c, batch) if c.ms and c.macs else None
        lines.append(f"| {c.name} | {c.exec_type} | {c.macs:,} | {c.ms:.2f} | "
                     + ("n/a | n/a |" if gops is None else f"{gops:.1f} | {gops / peak:.0%} |"))
    return lines


def explanation(int8: dict, measured: float | None, layers: list[LayerTime], batch: int) -> list[str]:
    """Where the INT8 variant's missing share of the peak goes, from its counters."""
    total = sum(layer.ms for layer in layers)
    convs = [layer for layer in layers if layer.layer_type in CONV_TYPES]
    conv_ms = sum(c.ms for c in convs)
    float_convs = [c for c in convs if precision_of(c.exec_type) not in ("I8", "U8", "u8", "i8")]
    reorder_ms = sum(layer.ms for layer in layers if layer.layer_type == "Reorder")
    rest = sorted({layer.layer_type for layer in layers if layer.layer_type not in CONV_TYPES})
    shares = [("the reported clock", int8["share_of_peak"])]
    if measured:
        shares.append((f"the measured clock ({measured:.2f} GHz)", at_clock(int8, measured)))
    met = [f"{share:.0%} of the INT8 peak at {clock} ({'meets' if share >= TARGET_SHARE else 'misses'} the "
           f"{TARGET_SHARE:.0%} target)" for clock, share in shares if share is not None]
    lines = [f"INT8 ResNet-18 at its best batch ({batch}) runs at {int8['gops']:.1f} GOP/s = " + "; ".join(met)
             + ". Where the rest goes (counters, PERF_COUNT on):", ""]
    lines.append(f"- convolutions take {conv_ms / total:.0%} of the time; the rest ({1 - conv_ms / total:.0%}) is "
                 f"{', '.join(rest)} (the residual adds and ReLUs are fused into the convolutions)")
    lines.append(f"- reorders (layout/precision conversions between kernels): {reorder_ms:.2f} ms, "
                 f"{reorder_ms / total:.1%} of the time")
    if float_convs:
        lines.append(f"- {len(float_convs)} of {len(convs)} convolutions run in float: "
                     + ", ".join(f"{c.name} ({c.exec_type})" for c in float_convs[:6]))
    else:
        lines.append(f"- every one of the {len(convs)} convolutions runs an INT8 kernel")
    rated = sorted((c for c in convs if c.macs and c.ms), key=lambda c: c.macs / c.ms)
    if rated:
        lines.append("- the least efficient convolutions: " + "; ".join(
            f"{c.name} ({c.exec_type}) {layer_gops(c, batch):.1f} GOP/s = "
            f"{layer_gops(c, batch) / int8['peak_gops']:.0%}" for c in rated[:3])
                     + f"; the stem {convs[0].name} has 3 input channels, which fill few of the input-channel "
                     "blocks its kernel works in, and the 1x1 downsampling convolutions do few MACs per byte moved")
    lines.append("- the shares at the reported clock are upper bounds when the cores boost above it (see the "
                 "measured clock); time other processes take on this shared box lowers them (others' CPU column)")
    return lines


def layer_gops(layer: LayerTime, batch: int) -> float:
    return 2 * layer.macs * batch / (layer.ms / 1000.0) / 1e9


def at_clock(e: dict, ghz: float) -> float | None:
    """The share of the peak if the cores ran at ``ghz`` instead of the clock the peak was derived from."""
    return e["gops"] / (e["peak_gops"] * ghz / e["clock_ghz"]) if e["peak_gops"] else None


def render(machine: str, command: str, report: Any, sections: dict[str, list[str]], explain: list[str],
           elapsed_s: float, measured: float | None) -> str:
    rows = ["| variant | precision | ops / inference | GOP/s per batch (items/s x ops) | best batch | GOP/s at best "
            "| peak GOP/s | % of peak | % of peak at the measured clock | others' CPU at best batch |",
            "|---|---|---:|---|---:|---:|---:|---:|---:|---:|"]
    bases = []
    for v in report.variants:
        e = v.efficiency
        if not e:
            continue
        per_batch = ", ".join(f"{k.split('_')[1]}: {e['ops_per_inference'] * t / 1e9:.1f}"
                              for k, t in v.throughput_by_batch.items())
        others = v.latency_ms[f"batch_{e['best_batch']}"].get("others_cpu_load")
        rows.append(f"| {v.name} | {e['precision']} | {e['ops_per_inference'] / 1e9:.3f} G | {per_batch} | "
                    f"{e['best_batch']} | {e['gops']:.1f} | {_num(e['peak_gops'])} | {_share(e['share_of_peak'])} | "
                    f"{_share(at_clock(e, measured) if measured else None)} | {_share(others)} |")
        bases.append(f"- {e['peak_basis']}")
    lines = ["## Hardware efficiency: ResNet-18 FP32 / INT8 on OpenVINO against the host's peak", "",
             f"`{command}` on {machine}, one run ({elapsed_s:.0f} s). Profile `{report.profile}`; seeded random "
             "weights (BatchNorm statistics on the calibration photos; throughput does not depend on the values). "
             "GOP/s = 2 x MACs (counted on the ONNX graph) x items/s, items/s = batch / p50 of edgekit's runner "
             "(static shapes per batch, latency hint, every core); the figures are the variants' `efficiency` in "
             "report.json. Timing on a 2-vCPU box shared with other work: see the spread in report.md.", "",
             *rows, "", *dict.fromkeys(bases),
             f"- measured clock: {'not measured (no C compiler, or not x86)' if measured is None else f'{measured:.2f} GHz'}"
             " (benchmarks/efficiency/clock.py: a chain of dependent adds, one per cycle; the highest of 3 runs "
             "before and 3 after the timing). This VM reports its nominal clock in cpuinfo and has no cpufreq, so "
             "edgekit's peak uses the nominal clock; the measured column is the share at the clock the cores ran.",
             "", "### Where the time goes (OpenVINO per-layer counters)", ""]
    for section in sections.values():
        lines += [*section, ""]
    lines += ["### Against the 70% target", "", *explain]
    return "\n".join(lines)


def _pct(share: float | None) -> str:
    return "an unknown share" if share is None else f"{share:.0%}"


def _share(share: float | None) -> str:
    return "n/a" if share is None else f"{share:.0%}"


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}"


def main(argv: list[str] | None = None) -> int:
    from edgekit.hardware import detect

    setup_logging()
    args = _parse(argv)
    started = time.perf_counter()
    host = detect()
    calib = write_calibration_npz(args.work_dir / "calib.npz", n=args.calib_samples, seed=args.seed)
    x, model, _, _ = reference_model("resnet18", calib, args.work_dir / "resnet18", seed=args.seed)
    bundle = args.work_dir / "bundle"
    before = measured_ghz(args.work_dir / "clock")
    report = compress(model, calib, bundle, args, host.isa)
    onnx_path = next((bundle / "stages").glob("*-export/*.onnx"))
    sections, int8_layers = {}, []
    for v in report.variants:
        if not v.efficiency:
            continue
        batch = v.efficiency["best_batch"]
        layers, wall, others = counters(bundle / v.artifact, batch, args.counter_iterations, report_threads(report), x)
        attach_macs(layers, onnx_path)
        sections[v.name] = layer_section(v.name, v.efficiency, layers, wall, others, batch)
        if v.name == "int8":
            int8_layers = layers
    measured = max(filter(None, (before, measured_ghz(args.work_dir / "clock"))), default=None)
    int8 = report.variant("int8").efficiency
    explain = explanation(int8, measured, int8_layers, int8["best_batch"]) if int8 else []
    machine = (f"**{host.isa}** ({host.cpu_model}, {host.logical_cpus} logical CPUs, {host.physical_cores or '?'} "
               f"cores listed; flags {', '.join(host.flags)})")
    command = "python -m benchmarks efficiency" + (" " + " ".join(argv) if argv else "")
    write_block(args.out, "efficiency", render(machine, command, report, sections, explain,
                                               time.perf_counter() - started, measured))
    log.info("wrote the efficiency block of %s", args.out)
    return 0


def report_threads(report: Any) -> int:
    """The threads the profile gave the runner (0 = OpenVINO's default), so the counters run as the timing did."""
    from edgekit.profile import load_profile

    return load_profile(report.profile).target.threads
