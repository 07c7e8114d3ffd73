"""What a run starts from: the profile with the user's overrides, the model, the data, checked before any work.

Shared by the drivers (api.compress, sweep): each resolves its inputs here, then hands them to the spine.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.data import Dataset, ImagePreprocessing, load_data, random_data
from edgekit.distill.config import DistillConfig
from edgekit.errors import DataError, ModelLoadError, PipelineError, ShapeMismatchError
from edgekit.models import LoadedModel, load_model
from edgekit.profile import Profile, default_profile_name, load_profile
from edgekit.pruning.config import PruneConfig

log = logging.getLogger(__name__)


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


def input_shape(explicit: Sequence[int] | None, model: LoadedModel, *datasets: Dataset | None) -> tuple[int, ...] | None:
    data_shape = next(((1, *d.sample_shape) for d in datasets if d is not None and d.sample_shape is not None), None)
    if explicit is not None:
        shape = tuple(int(v) for v in explicit)
        if data_shape is not None and tuple(shape[1:]) != tuple(data_shape[1:]):
            raise ShapeMismatchError(f"--input-shape {list(shape)} does not match the data's sample shape "
                                     f"{list(data_shape[1:])}.", "Drop --input-shape or fix the data.")
        return shape
    return data_shape or model.example_shape


def image_prep_for(model: Any, given: ImagePreprocessing | None) -> ImagePreprocessing:
    """How image folders are read for ``model``: the options given, the rest from the model's own preprocessing (a
    Hugging Face folder's preprocessor_config.json), else ImageNet's."""
    prep = (given or ImagePreprocessing()).filled(getattr(model, "image_prep", None))
    if getattr(model, "image_prep", None) is not None:
        log.info("image folders: size %s, mean %s, std %s (%s)", prep.size, prep.mean, prep.std, prep.source)
    return prep


def load_datasets(profile: Profile, calib_data: Any, eval_data: Any, image_prep: ImagePreprocessing | None,
                   seed: int) -> tuple[Dataset | None, Dataset | None]:
    calib = evald = None
    if calib_data is not None:
        calib = load_data(calib_data, limit=profile.quantize.calibration_samples, image_prep=image_prep,
                          what="calibration data").subset(profile.quantize.calibration_samples, seed)
    if eval_data is not None:
        evald = load_data(eval_data, limit=profile.verify.max_samples, image_prep=image_prep,
                          what="evaluation data").subset(profile.verify.max_samples, seed)
    return calib, evald


def require_calibration(profile: Profile, calib: Dataset | None, calib_random: bool,
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


def check_multi_input(model: LoadedModel, profile: Profile, prune: PruneConfig | None,
                       distill: DistillConfig | None, *datasets: Dataset | None) -> None:
    """Multi-input data (named arrays) is supported for ONNX models on ONNX Runtime and OpenVINO: plain
    FP32 + INT8 (PTQ) variants, verified and timed like any other. Say so before any work when asked more."""
    given = [d for d in datasets if d is not None]
    if not any(d.multi_input for d in given):
        return
    if not all(d.multi_input for d in given):
        named = next(d for d in given if d.multi_input)
        single = next(d for d in given if not d.multi_input)
        raise DataError(f"{named.source} holds arrays named {', '.join(sorted(named.x))} and no 'x', while "
                        f"{single.source} holds x: edgekit reads one model input from x, or (a multi-input ONNX "
                        "model) one array per input, named after it, in every data file.",
                        "For a single-input model save x=inputs (and y=labels) in both files.")
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


def training_data(train_data: Any, distill: DistillConfig | None, image_prep: ImagePreprocessing | None
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


def validation_data(val_data: Any, distill: DistillConfig | None, image_prep: ImagePreprocessing | None
                    ) -> Dataset | None:
    """Distillation's validation split (keep-best, early stopping select on it); None: held out of the training data."""
    if val_data is None:
        return None
    if distill is None:
        raise PipelineError("Validation data is only used by distillation (it picks the epoch kept).",
                            "Add --distill, or drop --val-data.")
    return load_data(val_data, image_prep=image_prep, what="validation data")


def with_checkpoint_dir(distill: DistillConfig | None, out: Path) -> DistillConfig | None:
    """Checkpoints live beside --out, not in the bundle's build dir (a killed run deletes that dir)."""
    if distill is None or distill.checkpoint_dir is not None:
        return distill
    out = out.resolve()
    return dataclasses.replace(distill, checkpoint_dir=str(out.parent / f".{out.name}.distill"))


def load_student(student: Any, weights: str | Path | None) -> LoadedModel | None:
    if student is None:
        if weights is not None:
            raise PipelineError("--student-weights without --student.", "Pass --student package.module:factory.")
        return None
    loaded = load_model(student, weights=weights, random_weights=weights is None)  # a student may start fresh
    if not loaded.is_torch or loaded.kind.value in ("exported_program", "torchscript"):
        raise ModelLoadError(f"The student {loaded.source} is a {loaded.kind.value.replace('_', ' ')}: distillation "
                             "trains the student's layers, which a traced graph or ONNX file does not have.",
                             "Pass the student as 'package.module:factory' (or an nn.Module from Python).")
    return loaded


SPAN_RATIO = 10.0  # value spans further apart than this between two data sets: probably scaled differently


def _span(data: Dataset) -> tuple[float, float] | None:
    if data.multi_input or data.random:
        return None
    flat = np.asarray(data.x[:256], dtype=np.float64).reshape(-1)
    return float(np.percentile(flat, 1)), float(np.percentile(flat, 99))


def data_scale_warnings(*named: tuple[str, Dataset | None]) -> list[str]:
    """A warning for each pair of data sets whose value ranges (1st-99th percentile) differ by more than
    SPAN_RATIO x or do not overlap: e.g. calibration in 0..255 and evaluation normalised, which quantizes with
    ranges the model never sees (or judges it on inputs it was not calibrated for)."""
    spans = [(name, span) for name, data in named if data is not None and (span := _span(data)) is not None]
    warnings = []
    for (name_a, (lo_a, hi_a)), (name_b, (lo_b, hi_b)) in zip(spans, spans[1:]):
        wide, narrow = max(hi_a - lo_a, hi_b - lo_b), min(hi_a - lo_a, hi_b - lo_b)
        if wide > SPAN_RATIO * max(narrow, 1e-12) or min(hi_a, hi_b) < max(lo_a, lo_b):
            warnings.append(f"The {name_a} data spans [{lo_a:.3g}, {hi_a:.3g}] (1st-99th percentile) and the "
                            f"{name_b} data [{lo_b:.3g}, {hi_b:.3g}]: they look scaled differently (e.g. 0..255 vs "
                            "normalised); save both as the model was trained on.")
    return warnings


def model_warnings(model: LoadedModel, accuracy: float | None, classes: int) -> list[str]:
    """Random weights on purpose, or an original whose labelled accuracy is near chance (it looks untrained)."""
    warnings = []
    if model.random_weights:
        warnings.append(f"{model.source} ran with RANDOM weights (--random-weights): latency and size are real, "
                        "accuracy and parity figures say nothing about a trained model.")
    chance = 100.0 / classes if classes >= 2 else None
    if accuracy is not None and chance is not None and accuracy < 2 * chance and not model.random_weights:
        warnings.append(f"The original model itself scores {accuracy:.2f}% on the labelled evaluation data, near "
                        f"chance for {classes} classes ({chance:.1f}%): it looks untrained, or the labels or "
                        "preprocessing do not match it. Check --weights and the data before trusting any figure.")
    return warnings


def _dims_text(dims: Sequence[int | None]) -> str:
    return "[" + ", ".join("?" if d is None else str(d) for d in dims) + "]"


def _refuse_integer_images(model: LoadedModel, named: tuple[tuple[str, Dataset | None], ...]) -> None:
    """Integer x for a one-input model that takes floats (a torch model; an ONNX file with one input): the data
    is rarely scaled as in training, and a silent cast would calibrate and judge the model on inputs it never saw.
    (A multi-input ONNX model's checks name its inputs first: compute_reference.)"""
    if not (model.is_torch or model.input_dims is not None):
        return
    for name, data in named:
        if data is not None and data.integer_inputs:
            dtype, values = data.integer_inputs.split(" ", 1)
            raise DataError(f"The {name} data {data.source} holds x as {dtype} (values {values}), and edgekit feeds "
                            f"{model.source} float32: integer images are rarely scaled the way the model was "
                            "trained, and converting them silently would calibrate and judge it on inputs it "
                            "never saw.", "Save x as float32, preprocessed as in training (e.g. "
                            "x.astype('float32') / 255, then the training mean/std).")


def check_data_shapes(model: LoadedModel, *named: tuple[str, Dataset | None]) -> None:
    """Before any work: every single-input data set fits the input the model file fixes (ONNX, .pt2), and a
    .pt2 takes batches (edgekit calibrates, evaluates and benchmarks on batches)."""
    _refuse_integer_images(model, named)
    dims = model.input_dims
    if dims is None:
        return
    for name, data in named:
        if data is None or data.multi_input:
            continue
        sample, expected = tuple(data.sample_shape or ()), tuple(dims[1:])
        if len(sample) != len(expected) or any(e is not None and e != s for e, s in zip(expected, sample)):
            raise ShapeMismatchError(
                f"The {name} data {data.source} has samples of shape {list(sample)}, but {model.source} takes "
                f"inputs of shape {_dims_text(dims)} (N first; ? = any size).",
                "Save the data in the model's input layout and size (N,C,H,W: channels, image size), or re-export "
                "the model for this input size.")
    if model.kind.value == "exported_program" and dims[0] is not None:
        raise ShapeMismatchError(
            f"{model.source} was exported with a fixed batch of {dims[0]}, and edgekit runs the model on batches "
            "(calibration, evaluation, the benchmark's batch sizes).",
            "Re-export it with a dynamic batch: torch.export.export(model, (example,), dynamic_shapes=({0: "
            "torch.export.Dim('batch')},)).")
