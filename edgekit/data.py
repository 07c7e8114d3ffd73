"""Calibration / evaluation data: a ``.npz`` (``x``, optional ``y``), an image folder with one
sub-folder per class, or ``package.module:callable`` returning an iterable of batches.

Everything is materialised as numpy arrays with N first: calibration and evaluation sets for
edge models are small, and every backend consumes numpy. A one-input model's data is one float32
array; a multi-input model's (a tokenized transformer) is a dict of arrays named after the model's
inputs (a .npz without ``x``: every array but ``y`` is an input), integer ids kept as integers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.artifact import sha256_path
from edgekit.deploy.runner_common import count, take
from edgekit.errors import DataError, DataNotFoundError
from edgekit.imageprep import ImagePreprocessing
from edgekit.specs import import_attr, is_spec

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


@dataclass
class Dataset:
    x: Any  # np.ndarray, or dict[str, np.ndarray] (multi-input): N first
    y: np.ndarray | None = None
    source: str = "<array>"
    sha256: str | None = None
    random: bool = False
    notes: list[str] = field(default_factory=list)
    # single-array data given as integers (e.g. 0..255 images): "uint8 0..255"; inputs.check_data_shapes refuses
    # it for a model that takes floats
    integer_inputs: str | None = None

    def __len__(self) -> int:
        return count(self.x)

    @property
    def multi_input(self) -> bool:
        return isinstance(self.x, dict)

    @property
    def sample_shape(self) -> tuple[int, ...] | None:
        """One sample's shape (N dropped); None for multi-input data."""
        return None if self.multi_input else tuple(self.x.shape[1:])

    def head(self, n: int) -> Any:
        """The first ``n`` samples' inputs."""
        return take(self.x, slice(0, n))

    def subset(self, limit: int, seed: int) -> Dataset:
        """At most ``limit`` samples, drawn without replacement with a fixed seed."""
        if len(self) <= limit:
            return self
        index = np.sort(np.random.default_rng(seed).choice(len(self), size=limit, replace=False))
        y = self.y[index] if self.y is not None else None
        return Dataset(take(self.x, index), y, self.source, self.sha256, self.random, list(self.notes),
                       self.integer_inputs)

    def describe(self) -> dict[str, Any]:
        shape: Any = ({k: list(v.shape[1:]) for k, v in self.x.items()} if self.multi_input
                      else list(self.x.shape[1:]))
        return {"source": self.source, "samples": len(self), "shape": shape,
                "labels": self.y is not None, "sha256": self.sha256, "random": self.random,
                **({"notes": list(self.notes)} if self.notes else {})}


def _as_array(value: Any, what: str, source: str) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor, without importing torch here
        value = value.detach().cpu().numpy()
    try:
        return np.asarray(value)
    except Exception as exc:
        raise DataError(f"Data {source}: cannot read {what} as an array ({exc}).",
                        "Return numpy arrays or torch tensors.") from exc


def _finish_named(x: dict[str, Any], y: np.ndarray | None, source: str, digest: str | None) -> Dataset:
    """A multi-input dataset: every array numeric with the same N; floats as float32, integers as int64."""
    arrays = {}
    for name, value in x.items():
        array = _as_array(value, f"input '{name}'", source)
        if array.ndim < 1 or array.shape[0] == 0 or not (np.issubdtype(array.dtype, np.number)
                                                         or array.dtype == np.bool_):
            raise DataError(f"Data {source}: input '{name}' has shape {tuple(array.shape)} and dtype {array.dtype}; "
                            "every input needs at least one sample, N first, numeric.",
                            "Store one array per model input, e.g. np.savez(path, input_ids=ids, attention_mask=mask).")
        _check_finite(array, f"input '{name}'", source)
        kind = np.float32 if np.issubdtype(array.dtype, np.floating) else (
            np.bool_ if array.dtype == np.bool_ else np.int64)
        arrays[str(name)] = np.ascontiguousarray(array, dtype=kind)
    sizes = {k: v.shape[0] for k, v in arrays.items()}
    if len(set(sizes.values())) != 1:
        raise DataError(f"Data {source}: the inputs have different sample counts ({sizes}).",
                        "Every input array needs the same N (pad token sequences to one length).")
    return Dataset(arrays, _labels(y, next(iter(sizes.values())), source), source, digest)


def _labels(y: np.ndarray | None, n: int, source: str) -> np.ndarray | None:
    """``y`` as int64 class indices, one per input sample (N of them), or one H x W map of them per sample
    (semantic segmentation: N x H x W, kept as it is), or None."""
    if y is None:
        return None
    if y.ndim != 3:
        y = y.reshape(-1)
    if y.shape[0] != n:
        raise DataError(f"Data {source}: {n} inputs but {y.shape[0]} labels.", "x and y must have the same length N.")
    if not np.issubdtype(y.dtype, np.integer):
        raise DataError(f"Data {source}: labels have dtype {y.dtype}; integer class indices are expected.",
                        "Store y as int64 class indices.")
    return y.astype(np.int64)


def _finish(x: Any, y: np.ndarray | None, source: str, digest: str | None) -> Dataset:
    if isinstance(x, dict):
        return _finish_named(x, y, source, digest)
    if x.ndim < 2 or x.shape[0] == 0:
        raise DataError(f"Data {source}: inputs have shape {tuple(x.shape)}; need at least one sample, N first.",
                        "Store inputs as x with shape (N, ...), e.g. (N, 3, 224, 224).")
    if not np.issubdtype(x.dtype, np.number):
        raise DataError(f"Data {source}: inputs have dtype {x.dtype}, not numeric.", "Store x as float32.")
    _check_finite(x, "inputs x", source)
    integer = None if np.issubdtype(x.dtype, np.floating) else f"{x.dtype} {x.min()}..{x.max()}"
    return Dataset(np.ascontiguousarray(x, dtype=np.float32), _labels(y, x.shape[0], source), source, digest,
                   integer_inputs=integer)


def _check_finite(array: np.ndarray, what: str, source: str) -> None:
    """NaN / Inf inputs: refused with counts (they would turn INT8 ranges and every parity figure into noise)."""
    if not np.issubdtype(array.dtype, np.floating):
        return
    bad = ~np.isfinite(array)
    if bad.any():
        samples = int(bad.reshape(bad.shape[0], -1).any(axis=1).sum()) if bad.ndim > 1 else int(bad.sum())
        raise DataError(f"Data {source}: {what} hold {int(np.isnan(array).sum())} NaN and "
                        f"{int(np.isinf(array).sum())} infinite values, in {samples} of {array.shape[0]} samples.",
                        "Remove or repair those samples before calibration or evaluation (np.isfinite(x) finds them).")


def _load_npz(path: Path) -> Dataset:
    import zipfile

    if not zipfile.is_zipfile(path):
        raise DataError(f"Data file {path} is not a .npz archive (a .npz is a zip of .npy arrays; this file is not "
                        "a zip).", "Write it with np.savez(path, x=inputs[, y=labels]).")
    try:
        with np.load(path, allow_pickle=False) as archive:
            keys = set(archive.files)
            named = sorted(keys - {"x", "y"})
            if "x" not in keys and not named:
                raise DataError(f"Data file {path} has no array named 'x' (found: {', '.join(sorted(keys)) or 'none'}).",
                                "Save it with np.savez(path, x=inputs, y=labels); a multi-input model takes one "
                                "array per input, named after it (np.savez(path, input_ids=..., attention_mask=...)).")
            if "x" in keys and named:
                raise DataError(f"Data file {path} holds 'x' and also {', '.join(named)}: it is unclear which "
                                "arrays are the model's inputs.",
                                "Keep only x (one-input model) or only arrays named after the model's inputs, plus y.")
            x = archive["x"] if "x" in keys else {k: archive[k] for k in archive.files if k != "y"}
            y = archive["y"] if "y" in keys else None
    except DataError:
        raise
    except Exception as exc:
        raise DataError(f"Cannot read data file {path}: {exc}.",
                        "It must be a .npz written by np.savez(path, x=inputs[, y=labels]) (no pickled objects).") from exc
    return _finish(x, y, str(path), sha256_path(path))


def _load_image(path: Path, prep: ImagePreprocessing) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(path) as img:
            img = img.convert("L" if prep.grayscale else "RGB").resize(prep.size[::-1], Image.BILINEAR)
            arr = np.asarray(img, dtype=np.float32) / 255.0
    except Exception as exc:
        raise DataError(f"Cannot read image {path}: {exc}.", "Remove or replace the broken file.") from exc
    arr = arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)
    channels = arr.shape[0]
    mean = np.asarray(prep.mean[:channels] if len(prep.mean) >= channels else prep.mean * channels, np.float32)
    std = np.asarray(prep.std[:channels] if len(prep.std) >= channels else prep.std * channels, np.float32)
    return (arr - mean[:, None, None]) / std[:, None, None]


def _load_image_folder(root: Path, prep: ImagePreprocessing) -> Dataset:
    prep = prep.filled()  # unset fields: ImageNet's (the model's own were filled in by the caller, when it has them)
    classes = sorted(p for p in root.iterdir() if p.is_dir())
    if not classes:
        raise DataError(f"Image folder {root} has no class sub-folders.",
                        "Lay it out as ROOT/<class_name>/<image>.png; class indices follow sorted folder names.")
    images, labels = [], []
    for index, folder in enumerate(classes):
        for path in sorted(folder.iterdir()):
            if path.suffix.lower() in IMAGE_SUFFIXES:
                images.append(_load_image(path, prep))
                labels.append(index)
    if not images:
        raise DataError(f"Image folder {root} contains no images ({', '.join(sorted(IMAGE_SUFFIXES))}).",
                        "Put images in ROOT/<class_name>/.")
    dataset = _finish(np.stack(images), np.asarray(labels, np.int64), str(root), sha256_path(root))
    dataset.notes.append(f"classes (sorted folder names): {', '.join(p.name for p in classes)}")
    size = "x".join(map(str, prep.size))
    dataset.notes.append(f"images resized to {size}, normalised with mean {', '.join(f'{v:g}' for v in prep.mean)} "
                         f"and std {', '.join(f'{v:g}' for v in prep.std)} ({prep.source})")
    return dataset


def _split_batch(batch: Any, source: str) -> tuple[Any, Any]:
    if isinstance(batch, dict):
        if "x" not in batch:
            raise DataError(f"Data callable {source} yielded a dict without 'x'.", "Yield {'x': ..., 'y': ...}.")
        return batch["x"], batch.get("y")
    if isinstance(batch, (tuple, list)):
        if len(batch) != 2:
            raise DataError(f"Data callable {source} yielded a {len(batch)}-tuple.", "Yield x or (x, y) per batch.")
        return batch[0], batch[1]
    return batch, None


def _load_callable(spec: str, limit: int | None) -> Dataset:
    func = import_attr(spec, "data callable", DataError, "package.module:callable")
    try:
        batches = func()
    except Exception as exc:
        raise DataError(f"Cannot get data from '{spec}': {exc}.",
                        "Pass 'package.module:callable' (importable, no arguments) returning an iterable of batches.") from exc
    if hasattr(batches, "shape") or isinstance(batches, dict):
        batches = [batches]  # one array (or dict) is one batch, never an iterable of samples
    xs, ys, count = [], [], 0
    try:
        for batch in batches:
            x, y = _split_batch(batch, spec)
            x = _as_array(x, "x", spec)
            xs.append(x)
            ys.append(None if y is None else _as_array(y, "y", spec).reshape(-1))
            count += x.shape[0]
            if limit is not None and count >= limit:
                break
    except DataError:
        raise
    except Exception as exc:
        raise DataError(f"Data callable '{spec}' failed while iterating: {exc}.", "Fix the data loader.") from exc
    if not xs:
        raise DataError(f"Data callable '{spec}' yielded no batches.", "Return a non-empty iterable.")
    if any(y is None for y in ys) and not all(y is None for y in ys):
        raise DataError(f"Data callable '{spec}' yielded labels for some batches only.", "Yield (x, y) for all or none.")
    try:
        x_all = np.concatenate(xs)
        y_all = None if ys[0] is None else np.concatenate(ys)
    except ValueError as exc:
        raise DataError(f"Data callable '{spec}' yielded batches of different shapes: {exc}.",
                        "Every batch must have the same sample shape.") from exc
    return _finish(x_all, y_all, spec, None)


def load_data(spec: Any, *, limit: int | None = None, image_prep: ImagePreprocessing | None = None,
              what: str = "data") -> Dataset:
    """Load data from a path/spec string, an array, an ``(x, y)`` tuple or a Dataset."""
    if isinstance(spec, Dataset):
        return spec
    if isinstance(spec, tuple) and len(spec) == 2:
        x = spec[0] if isinstance(spec[0], dict) else _as_array(spec[0], "x", what)
        return _finish(x, _as_array(spec[1], "y", what), f"<{what} arrays>", None)
    if isinstance(spec, dict):  # named inputs of a multi-input model (a tokenizer's output)
        return _finish(dict(spec), None, f"<{what} arrays>", None)
    if not isinstance(spec, (str, Path)):
        return _finish(_as_array(spec, "x", what), None, f"<{what} array>", None)
    text = str(spec)
    path = Path(text)
    if path.is_dir():
        return _load_image_folder(path, image_prep or ImagePreprocessing())
    if path.is_file():
        if path.suffix.lower() != ".npz":
            raise DataError(f"Cannot use {path} as {what}: only .npz files, image folders and "
                            "'package.module:callable' are read.", "Convert it with np.savez(path, x=inputs, y=labels).")
        return _load_npz(path)
    if is_spec(text):
        return _load_callable(text, limit)
    raise DataNotFoundError(f"The {what} path {path} does not exist.",
                    "Pass a .npz file, an image folder, or 'package.module:callable'.")


def random_data(shape: tuple[int, ...], samples: int, seed: int) -> Dataset:
    """Standard-normal inputs, for --calib-random only; always flagged in the report."""
    x = np.random.default_rng(seed).standard_normal((samples, *shape[1:]), dtype=np.float32)
    dataset = Dataset(x, None, "<random normal>", None, random=True)
    dataset.notes.append("random calibration: INT8 ranges do not reflect real inputs")
    return dataset
