"""The product: compress(), benchmark(), inspect_model(), export(), load_profile().

The CLI is a thin layer over these functions. Heavy libraries (torch, onnxruntime) are
imported inside the functions, never at module import.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgekit.artifact import Artifact, Format
from edgekit.data import Dataset, ImagePreprocessing, load_data, random_data
from edgekit.energy.protocol import with_energy
from edgekit.errors import (DataError, ModelLoadError, ModelNotFoundError, OutputExistsError, PipelineError,
                            ShapeMismatchError)
from edgekit.models import LoadedModel, load_model
from edgekit.profile import Profile, default_profile_name, load_profile
from edgekit.progress import NullProgress, Progress
from edgekit.distill.config import DistillConfig
from edgekit.pruning.config import PruneConfig
from edgekit.report.schema import Report
from edgekit.summary import ModelSummary

if TYPE_CHECKING:
    from edgekit.pruning.run import PruneResult

log = logging.getLogger(__name__)

__all__ = ["compress", "benchmark", "inspect_model", "export", "load_profile", "resolve_profile", "prune",
           "prune_config", "distill_config"]


def resolve_profile(profile: str | Path | Profile | None, *, max_accuracy_drop: float | None = None,
                    batch_sizes: Sequence[int] | None = None) -> Profile:
    """A Profile from a name/path/object (None = this host's default), with overrides applied."""
    if not isinstance(profile, Profile):
        profile = load_profile(profile or default_profile_name())
    if max_accuracy_drop is not None:
        profile = profile.replace_section("verify", max_accuracy_drop=float(max_accuracy_drop))
    if batch_sizes:
        profile = profile.replace_section("benchmark", batch_sizes=[int(b) for b in batch_sizes])
    return profile


def _input_shape(explicit: Sequence[int] | None, model: LoadedModel, *datasets: Dataset | None) -> tuple[int, ...] | None:
    data_shape = next(((1, *d.sample_shape) for d in datasets if d is not None and d.sample_shape is not None), None)
    if explicit is not None:
        shape = tuple(int(v) for v in explicit)
        if data_shape is not None and tuple(shape[1:]) != tuple(data_shape[1:]):
            raise ShapeMismatchError(f"--input-shape {list(shape)} does not match the data's sample shape "
                                     f"{list(data_shape[1:])}.", "Drop --input-shape or fix the data.")
        return shape
    return data_shape or model.example_shape


def _load_datasets(profile: Profile, calib_data: Any, eval_data: Any, image_prep: ImagePreprocessing | None,
                   seed: int) -> tuple[Dataset | None, Dataset | None]:
    calib = evald = None
    if calib_data is not None:
        calib = load_data(calib_data, limit=profile.quantize.calibration_samples, image_prep=image_prep,
                          what="calibration data").subset(profile.quantize.calibration_samples, seed)
    if eval_data is not None:
        evald = load_data(eval_data, limit=profile.verify.max_samples, image_prep=image_prep,
                          what="evaluation data").subset(profile.verify.max_samples, seed)
    return calib, evald


def _require_calibration(profile: Profile, calib: Dataset | None, calib_random: bool,
                         shape: tuple[int, ...] | None, seed: int) -> Dataset | None:
    if "int8" not in profile.compile.precisions or calib is not None:
        return calib
    if not calib_random:
        raise DataError(
            "INT8 quantization needs calibration data: the INT8 ranges are measured on it, and ranges from "
            "made-up inputs can silently cost many points of accuracy.",
            "Pass --calib-data (a .npz with x, an image folder, or module:callable) with a few hundred "
            "representative inputs, or --calib-random to accept random calibration (flagged in the report).",
        )
    if shape is None:
        raise DataError("--calib-random needs the input shape.", "Pass --input-shape, e.g. 1,3,224,224.")
    return random_data(shape, min(64, profile.quantize.calibration_samples), seed)


def compress(model: Any, profile: str | Path | Profile | None = None, *, calib_data: Any = None,
             eval_data: Any = None, out_dir: str | Path, weights: str | Path | None = None,
             trust_pickle: bool = False, calib_random: bool = False, input_shape: Sequence[int] | None = None,
             max_accuracy_drop: float | None = None, batch_sizes: Sequence[int] | None = None,
             image_prep: ImagePreprocessing | None = None, seed: int = 0, force: bool = False,
             prune: PruneConfig | None = None, energy: str | None = None, energy_seconds: float | None = None,
             tdp_watts: float | None = None, progress: Progress | None = None, train_data: Any = None,
             distill: DistillConfig | None = None, student: Any = None,
             student_weights: str | Path | None = None) -> Report:
    """Export, quantize, verify and benchmark ``model`` for ``profile``; write the bundle to ``out_dir``.

    Variants that break the accuracy budget (``max_accuracy_drop`` points, on labelled
    ``eval_data``) or whose INT8 kernels do not run are marked rejected and never recommended.
    With ``prune`` (see ``prune_config``), each precision is also built from the pruned model.
    With ``distill`` (see ``distill_config``) and ``train_data``, the pruned model, or ``student``
    ('package.module:factory' [+ ``student_weights``]), is distilled from the original before export;
    with ``distill.qat`` an extra ``*int8-qat`` variant is fine-tuned fake-quantized against the original
    (from the distilled student, or from the original itself when neither prune nor student is given);
    under ``torchrun`` the distillation runs data-parallel and only rank 0 writes ``out_dir``.
    ``energy`` (a meter name, "auto", "none" or "estimate" with ``tdp_watts``) and ``energy_seconds``
    override the profile's energy measurement (edgekit.energy).
    """
    from edgekit.backends import get_backend
    from edgekit.pipeline.bundle import check_output
    from edgekit.pipeline.compress import CompressJob

    prof = resolve_profile(profile, max_accuracy_drop=max_accuracy_drop, batch_sizes=batch_sizes)
    prof = with_energy(prof, meter=energy, seconds=energy_seconds, tdp_watts=tdp_watts)
    out = Path(out_dir)
    check_output(out, force)
    backend = get_backend(prof.target.backend)
    loaded = load_model(model, weights=weights, trust_pickle=trust_pickle)
    calib, evald = _load_datasets(prof, calib_data, eval_data, image_prep, seed)
    train = _training_data(train_data, distill, image_prep)
    _check_multi_input(loaded, prof, prune, distill, calib, evald)
    shape = _input_shape(input_shape, loaded, calib, evald, train)
    calib = _require_calibration(prof, calib, calib_random, shape, seed)
    job = CompressJob(loaded, prof, backend, calib, evald, shape, seed, progress or NullProgress(),
                      command=list(sys.argv), prune=prune, train=train,
                      distill=_with_checkpoint_dir(distill, out), student=_load_student(student, student_weights))
    return job.run(out, force)


def _check_multi_input(model: LoadedModel, profile: Profile, prune: PruneConfig | None,
                       distill: DistillConfig | None, *datasets: Dataset | None) -> None:
    """Multi-input data (named arrays) is supported for ONNX models on ONNX Runtime and OpenVINO: plain
    FP32 + INT8 (PTQ) variants, verified and timed like any other. Say so before any work when asked more."""
    given = [d for d in datasets if d is not None]
    if not any(d.multi_input for d in given):
        return
    if not all(d.multi_input for d in given):
        raise DataError("The calibration and evaluation data disagree: one is named arrays (a multi-input model), "
                        "the other a single array.", "Save both the same way, one array per model input.")
    names = [sorted(d.x) for d in given]
    if any(n != names[0] for n in names):
        raise DataError(f"The calibration and evaluation data name different inputs ({' vs '.join(map(str, names))}).",
                        "Save both with one array per model input, named after it.")
    if model.is_torch:
        source = next(d.source for d in given if d.multi_input)
        raise DataError(f"The data from {source} has no array named 'x' but {', '.join(names[0])}: for a torch "
                        f"model ({model.source}) edgekit reads the inputs from x (and labels from y). Named "
                        "arrays, one per input, are for multi-input ONNX models.",
                        "Save it with np.savez(path, x=inputs, y=labels); for a multi-input model export it to "
                        "ONNX with input_names matching the arrays (torch.onnx.export(..., input_names=[...])).")
    blockers = []
    if prune is not None:
        blockers.append("pruning (--prune) needs a torch model")
    if distill is not None:
        blockers.append("distillation (--distill) needs a torch model")
    from edgekit.backends import backend_spec

    if not backend_spec(profile.target.backend).multi_input:
        blockers.append(f"the {profile.target.backend} bundle and runner feed single-input models "
                        "(use a cpu-onnxruntime, arm64-onnxruntime or OpenVINO profile)")
    if blockers:
        raise PipelineError(f"Multi-input models (data with named arrays: {', '.join(names[0])}) are supported "
                            "for ONNX models on ONNX Runtime and OpenVINO, FP32 and INT8; here " + "; ".join(blockers)
                            + ".", "Pass the model as .onnx without --prune/--distill, with an ONNX Runtime or "
                                   "OpenVINO profile.")


def _training_data(train_data: Any, distill: DistillConfig | None, image_prep: ImagePreprocessing | None
                   ) -> Dataset | None:
    from edgekit.distill.distributed import env_world_size

    if distill is None:
        if train_data is not None:
            raise PipelineError("Training data is only used by distillation.", "Add --distill, or drop --train-data.")
        if env_world_size() > 1:
            raise PipelineError("Only distillation runs data-parallel: under torchrun every process would write "
                                "the same bundle.", "Run compress without torchrun, or add --distill.")
        return None
    if train_data is None:
        what = "Quantization-aware distillation (--qat)" if distill.qat else "Distillation"
        raise DataError(f"{what} needs training data (the student learns from the teacher's outputs on it; "
                        "labels are optional).", "Pass --train-data: a .npz with x[, y], an image folder, or "
                        "package.module:callable.")
    return load_data(train_data, image_prep=image_prep, what="training data")


def _with_checkpoint_dir(distill: DistillConfig | None, out: Path) -> DistillConfig | None:
    """Checkpoints live beside --out, not in the bundle's build dir (a killed run deletes that dir)."""
    if distill is None or distill.checkpoint_dir is not None:
        return distill
    out = out.resolve()
    return dataclasses.replace(distill, checkpoint_dir=str(out.parent / f".{out.name}.distill"))


def _load_student(student: Any, weights: str | Path | None) -> LoadedModel | None:
    if student is None:
        if weights is not None:
            raise PipelineError("--student-weights without --student.", "Pass --student package.module:factory.")
        return None
    loaded = load_model(student, weights=weights)
    if not loaded.is_torch or loaded.kind.value in ("exported_program", "torchscript"):
        raise ModelLoadError(f"The student {loaded.source} is a {loaded.kind.value.replace('_', ' ')}: distillation "
                             "trains the student's layers, which a traced graph or ONNX file does not have.",
                             "Pass the student as 'package.module:factory' (or an nn.Module from Python).")
    return loaded


def distill_config(*, epochs: int = 10, steps: int | None = None, batch_size: int = 64, optimizer: str = "adamw",
                   lr: float = 1e-3, weight_decay: float = 1e-4, warmup: float = 0.05, grad_clip: float = 5.0,
                   temperature: float = 4.0, alpha: float = 0.7, use_labels: bool = True,
                   hints: Sequence[str] = (), hint_weight: float = 1.0, patience: int = 0, keep_best: bool = True,
                   checkpoint_every: int = 0, checkpoint_dir: str | Path | None = None, resume: bool = False,
                   augment: Sequence[str] = (), device: str = "auto", seed: int | None = None, qat: bool = False,
                   qat_epochs: int = 3, qat_lr: float | None = None) -> DistillConfig:
    """A DistillConfig from plain values; a bad value raises PipelineError naming it.

    ``qat``: also build the INT8 variant by quantization-aware distillation (``qat_epochs`` of fake-quantized
    fine-tuning against the original at ``qat_lr``, default ``lr / 10``), next to the post-training one."""
    try:
        return DistillConfig(epochs=epochs, steps=steps, batch_size=batch_size, optimizer=optimizer, lr=lr,
                             weight_decay=weight_decay, warmup=warmup, grad_clip=grad_clip, temperature=temperature,
                             alpha=alpha, use_labels=use_labels, hints=tuple(hints), hint_weight=hint_weight,
                             patience=patience, keep_best=keep_best, checkpoint_every=checkpoint_every,
                             checkpoint_dir=str(checkpoint_dir) if checkpoint_dir else None, resume=resume,
                             augment=tuple(augment), device=device, seed=seed, qat=qat, qat_epochs=qat_epochs,
                             qat_lr=qat_lr)
    except ValueError as exc:
        raise PipelineError(f"Invalid distillation option: {exc}.",
                            "See `edgekit compress --help` (distillation options).") from exc


def prune_config(profile: str | Path | Profile | None = None, *, ratio: float | None = None,
                 target_macs: float | None = None, target_params: float | None = None, mode: str = "structured", scope: str | None = None,
                 importance: str | None = None, steps: int | None = None, round_to: int | None = None,
                 ignored_layers: Sequence[str] | None = None, layer_ratios: dict[str, float] | None = None,
                 skip_unsupported: bool = False) -> PruneConfig:
    """A PruneConfig: explicit arguments, else the profile's [prune] defaults for its target."""
    from edgekit.pruning.config import Importance, PruneMode, Scope

    defaults = resolve_profile(profile).prune
    try:
        return PruneConfig(
            ratio=ratio, target_macs=target_macs, target_params=target_params, mode=PruneMode(mode), scope=Scope(scope or defaults.scope),
            importance=Importance(importance or defaults.importance), steps=steps or defaults.steps,
            round_to=round_to or defaults.round_to, ignored_layers=tuple(ignored_layers) if ignored_layers else None,
            layer_ratios=dict(layer_ratios or {}), skip_unsupported=skip_unsupported,
            max_layer_sparsity=defaults.max_layer_sparsity, max_channel_ratio=defaults.max_channel_ratio,
            recalibrate_bn=defaults.recalibrate_bn)
    except ValueError as exc:
        raise PipelineError(f"Invalid pruning option: {exc}.",
                            "Modes: structured, unstructured, 2:4; scopes: uniform, global; "
                            "importance: l1, l2, group_norm, taylor.") from exc


def prune(model: Any, example: Any, config: PruneConfig, *, calib_x: Any = None, calib_y: Any = None) -> PruneResult:
    """Prune an nn.Module (a copy; the argument is untouched). ``example``: one input batch (or a tuple)."""
    from edgekit.pruning.run import prune_module

    return prune_module(model, example, config, calib_x=calib_x, calib_y=calib_y)


def benchmark(artifact: str | Path, profile: str | Path | Profile | None = None, *, data: Any = None,
              batch_sizes: Sequence[int] | None = None, energy: str | None = None,
              energy_seconds: float | None = None, tdp_watts: float | None = None,
              progress: Progress | None = None) -> dict[str, Any]:
    """Latency/throughput/peak RSS of one compiled artifact (.onnx; OpenVINO also .xml IR) with the profile's
    runtime settings, and its energy per inference (``energy``: a meter name, "auto", "none", or "estimate"
    with ``tdp_watts``). Without ``data`` the runner times random inputs of the model's own input shape."""
    from edgekit.bench.latency import run_benchmark, settings_from_profile
    from edgekit.energy.protocol import EnergySettings, plan_energy

    prof = with_energy(resolve_profile(profile, batch_sizes=batch_sizes), meter=energy, seconds=energy_seconds,
                       tdp_watts=tdp_watts)
    _check_artifact(Path(artifact), prof.target.backend)
    sample = None if data is None else load_data(data, limit=max(prof.benchmark.batch_sizes), what="benchmark data").x
    settings = settings_from_profile(prof)
    plan = plan_energy(EnergySettings.from_profile(prof), progress=progress)
    result = run_benchmark(prof.target.backend, Path(artifact), sample, settings, progress=progress,
                           energy=plan.session)
    return {**result, "profile": prof.name, "settings": settings.__dict__, "random_inputs": data is None,
            "energy": plan.report(result)}


def _check_artifact(path: Path, backend: str) -> None:
    if not path.is_file():
        raise ModelNotFoundError(f"Artifact {path} does not exist.", "Pass the path of a compiled model.")
    from edgekit.backends import backend_spec

    suffixes = backend_spec(backend).artifact_suffixes
    if path.suffix.lower() not in suffixes:
        raise DataError(f"{path} is not an artifact the {backend} backend runs ({', '.join(suffixes)}).",
                        "edgekit bench times compiled artifacts; export torch models first (edgekit compress/export).")
    if path.suffix.lower() == ".onnx":
        load_model(path)  # a corrupt file gets a clear error here, not from the runner


def export(model: Any, out: str | Path, *, input_shape: Sequence[int] | None = None, weights: str | Path | None = None,
           trust_pickle: bool = False, opset: int = 17, force: bool = False) -> Path:
    """Export a torch model to FP32 ONNX (dynamic batch) at ``out``; written to a temp file, then renamed."""
    from edgekit.stages.export import ExportConfig, ExportStage

    target = Path(out)
    if target.exists() and not force:
        raise OutputExistsError(f"{target} already exists.", "Choose another --out, or pass --force to replace it.")
    loaded = load_model(model, weights=weights, trust_pickle=trust_pickle)
    if not loaded.is_torch:
        raise ModelLoadError(f"{model} is already an ONNX model.", "export converts torch models to ONNX.")
    shape = _input_shape(input_shape, loaded)
    if shape is None:
        raise DataError("export needs the model's input shape.", "Pass --input-shape, e.g. 1,3,224,224.")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{target.name}.", dir=target.parent) as tmp:
        source = Artifact(Format.TORCH, None, {"module": loaded.module, "exported_program": loaded.exported_program})
        artifact = ExportStage(ExportConfig(tuple(shape), opset)).export(source, Path(tmp))
        artifact.path.replace(target)
    return target


def inspect_model(model: Any, *, input_shape: Sequence[int] | None = None, weights: str | Path | None = None,
                  trust_pickle: bool = False) -> ModelSummary:
    """Parameters, MACs, layer table, input/output shapes (counted on the ONNX graph)."""
    from edgekit.summary import summarize_onnx

    loaded = load_model(model, weights=weights, trust_pickle=trust_pickle)
    if loaded.onnx_path is not None:
        return summarize_onnx(loaded.onnx_path)
    with tempfile.TemporaryDirectory(prefix="edgekit-inspect-") as tmp:
        path = export(loaded.module if loaded.exported_program is None else model, Path(tmp) / "model.onnx",
                      input_shape=input_shape or loaded.example_shape, weights=None)
        return summarize_onnx(path)


def tensorrt_rules(model: str | Path) -> Any:
    """Check an ONNX file against TensorRT's explicit-quantization rules (edgekit.backends.tensorrt.rules); no GPU needed."""
    from edgekit.backends.tensorrt.rules import check_tensorrt_rules

    path = Path(model)
    if not path.is_file():
        raise ModelNotFoundError(f"ONNX file {path} does not exist.", "Check the path.")
    if path.suffix.lower() != ".onnx":
        raise ModelLoadError(f"--tensorrt-rules checks ONNX files; {path} is not one.",
                             "Export it first (edgekit export MODEL --out model.onnx), or pass a bundle's "
                             "deploy/model-int8.onnx.")
    try:
        return check_tensorrt_rules(path)
    except Exception as exc:
        raise ModelLoadError(f"Cannot read {path} as ONNX: {str(exc).splitlines()[0][:300]}.",
                             "Check that the file is a complete ONNX model.") from exc


def build_engine(bundle: str | Path, *, variants: Sequence[str] = (), force: bool = False,
                 progress: Progress | None = None) -> Report:
    """On the device: build, verify and benchmark the TensorRT engines of a bundle (see edgekit.pipeline.build_engine)."""
    from edgekit.pipeline.build_engine import build_engines

    return build_engines(bundle, variants=tuple(variants), force=force, progress=progress)
