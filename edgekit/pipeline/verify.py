"""Reference outputs of the original model, and the verification + benchmark of each variant."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.artifact import Artifact, sha256_path, size_bytes
from edgekit.backends.base import Backend, KernelCoverage
from edgekit.pipeline.bundle import artifact_files
from edgekit.pipeline.timings import BENCHMARK, VERIFY, Stopwatch
from edgekit.bench.latency import run_benchmark, settings_from_profile
from edgekit.data import Dataset
from edgekit.deploy.runner_common import align_to_references
from edgekit.energy.protocol import EnergySettings, plan_energy
from edgekit.errors import DataError, OptionError, ShapeMismatchError
from edgekit.models import LoadedModel
from edgekit.profile import Profile, VerifyConfig
from edgekit.pruning.report import not_faster_than_twin
from edgekit.progress import Progress
from edgekit.report.schema import VariantResult
from edgekit.report.speed import DEFAULT_OBJECTIVE, NOISE_MARGIN, compare_latency, first_latency, latency_ties
from edgekit.parity import (IGNORE_INDEX, SEGMENTATION, Parity, accuracy, compare, is_class_scores, is_segmentation,
                            metric_name, segmentation_metrics, segmentation_task)


# what an output is, for its gate: class scores (top-1 agreement means something), segmentation logits (per-pixel
# argmax agreement does), anything else (embeddings, per-token states, feature maps: cosine only)
CLASS_SCORES, SEGMENTATION_MAP, OTHER = "class scores", "segmentation", "other"
FEATURE_EXTRACTION = "feature-extraction"


@dataclass
class Reference:
    """The original model's outputs on the verification inputs (the truth every variant is held to).

    ``outputs`` is the primary output (the first selected: the task metric's); ``by_output`` every selected output
    by name, in order, the primary first; ``artifact_names`` the names the exported artifact gives them
    (outputs.onnx_names; an ONNX model's own); ``task``: the model's task when known (``--task`` / a Hugging Face
    folder's), else inferred from the outputs and labels."""

    inputs: Dataset
    outputs: np.ndarray
    runtime: str
    by_output: dict[str, np.ndarray] = field(default_factory=dict)
    artifact_names: tuple[str, ...] = ()
    task: str | None = None

    def __post_init__(self) -> None:
        if not self.by_output:
            self.by_output = {"output": self.outputs}

    @property
    def segmentation(self) -> bool:
        """Semantic segmentation: ``--task semantic-segmentation`` (or a SegFormer-like folder), or N x C x H x W
        outputs with N x H x W label maps."""
        return segmentation_task(self.task, self.outputs, self.inputs.y)

    @property
    def metric(self) -> str:
        """What ``accuracy`` measures ("top-1 accuracy", "mIoU"): the report names it wherever the figure shows."""
        return metric_name(SEGMENTATION if self.segmentation else "classification")

    @cached_property
    def _scores(self) -> tuple[float | None, float | None]:
        """(the task metric, the pixel accuracy) against the labels, computed once: label maps' mIoU upsamples
        every sample's logits, too slow to redo on each look at ``accuracy``."""
        y = self.inputs.y
        if y is None:
            return None, None
        if y.ndim != 3:
            return accuracy(self.outputs, y), None
        scores = segmentation_metrics(self.outputs, y)
        return scores["mIoU"], scores["pixel_accuracy"] if self.segmentation else None

    @property
    def accuracy(self) -> float | None:
        return self._scores[0]

    @property
    def pixel_accuracy(self) -> float | None:
        """Segmentation with labels: the share of labelled pixels predicted right, in percent."""
        return self._scores[1]

    @property
    def classes(self) -> int:
        """The class count labels are indices into: the channels of segmentation logits, else the width of the
        first output per sample."""
        if self.segmentation and self.outputs.ndim == 4:
            return int(self.outputs.shape[1])
        return int(self.outputs.reshape(self.outputs.shape[0], -1).shape[1])

    @property
    def class_scores(self) -> bool:
        """The first output is N x C class scores, so top-1 agreement means something (parity.is_class_scores)."""
        return self.kind(next(iter(self.by_output))) == CLASS_SCORES

    def kind(self, name: str) -> str:
        """CLASS_SCORES, SEGMENTATION_MAP or OTHER for the output ``name``: a feature extractor's outputs are never
        class scores (a pooled N x D embedding has their shape); segmentation is the primary output's task."""
        array = self.by_output[name]
        if name == next(iter(self.by_output)) and self.segmentation and array.ndim == 4:
            return SEGMENTATION_MAP
        if self.task in (FEATURE_EXTRACTION, SEGMENTATION) or not is_class_scores(array):
            return OTHER
        return CLASS_SCORES

    def describe(self) -> dict[str, Any]:
        """report.json ``reference``: the runtime, the task metric (named), the samples, the outputs compared."""
        ref: dict[str, Any] = {"runtime": self.runtime, "accuracy": self.accuracy, "samples": len(self.inputs)}
        if self.segmentation:
            ref.update(metric=self.metric, pixel_accuracy=self.pixel_accuracy, task=SEGMENTATION)
        elif self.inputs.y is not None:
            ref["metric"] = self.metric
        if len(self.by_output) > 1:
            ref["outputs"] = {n: {"shape": ["N", *a.shape[1:]], "gate_kind": self.kind(n)}
                              for n, a in self.by_output.items()}
        return ref


def _torch_outputs(model: LoadedModel, x: np.ndarray, batch: int = 8) -> dict[str, np.ndarray]:
    """The compared outputs by name (edgekit/outputs.py: --output, else logits, else every tensor), in order, the
    primary first; the names also go to ``model.output_names`` (the report's model.output). Small batches: a big
    one's activations spill the caches (EfficientNet-Lite0, 64 images at 224x224 on 2 Zen 3 cores: batch 64 3.5 s,
    16 2.1 s, 8 1.6 s)."""
    import torch

    from edgekit.outputs import names, select

    outs: list[list[np.ndarray]] = []
    with torch.no_grad():
        for start in range(0, x.shape[0], batch):
            out = model.module(torch.from_numpy(x[start:start + batch]))
            model.output_names = model.output_names or tuple(names(out, model.output))
            outs.append([t.detach().float().cpu().numpy() for _, t in select(out, model.output)])
    return {name: np.concatenate(parts) for name, parts in zip(model.output_names, zip(*outs))}


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
    from edgekit.outputs import onnx_names

    check_input_names(model, inputs)
    try:
        if model.is_torch:
            by_output, runtime = _torch_outputs(model, inputs.x), "torch eager"
            artifact_names = tuple(onnx_names(list(by_output)))
        else:
            session = backend.open(model.onnx_path, profile)
            artifact_names = tuple(session.output_names)
            by_output = dict(zip(artifact_names, session.run_all(inputs.x)))
            runtime = "onnxruntime (original ONNX)"
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
    reference = Reference(inputs, next(iter(by_output.values())), runtime, by_output, artifact_names,
                          task=getattr(model, "task", None))
    check_task_fits(reference)
    check_labels(inputs, reference.classes, reference.segmentation, reference.outputs)
    return reference


def check_task_fits(reference: Reference) -> None:
    """Semantic segmentation scores N x C x H x W logits (per-pixel argmax, mIoU): a primary output of any other
    shape cannot be scored, so the task is refused before any work rather than failing in the verdict."""
    if reference.task != SEGMENTATION or is_segmentation(reference.outputs):
        return
    name = next(iter(reference.by_output))
    raise OptionError(
        f"--task {SEGMENTATION} scores the model's primary output as N x C x H x W class logits (C >= 2), but its "
        f"output {name!r} has shape {['N', *reference.outputs.shape[1:]]}: per-pixel agreement and mIoU cannot be "
        "computed on it.",
        "Select the segmentation logits with --output NAME (the outputs the model has are listed by `edgekit "
        "inspect`), or pass the --task that fits the model (image-classification, feature-extraction).")


def check_labels(data: Dataset | None, classes: int, segmentation: bool = False,
                 outputs: np.ndarray | None = None) -> None:
    """Labels must be class indices of this model's output, [0, classes): anything else would make every accuracy 0%
    and every drop 0 points, and the budget would pass what it cannot judge. Segmentation: one N x H x W label map
    per sample, the ignore index (255) allowed; per-pixel labels for a model that does not output N x C x H x W
    logits are refused."""
    if data is None or data.y is None:
        return
    y = data.y
    if segmentation or y.ndim == 3:
        shape = None if outputs is None else list(outputs.shape[1:])
        if y.ndim != 3 or not segmentation:
            what = (f"label maps of shape {['N', *y.shape[1:]]}" if y.ndim == 3 else "one label per sample")
            wants = ("semantic segmentation takes one N x H x W map of class indices per sample"
                     if segmentation else f"per-pixel labels need N x C x H x W logits; its output is {shape} per sample")
            raise DataError(f"The labels (y) in {data.source} are {what}, which do not fit this model: {wants}.",
                            "Save y as N x H x W integer class maps (255 = ignore) for a segmentation model, or one "
                            "class index per sample for a classifier (--task semantic-segmentation names the task).")
        bad = ((y < 0) | (y >= classes)) & (y != IGNORE_INDEX)
        if bad.any():
            values = np.unique(y[bad])
            shown = ", ".join(str(int(v)) for v in values[:8]) + (", ..." if len(values) > 8 else "")
            raise DataError(f"The label maps (y) in {data.source} must hold class indices in [0, {classes}) for this "
                            f"model's {classes} classes, or {IGNORE_INDEX} for pixels to ignore, but {int(bad.sum())} "
                            f"pixels of {y.size} do not (values: {shown}).",
                            f"Map every pixel to a class index counted from 0 in the order of the model's classes, "
                            f"and void / unlabelled pixels to {IGNORE_INDEX} (the Hugging Face convention).")
        if not (y != IGNORE_INDEX).any():
            raise DataError(f"The label maps (y) in {data.source} label no pixel: all {y.size} are {IGNORE_INDEX}, the "
                            f"ignore index, so mIoU would be 0 for the original and every variant and the accuracy "
                            f"budget could reject nothing.",
                            f"Give labelled pixels their class index counted from 0 and keep {IGNORE_INDEX} for void / "
                            f"unlabelled pixels only; or leave y out to verify on pixel agreement with the original.")
        return
    bad = (y < 0) | (y >= classes)
    if bad.any():
        values = np.unique(y[bad])
        shown = ", ".join(str(int(v)) for v in values[:8]) + (", ..." if len(values) > 8 else "")
        raise DataError(f"The labels (y) in {data.source} must be class indices in [0, {classes}) for this model's "
                        f"{classes} outputs, but {int(bad.sum())} of {len(y)} are not (values: {shown}).",
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
    session = backend.open(path, profile, emulate_qdq=emulate)
    outputs = run_outputs(session, reference.inputs.x, reference.artifact_names, several=len(reference.by_output) > 1)
    problem = _output_mismatch(reference, outputs)
    if problem:
        result.status, result.reason, result.gate = "rejected", problem, ""
        return result
    checks = compare_outputs(reference, outputs)
    parity = checks[0].parity
    result.parity = parity.to_dict()
    if len(checks) > 1:
        result.parity_by_output = {c.name: {**c.parity.to_dict(), "gate": gate_for(c.kind)} for c in checks}
    if reference.segmentation:
        result.metric = reference.metric
    if reference.accuracy is not None:
        result.metric = reference.metric
        if reference.segmentation:
            scores = segmentation_metrics(outputs[0], reference.inputs.y)
            result.accuracy, result.pixel_accuracy = scores["mIoU"], scores["pixel_accuracy"]
        else:
            result.accuracy = accuracy(outputs[0], reference.inputs.y)
        result.accuracy_drop = reference.accuracy - result.accuracy
    coverage = backend.kernel_coverage(path, profile, path.parent) if precision == "int8" else None
    result.int8_coverage = coverage.to_dict() if coverage else None
    verdict = judge(precision, profile.verify, accuracy_drop=result.accuracy_drop, parity=parity, coverage=coverage,
                    class_scores=reference.class_scores, segmentation=reference.segmentation,
                    metric=reference.metric, others=tuple(checks[1:]),
                    primary_name=checks[0].name if len(checks) > 1 else "")
    result.status, result.reason, result.gate = verdict.status, verdict.reason, verdict.gate
    return result


@dataclass(frozen=True)
class OutputCheck:
    """One compared output: its name, its parity with the original's, and its kind (CLASS_SCORES, ...)."""

    name: str
    parity: Parity
    kind: str = OTHER


def run_outputs(session: Any, x: Any, expected: tuple[str, ...] = (), *, several: bool = False) -> list[np.ndarray]:
    """Every output of the artifact (Session.run_all), in the original's order (``expected``: the names the
    artifact should give them, used only to align, align_outputs; a bundle may not know them), when the original
    has ``several`` selected outputs; just the first (Session.run) for a one-output model, the common case."""
    if several and hasattr(session, "run_all"):
        arrays = list(session.run_all(x))
        names = getattr(session, "output_names", None)
        return align_outputs(list(names), arrays, expected) if names else arrays
    return [session.run(x)]


def _output_mismatch(reference: Reference, outputs: list[np.ndarray]) -> str:
    """Why the artifact's outputs cannot be held to the original's (a count or a shape that differs), or ''."""
    if len(outputs) < len(reference.by_output):
        return (f"the artifact has {len(outputs)} output(s) but the original's selection has "
                f"{len(reference.by_output)} ({', '.join(reference.by_output)}): not every output can be verified")
    for (name, ref), out in zip(reference.by_output.items(), outputs):
        if ref.shape != out.shape:
            return f"output {name!r} has shape {list(out.shape)}, the original's {list(ref.shape)}"
    return ""


def align_outputs(names: list[str], arrays: list[np.ndarray], expected: tuple[str, ...]) -> list[np.ndarray]:
    """The artifact's outputs in the original's order: by name when the artifact names every expected output
    (a runtime that lists outputs in another order), else as they come (the order export wrote them in). The
    deploy runner's rule (runner_common.align_to_references), so the bundle's check pairs outputs as this one does;
    any other outputs follow, and the verdict compares the expected ones only."""
    return align_to_references(arrays, names, list(expected))


def compare_outputs(reference: Reference, outputs: list[np.ndarray]) -> list[OutputCheck]:
    """Parity of each selected output with the original's, in order (the primary first)."""
    x = reference.inputs.x
    checks = []
    for (name, ref), out in zip(reference.by_output.items(), outputs):
        kind = reference.kind(name)
        checks.append(OutputCheck(name, compare(ref, out, x, segmentation=kind == SEGMENTATION_MAP), kind))
    return checks


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
GATE_ACCURACY = "accuracy budget"  # labels: the drop in points of the task metric (top-1 accuracy, mIoU)
GATE_AGREEMENT = "cosine + top-1 agreement"  # no labels, class scores (N x C outputs): parity and the same top-1
GATE_PIXEL = "cosine + pixel agreement"  # no labels, segmentation (N x C x H x W logits): the same class per pixel
GATE_COSINE = "cosine"  # no labels, any other output (embeddings, per-token states, maps): parity only


def gate_for(kind: str, labelled: bool = False) -> str:
    """The gate of an output of this kind (CLASS_SCORES, SEGMENTATION_MAP, OTHER); ``labelled``: the primary output
    with labels, held to the accuracy budget."""
    if labelled:
        return GATE_ACCURACY
    return {CLASS_SCORES: GATE_AGREEMENT, SEGMENTATION_MAP: GATE_PIXEL}.get(kind, GATE_COSINE)


@dataclass(frozen=True)
class Verdict:
    status: str  # "accepted" | "rejected"
    reason: str
    gate: str = ""  # GATE_*: which guard held the outputs


def no_labels_warning(cfg: VerifyConfig, reference: Reference) -> str:
    """The report warning of a run without labels: which gates held the variants instead of the budget."""
    if reference.segmentation:
        gates = (f"{GATE_PIXEL}: mean cosine >= verify.min_cosine {cfg.min_cosine:g} and per-pixel argmax agreement "
                 f"with the original >= verify.min_pixel_agreement {cfg.min_pixel_agreement:g}, the outputs being "
                 f"segmentation logits; pass N x H x W label maps as y to check the budget on mIoU")
    elif reference.class_scores:
        gates = (f"{GATE_AGREEMENT}: mean cosine >= verify.min_cosine {cfg.min_cosine:g} and top-1 agreement with the "
                 f"original >= verify.min_top1_agreement {cfg.min_top1_agreement:g}, the outputs being class scores")
    else:
        why = ("the model being a feature extractor" if reference.task == FEATURE_EXTRACTION else
               f"the outputs {list(reference.outputs.shape[1:])} per sample not being N x C class scores")
        gates = f"{GATE_COSINE}: mean cosine >= verify.min_cosine {cfg.min_cosine:g}; top-1 agreement is not a gate, {why}"
    if len(reference.by_output) > 1:
        gates += f"; each of the {len(reference.by_output)} outputs ({', '.join(reference.by_output)}) held to its own gate"
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
    if (gate == GATE_PIXEL and parity.pixel_agreement is not None and not parity.constant_reference
            and parity.pixel_agreement < cfg.min_pixel_agreement):
        problems.append(f"per-pixel class agreement with the original {parity.pixel_agreement:.1%} is below "
                        f"min_pixel_agreement {cfg.min_pixel_agreement:.1%} (each disagreeing pixel can cost one "
                        f"correct pixel)")
    return problems


def _other_output_problems(cfg: VerifyConfig, checks: tuple[OutputCheck, ...]) -> list[str]:
    """The outputs after the primary, each held to its own parity gate, labels or not (labels score the primary
    output only), each problem naming its output."""
    problems = []
    for check in checks:
        p, gate = check.parity, gate_for(check.kind)
        found = ([] if math.isfinite(p.max_abs) and math.isfinite(p.cosine) else ["outputs contain NaN or Inf"])
        found += _parity_problems(cfg, p, gate)
        problems += [f"output {check.name!r}: {problem} (gate: {gate})" for problem in found]
    return problems


def judge(precision: str, cfg: VerifyConfig, *, accuracy_drop: float | None, parity: Parity,
          coverage: KernelCoverage | None, class_scores: bool = False, segmentation: bool = False,
          metric: str = "accuracy", others: tuple[OutputCheck, ...] = (), primary_name: str = "") -> Verdict:
    """``parity``: the primary output's. ``class_scores``: it is N x C class scores (parity.is_class_scores), so
    without labels the variant is also held to the top-1 agreement floor; ``segmentation``: it is N x C x H x W
    logits, held to the per-pixel agreement floor; with labels ``accuracy_drop`` is in points of ``metric``
    (top-1 accuracy, mIoU). ``others``: every other selected output, each held to its own parity gate; a problem
    names its output (``primary_name``: the primary's name, said when there are several)."""
    gate = (GATE_ACCURACY if accuracy_drop is not None else GATE_PIXEL if segmentation
            else GATE_AGREEMENT if class_scores else GATE_COSINE)
    problems = []
    if not (math.isfinite(parity.max_abs) and math.isfinite(parity.cosine)):
        problems.append("outputs contain NaN or Inf")
    problems += _parity_problems(cfg, parity, gate)
    if accuracy_drop is not None and accuracy_drop > cfg.max_accuracy_drop:
        what = "accuracy" if metric == "top-1 accuracy" else metric
        problems.append(f"{what} drop {accuracy_drop:.2f} points exceeds the budget of {cfg.max_accuracy_drop:g}")
    if primary_name:
        problems = [f"output {primary_name!r}: {problem}" for problem in problems]
    problems += _other_output_problems(cfg, others)
    if precision == "int8" and coverage is not None:
        if coverage.int8_nodes == 0:
            problems.append("no INT8 kernel runs in ONNX Runtime's optimised graph: the file would execute as float")
        elif coverage.ratio < cfg.min_int8_coverage:
            floats = f"; in float: {coverage.describe_float()}" if coverage.float_layers else ""
            # the MAC share when the backend counted MACs (KernelCoverage.basis), else the node share
            problems.append(f"only {coverage.describe_share()}, below min_int8_coverage "
                            f"{cfg.min_int8_coverage:.0%}{floats}")
    # a constant reference (all zeros, say) has no top-1 and a cosine only by convention: said, with max-abs
    constant = (f"; the original's outputs are constant (e.g. all zeros): top-1 agreement not gated, identical rows "
                f"count as cosine 1, max-abs error {parity.max_abs:.3g}") if parity.constant_reference else ""
    also = (f"; every other output held to its parity gate ({', '.join(f'{c.name} cosine {c.parity.cosine:.4f}' for c in others)})"
            if others else "")
    if problems:
        return Verdict("rejected", "; ".join(problems) + constant + f" (gate: {gate})", gate)
    if gate == GATE_ACCURACY:
        what = "accuracy" if metric == "top-1 accuracy" else metric
        return Verdict("accepted", f"{what} drop {accuracy_drop:.2f} <= {cfg.max_accuracy_drop:g} points{also}", gate)
    held = f"cosine {parity.cosine:.4f} >= {cfg.min_cosine:g}"
    if constant:
        held += constant
    elif gate == GATE_AGREEMENT:
        held += f", top-1 agreement {parity.top1_agreement:.1%} >= {cfg.min_top1_agreement:.1%}"
    elif gate == GATE_PIXEL:
        held += f", pixel agreement {parity.pixel_agreement:.1%} >= {cfg.min_pixel_agreement:.1%}"
    else:
        held += f"; top-1 agreement {parity.top1_agreement:.1%} not gated: the outputs are not class scores"
    return Verdict("accepted", f"no labels: accuracy budget not checked; held to {gate} ({held}){also}", gate)
