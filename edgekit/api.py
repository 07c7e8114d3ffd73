"""The product: compress(), benchmark(), inspect_model(), export(), load_profile().

The CLI is a thin layer over these functions. Heavy libraries (torch, onnxruntime) are
imported inside the functions, never at module import.
"""

from __future__ import annotations

import logging
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgekit.artifact import Artifact, Format
from edgekit.data import load_data
from edgekit.energy.protocol import with_energy
from edgekit.errors import DataError, ModelLoadError, ModelNotFoundError, OptionError, OutputExistsError
from edgekit.models import load_model, peek_kind
from edgekit.pipeline import inputs
from edgekit.pipeline.inputs import resolve_profile
from edgekit.pipeline.options import RunOptions
from edgekit.report.speed import DEFAULT_OBJECTIVE
from edgekit.profile import Profile, load_profile
from edgekit.progress import Progress, progress_for
from edgekit.distill.config import DistillConfig
from edgekit.pruning.config import PruneConfig
from edgekit.report.schema import Report
from edgekit.summary import ModelSummary

if TYPE_CHECKING:
    from edgekit.pruning.run import PruneResult

log = logging.getLogger(__name__)

__all__ = ["compress", "benchmark", "inspect_model", "export", "load_profile", "resolve_profile", "prune",
           "prune_config", "distill_config", "RunOptions"]


def compress(model: Any, profile: str | Path | Profile | None = None, *, out_dir: str | Path, calib_data: Any = None,
             eval_data: Any = None, train_data: Any = None, val_data: Any = None, prune: PruneConfig | None = None,
             distill: DistillConfig | None = None, student: Any = None, student_weights: str | Path | None = None,
             options: RunOptions | None = None, progress: Progress | bool | None = None,
             objective: str = DEFAULT_OBJECTIVE) -> Report:
    """Export, quantize, verify and benchmark ``model`` for ``profile``; write the bundle to ``out_dir``.

    Variants that break the accuracy budget (``options.max_accuracy_drop`` points, on labelled ``eval_data``)
    or whose INT8 kernels do not run are marked rejected and never recommended.
    With ``prune`` (see ``prune_config``), each precision is also built from the pruned model.
    With ``distill`` (see ``distill_config``) and ``train_data``, the pruned model, or ``student``
    ('package.module:factory' [+ ``student_weights``]), is distilled from the original before export, keeping the
    epoch best on ``val_data`` (default: a seeded ``distill.val_fraction`` of ``train_data`` held out), never on
    ``eval_data``, which judges the variants;
    with ``distill.qat`` an extra ``*int8-qat`` variant is fine-tuned fake-quantized against the original
    (from the distilled student, or from the original itself when neither prune nor student is given);
    under ``torchrun`` the distillation runs data-parallel and only rank 0 writes ``out_dir``.
    ``objective`` (latency | throughput | size | energy): what the recommended variant is best at; ties within
    the timing noise go to the smaller artifact, and report.recommended_reason says which rule chose.
    ``options`` (a RunOptions): the model's weights, the seed, --force, and the profile overrides (accuracy
    budget, batch sizes, INT8 recipe, energy meter). ``progress``: bars on stderr as the CLI draws them (default),
    False for silence, or your own edgekit.progress.Progress. ``print(report.summary())`` shows the result table.
    """
    from edgekit.backends import get_backend
    from edgekit.pipeline.bundle import check_output
    from edgekit.pipeline.compress import CompressJob
    from edgekit.pipeline.plan import check_requests

    opts = RunOptions.of(options)
    kind = peek_kind(model)  # what was asked must fit the model, checked before anything is loaded
    if kind is not None:
        check_requests(kind.value, prune, distill, student)
    prof = opts.profile(profile)
    check_objective(objective, prof)
    out = Path(out_dir)
    check_output(out, opts.force)
    backend = get_backend(prof.target.backend)
    with progress_for(progress) as bar:
        bar.start("inputs", f"loading {model if isinstance(model, (str, Path)) else type(model).__name__} and data")
        loaded = load_model(model, weights=opts.weights, trust_pickle=opts.trust_pickle,
                            random_weights=opts.random_weights, output=opts.output, task=opts.task)
        prep = inputs.image_prep_for(loaded, opts.image_prep)
        calib, evald = inputs.load_datasets(prof, calib_data, eval_data, prep, opts.seed)
        train = inputs.training_data(train_data, distill, prep)
        val = inputs.validation_data(val_data, distill, prep)
        inputs.check_multi_input(loaded, prof, prune, distill, calib, evald)
        inputs.check_data_shapes(loaded, ("calibration", calib), ("evaluation", evald), ("training", train))
        shape = inputs.input_shape(opts.input_shape, loaded, calib, evald, train)
        calib = inputs.require_calibration(prof, calib, opts.calib_random, shape, opts.seed)
        bar.finish("inputs")
        job = CompressJob(loaded, prof, backend, calib, evald, shape, opts.seed, bar, command=list(sys.argv),
                          prune=prune, train=train, val=val, distill=inputs.with_checkpoint_dir(distill, out),
                          student=inputs.load_student(student, student_weights), objective=objective)
        return job.run(out, opts.force)


def check_objective(objective: str, profile: Profile) -> None:
    from edgekit.report.speed import OBJECTIVES

    if objective not in OBJECTIVES:
        raise OptionError(f"Unknown objective {objective!r}.", f"Choose from {', '.join(OBJECTIVES)}.")
    if objective == "energy" and profile.benchmark.energy_meter in ("none", "estimate"):
        raise OptionError("--objective energy needs measured energy, and the profile measures none.",
                          "Pass --energy auto (or a meter: rapl, jetson, tegrastats, nvml).")


def distill_config(**settings: Any) -> DistillConfig:
    """A DistillConfig from keyword settings, any of its fields (its defaults are the only ones, also for the CLI):
    e.g. ``distill_config(epochs=20, lr=3e-4, hints=["conv2:conv2"], qat=True)``. A bad or unknown setting raises
    OptionError (exit 2) naming it.

    ``qat``: also build the INT8 variant by quantization-aware distillation (``qat_epochs`` of fake-quantized
    fine-tuning against the original at ``qat_lr``, default ``lr / 10``), next to the post-training one."""
    from dataclasses import fields

    known = [f.name for f in fields(DistillConfig)]
    unknown = sorted(set(settings) - set(known))
    if unknown:
        raise OptionError(f"Unknown distillation setting(s): {', '.join(unknown)}.", f"Known: {', '.join(known)}.")
    for name in ("hints", "augment"):
        if name in settings:
            settings[name] = tuple(settings[name])
    if settings.get("checkpoint_dir") is not None:
        settings["checkpoint_dir"] = str(settings["checkpoint_dir"])
    try:
        return DistillConfig(**settings)
    except ValueError as exc:
        raise OptionError(f"Invalid distillation option: {exc}.",
                            "See `edgekit compress --help` (distillation options).") from exc


def prune_config(profile: str | Path | Profile | None = None, *, ratio: float | None = None,
                 target_macs: float | None = None, target_params: float | None = None,
                 mode: str = PruneConfig.mode.value, scope: str | None = None, importance: str | None = None,
                 steps: int | None = None, round_to: int | None = None,
                 ignored_layers: Sequence[str] | None = None, layer_ratios: dict[str, float] | None = None,
                 skip_unsupported: bool = False) -> PruneConfig:
    """A PruneConfig: explicit arguments, else the profile's [prune] defaults for its target."""
    from edgekit.pruning.config import Importance, PruneMode, Scope

    from edgekit.hardware import channel_multiple

    prof = resolve_profile(profile)
    defaults = prof.prune
    try:
        return PruneConfig(
            ratio=ratio, target_macs=target_macs, target_params=target_params, mode=PruneMode(mode), scope=Scope(scope or defaults.scope),
            importance=Importance(importance or defaults.importance), steps=steps or defaults.steps,
            round_to=round_to or defaults.round_to or channel_multiple(prof.target.isa), ignored_layers=tuple(ignored_layers) if ignored_layers else None,
            layer_ratios=dict(layer_ratios or {}), skip_unsupported=skip_unsupported,
            max_layer_sparsity=defaults.max_layer_sparsity, max_channel_ratio=defaults.max_channel_ratio,
            recalibrate_bn=defaults.recalibrate_bn)
    except ValueError as exc:
        raise OptionError(f"Invalid pruning option: {exc}.",
                            "Modes: structured, unstructured, 2:4; scopes: uniform, global; "
                            "importance: l1, l2, group_norm, taylor.") from exc


def prune(model: Any, example: Any, config: PruneConfig, *, calib_x: Any = None, calib_y: Any = None) -> PruneResult:
    """Prune an nn.Module (a copy; the argument is untouched). ``example``: one input batch (or a tuple)."""
    from edgekit.pruning.run import prune_module

    return prune_module(model, example, config, calib_x=calib_x, calib_y=calib_y)


def benchmark(artifact: str | Path, profile: str | Path | Profile | None = None, *, data: Any = None,
              batch_sizes: Sequence[int] | None = None, energy: str | None = None,
              energy_seconds: float | None = None, tdp_watts: float | None = None,
              progress: Progress | bool | None = None) -> dict[str, Any]:
    """Latency/throughput/peak RSS of one compiled artifact (.onnx; OpenVINO also .xml IR) with the profile's
    runtime settings, its hardware efficiency (GOP/s at the best batch against this host's peak: "efficiency")
    and its energy per inference (``energy``: a meter name, "auto", "none", or "estimate"
    with ``tdp_watts``). Without ``data`` the runner times random inputs of the model's own input shape."""
    from edgekit.bench.efficiency import bench_efficiency
    from edgekit.bench.latency import run_benchmark, settings_from_profile
    from edgekit.energy.protocol import EnergySettings, plan_energy
    from edgekit.hardware import detect

    prof = with_energy(resolve_profile(profile, batch_sizes=batch_sizes), meter=energy, seconds=energy_seconds,
                       tdp_watts=tdp_watts)
    _check_artifact(Path(artifact), prof.target.backend)
    sample = None if data is None else load_data(data, limit=max(prof.benchmark.batch_sizes), what="benchmark data").x
    settings = settings_from_profile(prof)
    with progress_for(progress) as bar:
        plan = plan_energy(EnergySettings.from_profile(prof), progress=bar)
        result = run_benchmark(prof.target.backend, Path(artifact), sample, settings, progress=bar,
                               energy=plan.session)
    return {**result, "profile": prof.name, "settings": settings.__dict__, "random_inputs": data is None,
            "energy": plan.report(result),
            "efficiency": bench_efficiency(Path(artifact), result, detect(), prof.target.threads, prof.target.isa)}


def _check_artifact(path: Path, backend: str) -> None:
    if not path.is_file():
        raise ModelNotFoundError(f"Artifact {path} does not exist.", "Pass the path of a compiled model.")
    from edgekit.backends import backend_spec
    from edgekit.pipeline.bundle import artifact_files
    from edgekit.pipeline.verify_bundle import check_in_bundle

    check_in_bundle(artifact_files(path))  # a file of a bundle must match its manifest.json before anything runs
    suffixes = backend_spec(backend).artifact_suffixes
    if path.suffix.lower() not in suffixes:
        raise DataError(f"{path} is not an artifact the {backend} backend runs ({', '.join(suffixes)}).",
                        "edgekit bench times compiled artifacts; export torch models first (edgekit compress/export).")
    if path.suffix.lower() == ".onnx":
        load_model(path)  # a corrupt file gets a clear error here, not from the runner


def export(model: Any, out: str | Path, *, input_shape: Sequence[int] | None = None, weights: str | Path | None = None,
           trust_pickle: bool = False, opset: int = 17, force: bool = False, random_weights: bool = False,
           output: str | None = None, task: str | None = None) -> Path:
    """Export a torch model (a module, a file, 'module:factory', a Hugging Face folder loaded for ``task``) to FP32
    ONNX (dynamic batch) at ``out``; written to a temp file, then renamed. ``output``: which of the model's outputs
    become the ONNX outputs (edgekit/outputs.py; default: logits when there is one, else every tensor)."""
    from edgekit.stages.export import ExportConfig, ExportStage

    target = Path(out)
    if target.exists() and not force:
        raise OutputExistsError(f"{target} already exists.", "Choose another --out, or pass --force to replace it.")
    loaded = load_model(model, weights=weights, trust_pickle=trust_pickle, random_weights=random_weights,
                        output=output, task=task)
    if not loaded.is_torch:
        raise ModelLoadError(f"{model} is already an ONNX model.", "export converts torch models to ONNX.")
    shape = inputs.input_shape(input_shape, loaded)
    if shape is None:
        raise DataError("export needs the model's input shape.", "Pass --input-shape, e.g. 1,3,224,224.")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{target.name}.", dir=target.parent) as tmp:
        source = Artifact(Format.TORCH, None, {"module": loaded.module, "exported_program": loaded.exported_program})
        artifact = ExportStage(ExportConfig(tuple(shape), opset, output=loaded.output)).export(source, Path(tmp))
        artifact.path.replace(target)
    return target


def inspect_model(model: Any, *, input_shape: Sequence[int] | None = None, weights: str | Path | None = None,
                  trust_pickle: bool = False, output: str | None = None, task: str | None = None) -> ModelSummary:
    """Parameters, MACs, layer table, input/output shapes (counted on the ONNX graph; weights do not matter).
    ``output`` / ``task``: as for ``export``."""
    from edgekit.summary import summarize_onnx

    loaded = load_model(model, weights=weights, trust_pickle=trust_pickle, random_weights=weights is None,
                        output=output, task=task)
    if loaded.onnx_path is not None:
        return summarize_onnx(loaded.onnx_path)
    with tempfile.TemporaryDirectory(prefix="edgekit-inspect-") as tmp:
        path = export(loaded.module if loaded.exported_program is None else model, Path(tmp) / "model.onnx",
                      input_shape=input_shape or loaded.example_shape, weights=None, random_weights=True,
                      output=output)
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
                 progress: Progress | bool | None = None) -> Report:
    """On the device: build, verify and benchmark the TensorRT engines of a bundle (see edgekit.pipeline.build_engine)."""
    from edgekit.pipeline.build_engine import build_engines

    with progress_for(progress) as bar:
        return build_engines(bundle, variants=tuple(variants), force=force, progress=bar)
