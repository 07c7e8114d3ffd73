"""Reference outputs of the original model, and the verification + benchmark of each variant."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgekit.artifact import Artifact, sha256_path, size_bytes
from edgekit.backends.base import Backend, KernelCoverage
from edgekit.pipeline.bundle import artifact_files
from edgekit.pipeline.timings import BENCHMARK, VERIFY, Stopwatch
from edgekit.bench.latency import run_benchmark, settings_from_profile
from edgekit.data import Dataset
from edgekit.energy.protocol import EnergySettings, plan_energy
from edgekit.errors import DataError, OptionError, ShapeMismatchError
from edgekit.models import LoadedModel
from edgekit.profile import Profile, VerifyConfig
from edgekit.pruning.report import not_faster_than_twin
from edgekit.progress import Progress
from edgekit.report.schema import VariantResult
from edgekit.report.speed import DEFAULT_OBJECTIVE, NOISE_MARGIN, compare_latency, first_latency, latency_ties
from edgekit.parity import Parity, accuracy, compare, is_class_scores


@dataclass
class Reference:
    """The original model's outputs on the verification inputs (the truth every variant is held to)."""

    inputs: Dataset
    outputs: np.ndarray
    runtime: str

    @property
    def accuracy(self) -> float | None:
        return None if self.inputs.y is None else accuracy(self.outputs, self.inputs.y)

    @property
    def classes(self) -> int:
        """Width of the first output per sample: the class count labels are indices into."""
        return int(self.outputs.reshape(self.outputs.shape[0], -1).shape[1])

    @property
    def class_scores(self) -> bool:
        """The first output is N x C class scores, so top-1 agreement means something (parity.is_class_scores)."""
        return is_class_scores(self.outputs)


def _torch_outputs(model: LoadedModel, x: np.ndarray, batch: int = 8) -> np.ndarray:
    """The compared output (edgekit/outputs.py: --output, else logits, else the first tensor); the names of the
    selected outputs go to ``model.output_names`` (the report's model.output). Small batches: a big one's activations
    spill the caches (EfficientNet-Lite0, 64 images at 224x224 on 2 Zen 3 cores: batch 64 3.5 s, 16 2.1 s, 8 1.6 s)."""
    import torch

    from edgekit.outputs import names, primary

    outs = []
    with torch.no_grad():
        for start in range(0, x.shape[0], batch):
            out = model.module(torch.from_numpy(x[start:start + batch]))
            model.output_names = model.output_names or tuple(names(out, model.output))
            outs.append(primary(out, model.output).detach().float().cpu().numpy())
    return np.concatenate(outs)


def _first_line(exc: BaseException) -> str:
    text = str(exc)
    return (text.splitlines() or [type(exc).__name__])[0][:300]


def check_input_names(model: LoadedModel, inputs: Dataset) -> None:
    """A multi-input ONNX model and its data must name the same inputs (a one-input model takes ``x``)."""
    if model.is_torch:
        return
    import onnx

    graph = onnx.load(str(model.onnx_path), load_external_data=False).graph
    initializers = {i.name for i in graph.initializer}
    names = [i.name for i in graph.input if i.name not in initializers]
    if not inputs.multi_input:
        if len(names) > 1:
            raise ShapeMismatchError(
                f"The model {model.source} has {len(names)} inputs ({', '.join(names)}) but the data from "
                f"{inputs.source} is one array.",
                f"Save one array per input, named after it: np.savez(path, {', '.join(f'{n}=...' for n in names)}"
                "[, y=labels]).")
        return
    missing, extra = [n for n in names if n not in inputs.x], sorted(set(inputs.x) - set(names))
    if missing or extra:
        raise ShapeMismatchError(
            f"The data from {inputs.source} names inputs {', '.join(sorted(inputs.x))}, but the model "
            f"{model.source} takes {', '.join(names)}"
            + (f" (missing: {', '.join(missing)}" if missing else " (") + (f"; unknown: {', '.join(extra)})" if extra else ")")
            + ".", "Name each array in the .npz after the model input it feeds (the ONNX graph's input names).")


def compute_reference(model: LoadedModel, inputs: Dataset, backend: Backend, profile: Profile) -> Reference:
    """Run the original on the verification inputs; a shape mismatch surfaces here, before any work."""
    check_input_names(model, inputs)
    try:
        if model.is_torch:
            outputs, runtime = _torch_outputs(model, inputs.x), "torch eager"
        else:
            outputs, runtime = backend.open(model.onnx_path, profile).run(inputs.x), "onnxruntime (original ONNX)"
    except OptionError:
        raise  # --output names no output of the model
    except Exception as exc:
        expected = f" The model expects {list(model.example_shape)}." if model.example_shape else ""
        shape = inputs.describe()["shape"]
        what = "input shapes" if inputs.multi_input else "sample shape"
        fix = ("Check that each named array matches the model input of that name (dtype, sequence length)."
               if inputs.multi_input else "Check that the data matches the model's input (layout N,C,H,W; image "
                                          "size; channels).")
        raise ShapeMismatchError(
            f"The model cannot run on the data from {inputs.source} ({what} {shape}): "
            f"{_first_line(exc)}.{expected}", fix) from exc
    reference = Reference(inputs, outputs, runtime)
    check_labels(inputs, reference.classes)
    return reference


def check_labels(data: Dataset | None, classes: int) -> None:
    """Labels must be class indices of this model's output, [0, classes): anything else would make every accuracy 0%
    and every drop 0 points, and the budget would pass what it cannot judge."""
    if data is None or data.y is None:
        return
    bad = (data.y < 0) | (data.y >= classes)
    if bad.any():
        values = np.unique(data.y[bad])
        shown = ", ".join(str(int(v)) for v in values[:8]) + (", ..." if len(values) > 8 else "")
        raise DataError(f"The labels (y) in {data.source} must be class indices in [0, {classes}) for this model's "
                        f"{classes} outputs, but {int(bad.sum())} of {len(data.y)} are not (values: {shown}).",
                        "Save y as integer class indices counted from 0, in the order of the model's outputs.")


def _combined_sha256(files: list[Path]) -> str:
    import hashlib

    return hashlib.sha256("".join(sha256_path(f) for f in files).encode()).hexdigest()


def verify_and_bench(name: str, precision: str, artifact: Artifact, root: Path, reference: Reference,
                     backend: Backend, profile: Profile, progress: Progress,
                     stopwatch: Stopwatch | None = None) -> VariantResult:
    """``stopwatch``: where the verification's and the benchmark's wall times go (report.json timings)."""
    watch = stopwatch or Stopwatch()
    with watch.phase(VERIFY, name):
        result = verify_variant(name, precision, artifact, root, reference, backend, profile)
    assert artifact.path is not None
    if backend.measures_on_host:
        with watch.phase(BENCHMARK, name):
            benchmark_into(result, artifact.path, reference, backend, profile, progress)
    elif result.status != "pending":  # checked on ONNX Runtime's CPU as a proxy; built and timed on the device
        result.runtime = {"engine": "built on the device", "host_check": "onnxruntime CPU (same ONNX, same Q/DQ)"}
    return result


def verify_variant(name: str, precision: str, artifact: Artifact, root: Path, reference: Reference,
                   backend: Backend, profile: Profile) -> VariantResult:
    """Parity, accuracy, INT8 kernel coverage and the verdict; no timing (sweeps time it separately)."""
    path = artifact.path
    assert path is not None
    files = artifact_files(path)
    result = VariantResult(name=name, backend=backend.name, precision=precision,
                           artifact=str(path.relative_to(root)), size_bytes=sum(size_bytes(f) for f in files),
                           sha256=sha256_path(path) if len(files) == 1 else _combined_sha256(files),
                           quantization=artifact.meta.get("quantization"))
    if not backend.measures_on_host and precision == "fp16":
        result.status, result.reason = "pending", ("FP16 is a TensorRT build setting: its parity, accuracy and latency "
                                                   "are measured on the device by edgekit build-engine")
        result.runtime = {"engine": "built on the device"}
        return result
    # an INT8 file whose target's integer kernels this host cannot reproduce is checked with its Q/DQ math emulated
    emulate = bool(((artifact.meta.get("quantization") or {}).get("check") or {}).get("emulated"))
    outputs = backend.open(path, profile, emulate_qdq=emulate).run(reference.inputs.x)
    parity = compare(reference.outputs, outputs, reference.inputs.x)
    result.parity = parity.to_dict()
    if reference.accuracy is not None:
        result.accuracy = accuracy(outputs, reference.inputs.y)
        result.accuracy_drop = reference.accuracy - result.accuracy
    coverage = backend.kernel_coverage(path, profile, path.parent) if precision == "int8" else None
    result.int8_coverage = coverage.to_dict() if coverage else None
    verdict = judge(precision, profile.verify, accuracy_drop=result.accuracy_drop, parity=parity, coverage=coverage,
                    class_scores=reference.class_scores)
    result.status, result.reason, result.gate = verdict.status, verdict.reason, verdict.gate
    return result


def benchmark_into(result: VariantResult, path: Path, reference: Reference, backend: Backend,
                    profile: Profile, progress: Progress) -> None:
    b = profile.benchmark
    settings = settings_from_profile(profile)
    sample = reference.inputs.head(max(b.batch_sizes))
    energy = plan_energy(EnergySettings.from_profile(profile), progress=progress, key=f"energy-{result.name}")
    bench = run_benchmark(backend.name, path, sample, settings, progress=progress, key=f"bench-{result.name}",
                          energy=energy.session, label=result.name)
    result.latency_ms = bench["latency_ms"]
    result.throughput_by_batch = bench["throughput_per_s"]
    first = f"batch_{b.batch_sizes[0]}"
    result.throughput_per_s = bench["throughput_per_s"].get(first)
    result.peak_rss_bytes = bench.get("peak_rss_bytes")
    result.load_s = bench.get("load_s")
    result.runtime = {**bench.get("details", {}),
                      **({"async_throughput_per_s": bench["async_throughput_per_s"]} if "async_throughput_per_s" in bench else {})}
    result.energy = energy.report(bench)


def recommend(variants: list[VariantResult], untimed_order: tuple[str, ...] | None = None,
              objective: str = DEFAULT_OBJECTIVE) -> tuple[str | None, str]:
    """The recommended variant on ``objective`` (report/speed.py OBJECTIVES) among the accepted ones. Measured
    objectives tie when noise cannot tell them apart (latency: report/speed.compare_latency, the 15% band and the
    p50/p90 spread; throughput and energy: the 15% band); the smallest artifact breaks a tie, and the reason says
    so with both figures. Size is exact.

    ``untimed_order``: nothing can be timed on this host (a TensorRT bundle built without a GPU), so take
    the first of these precisions (the profile's) that is not rejected, smallest first; the device times it."""
    if untimed_order is not None:
        untimed = [v for v in variants if v.status in ("accepted", "pending")]
        if not untimed:
            return None, "no variant passed verification"
        order = untimed_order
        rank = {p: i for i, p in enumerate(order)}
        best = min(untimed, key=lambda v: (rank.get(v.precision, len(rank)), v.size_bytes))
        return best.name, (f"not timed on this host: first of the profile's precisions ({', '.join(order)}) that "
                           f"passed the host checks, smallest file; edgekit build-engine times it on the device")
    accepted = [v for v in variants if v.status == "accepted" and v.latency_ms]
    if not accepted:
        return None, "no variant passed verification"
    if objective == "size":
        best = min(accepted, key=lambda v: (v.size_bytes, first_latency(v)["p50"]))
        return best.name, f"objective size: the smallest accepted artifact ({best.size_bytes / 2**20:.2f} MiB)"
    if objective in ("throughput", "energy"):
        return _by_measure(accepted, objective)
    return _by_latency(accepted)


def _by_latency(accepted: list[VariantResult]) -> tuple[str, str]:
    """A pruned variant that is not measurably faster than its accepted unpruned twin is never preferred for latency
    (its smaller file would otherwise win the tie): the twin runs as fast with the original's accuracy."""
    slow_pruned = not_faster_than_twin(accepted)
    eligible = [v for v in accepted if v.name not in slow_pruned]
    fastest, near = latency_ties(eligible)
    best = min(near, key=lambda v: (v.size_bytes, first_latency(v)["p50"]))
    batch = next(iter(best.latency_ms))
    passed_over = f"; not preferred, pruning bought no speed: {'; '.join(slow_pruned.values())}" if slow_pruned else ""
    if len(near) == 1:
        others = sorted((v for v in eligible if v is not best), key=lambda v: first_latency(v)["p50"])
        versus = others and compare_latency(first_latency(others[0]), first_latency(best))
        runner_up = f"; the next, {others[0].name}, is {versus.text()}" if others else ""
        return best.name, (f"fastest accepted variant (p50 {first_latency(best)['p50']:.3f} ms at {batch}{runner_up})"
                           f"{passed_over}")
    return best.name, (f"smallest of the accepted variants with no measurable latency difference from the fastest "
                       f"(within {NOISE_MARGIN - 1:.0%} of its p50 or its p50/p90 spread: {first_latency(best)['p50']:.3f} ms "
                       f"vs {first_latency(fastest)['p50']:.3f} ms at {batch}, {best.size_bytes / 2**20:.2f} MiB)"
                       f"{passed_over}")


def _by_measure(accepted: list[VariantResult], objective: str) -> tuple[str | None, str]:
    """Throughput (the best items/s over the batch sizes, higher is better) or energy (joules per inference)."""
    def value(v: VariantResult) -> float | None:
        if objective == "throughput":
            return max(v.throughput_by_batch.values(), default=None)
        return (v.energy or {}).get("joules_per_inference")

    measured = [v for v in accepted if value(v) is not None]
    if not measured:
        return None, f"objective {objective}: no accepted variant has a measured {objective}"
    if objective == "throughput":
        top = max(value(v) for v in measured)
        near, unit, shown = [v for v in measured if value(v) * NOISE_MARGIN >= top], "items/s", ".0f"
    else:
        top = min(value(v) for v in measured)
        near, unit, shown = [v for v in measured if value(v) <= top * NOISE_MARGIN], "J/inference", ".4g"
    best = min(near, key=lambda v: (v.size_bytes, v.name))
    if len(near) == 1:
        return best.name, f"objective {objective}: best accepted variant ({value(best):{shown}} {unit})"
    return best.name, (f"objective {objective}: {len(near)} accepted variants tie within the {NOISE_MARGIN - 1:.0%} "
                       f"noise band ({', '.join(f'{v.name} {value(v):{shown}}' for v in near)} {unit}); the "
                       f"smallest artifact wins ({best.size_bytes / 2**20:.2f} MiB)")


# --- the verdict: a variant is rejected, never silently reported, when it breaks the accuracy budget or when an
# INT8 file does not run INT8 kernels (an INT8 file that runs as float is not a variant)

# which guard judged a variant's outputs (VariantResult.gate, a column of report.md)
GATE_ACCURACY = "accuracy budget"  # labels: the drop in top-1 points
GATE_AGREEMENT = "cosine + top-1 agreement"  # no labels, class scores (N x C outputs): parity and the same top-1
GATE_COSINE = "cosine"  # no labels, any other output (embeddings, per-token states, maps): parity only


@dataclass(frozen=True)
class Verdict:
    status: str  # "accepted" | "rejected"
    reason: str
    gate: str = ""  # GATE_*: which guard held the outputs


def no_labels_warning(cfg: VerifyConfig, reference: Reference) -> str:
    """The report warning of a run without labels: which gates held the variants instead of the budget."""
    if reference.class_scores:
        gates = (f"{GATE_AGREEMENT}: mean cosine >= verify.min_cosine {cfg.min_cosine:g} and top-1 agreement with the "
                 f"original >= verify.min_top1_agreement {cfg.min_top1_agreement:g}, the outputs being class scores")
    else:
        gates = (f"{GATE_COSINE}: mean cosine >= verify.min_cosine {cfg.min_cosine:g}; top-1 agreement is not a gate, "
                 f"the outputs {list(reference.outputs.shape[1:])} per sample not being N x C class scores")
    return (f"No labelled evaluation data: the {cfg.max_accuracy_drop:g}-point accuracy budget could not be enforced; "
            f"variants were held to output parity instead ({gates}). Pass labelled --eval-data to check the budget.")


def _parity_problems(cfg: VerifyConfig, parity: Parity, gate: str) -> list[str]:
    """Without labels output parity is the budget; with labels accuracy is (a distilled student's logits
    legitimately differ from the teacher's: cosine 0.83 at the same top-1)."""
    problems = []
    if gate != GATE_ACCURACY and math.isfinite(parity.cosine) and parity.cosine < cfg.min_cosine:
        problems.append(f"outputs' mean cosine to the original {parity.cosine:.4f} is below min_cosine "
                        f"{cfg.min_cosine:g}")
    if gate == GATE_AGREEMENT and not parity.constant_reference and parity.top1_agreement < cfg.min_top1_agreement:
        problems.append(f"top-1 agreement with the original {parity.top1_agreement:.1%} is below min_top1_agreement "
                        f"{cfg.min_top1_agreement:.1%} (each disagreement can cost one correct answer)")
    return problems


def judge(precision: str, cfg: VerifyConfig, *, accuracy_drop: float | None, parity: Parity,
          coverage: KernelCoverage | None, class_scores: bool = False) -> Verdict:
    """``class_scores``: the outputs are N x C class scores (parity.is_class_scores), so without labels the
    variant is also held to the top-1 agreement floor."""
    gate = GATE_ACCURACY if accuracy_drop is not None else GATE_AGREEMENT if class_scores else GATE_COSINE
    problems = []
    if not (math.isfinite(parity.max_abs) and math.isfinite(parity.cosine)):
        problems.append("outputs contain NaN or Inf")
    problems += _parity_problems(cfg, parity, gate)
    if accuracy_drop is not None and accuracy_drop > cfg.max_accuracy_drop:
        problems.append(f"accuracy drop {accuracy_drop:.2f} points exceeds the budget of {cfg.max_accuracy_drop:g}")
    if precision == "int8" and coverage is not None:
        if coverage.int8_nodes == 0:
            problems.append("no INT8 kernel runs in ONNX Runtime's optimised graph: the file would execute as float")
        elif coverage.ratio < cfg.min_int8_coverage:
            floats = f"; in float: {coverage.describe_float()}" if coverage.float_layers else ""
            problems.append(f"only {coverage.int8_nodes}/{coverage.int8_nodes + coverage.float_nodes} compute nodes "
                            f"run INT8 ({coverage.ratio:.0%} < min_int8_coverage {cfg.min_int8_coverage:.0%}){floats}")
    # a constant reference (all zeros, say) has no top-1 and a cosine only by convention: said, with max-abs
    constant = (f"; the original's outputs are constant (e.g. all zeros): top-1 agreement not gated, identical rows "
                f"count as cosine 1, max-abs error {parity.max_abs:.3g}") if parity.constant_reference else ""
    if problems:
        return Verdict("rejected", "; ".join(problems) + constant + f" (gate: {gate})", gate)
    if gate == GATE_ACCURACY:
        return Verdict("accepted", f"accuracy drop {accuracy_drop:.2f} <= {cfg.max_accuracy_drop:g} points", gate)
    held = f"cosine {parity.cosine:.4f} >= {cfg.min_cosine:g}"
    if constant:
        held += constant
    elif gate == GATE_AGREEMENT:
        held += f", top-1 agreement {parity.top1_agreement:.1%} >= {cfg.min_top1_agreement:.1%}"
    else:
        held += f"; top-1 agreement {parity.top1_agreement:.1%} not gated: the outputs are not class scores"
    return Verdict("accepted", f"no labels: accuracy budget not checked; held to {gate} ({held})", gate)
