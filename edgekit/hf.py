"""A local Hugging Face model folder (config.json + model.safetensors or pytorch_model.bin) as MODEL.

Loaded with transformers' Auto class for the task, offline (``local_files_only``: nothing is ever downloaded),
no remote code, weights read with safetensors or ``torch.load(weights_only=True)``. transformers is optional
(``pip install 'edgekit[hf]'``) and imported only here, only when a folder is loaded.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from edgekit.errors import BackendUnavailableError, ModelLoadError

# task -> transformers Auto class
TASKS = {"image-classification": "AutoModelForImageClassification", "feature-extraction": "AutoModel",
         "semantic-segmentation": "AutoModelForSemanticSegmentation"}
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")


PREPROCESSOR = "preprocessor_config.json"


def preprocessing(folder: Path) -> Any:
    """The folder's image processor settings (preprocessor_config.json) as an ImagePreprocessing: the size the
    model was trained at (``crop_size`` when it center-crops, else ``size`` as height/width or shortest edge), and
    ``image_mean`` / ``image_std`` (0 / 1 when ``do_normalize`` is false); None when there is no such file or it says
    none of these. Only fields it states are set: the rest fall back to ImageNet's (imageprep.filled)."""
    from edgekit.imageprep import ImagePreprocessing

    path = folder / PREPROCESSOR
    if not path.is_file():
        return None
    try:
        cfg = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"Cannot read {path}: {exc}", "Save it again with image_processor.save_pretrained(folder), "
                             "or delete it and pass --image-size / --mean / --std.") from exc
    if not isinstance(cfg, dict):
        return None

    def hw(value: Any) -> tuple[int, int] | None:
        if isinstance(value, int):
            return (value, value)
        if isinstance(value, dict):
            if "height" in value and "width" in value:
                return (int(value["height"]), int(value["width"]))
            edge = value.get("shortest_edge")
            return (int(edge), int(edge)) if edge else None
        return None

    size = hw(cfg.get("crop_size")) if cfg.get("do_center_crop") else None
    size = size or hw(cfg.get("size"))

    def channels(key: str) -> tuple[float, ...] | None:
        value = cfg.get(key)
        if isinstance(value, (int, float)):
            return (float(value),)
        return tuple(float(v) for v in value) if isinstance(value, list) and value else None

    normalize = cfg.get("do_normalize", True)
    mean = channels("image_mean") if normalize else (0.0,)
    std = channels("image_std") if normalize else (1.0,)
    if size is None and mean is None and std is None:
        return None
    return ImagePreprocessing(size=size, mean=mean, std=std, source=str(path))


def is_hf_folder(path: Path) -> bool:
    return path.is_dir() and (path / "config.json").is_file()


def _config(folder: Path) -> dict[str, Any]:
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"Cannot read {folder / 'config.json'}: {exc}",
                             "Save the model again with model.save_pretrained(folder).") from exc
    if not isinstance(config, dict):
        raise ModelLoadError(f"{folder / 'config.json'} is not a JSON object.", "Save the model again with "
                             "model.save_pretrained(folder).")
    return config


def default_task(config: dict[str, Any]) -> str:
    """image-classification / semantic-segmentation when the config names such an architecture, else
    feature-extraction (the base model)."""
    architectures = [str(a) for a in config.get("architectures") or []]
    if any(a.endswith("ForImageClassification") for a in architectures):
        return "image-classification"
    if any(a.endswith("ForSemanticSegmentation") for a in architectures):
        return "semantic-segmentation"
    return "feature-extraction"


def _weights(folder: Path) -> Path:
    found = next((folder / name for name in WEIGHT_FILES if (folder / name).is_file()), None)
    if found is None:
        raise ModelLoadError(f"The Hugging Face folder {folder} has a config.json but no weights "
                             f"({', '.join(WEIGHT_FILES[::2])}).",
                             "Save them with model.save_pretrained(folder) (safetensors), or copy the weight file in.")
    return found


def _example_shape(config: dict[str, Any]) -> tuple[int, ...] | None:
    size, channels = config.get("image_size"), config.get("num_channels")
    if isinstance(size, (list, tuple)) and len(size) == 2:
        size = tuple(size)
    elif isinstance(size, int):
        size = (size, size)
    else:
        return None
    return (1, int(channels or 3), *size)


def load_folder(folder: Path, task: str | None, trust_pickle: bool = False) -> tuple[Any, tuple[int, ...] | None, str]:
    """The model in ``folder`` (eval mode), its example input shape from the config (None if it does not say),
    and the task it was loaded for."""
    config = _config(folder)
    weights = _weights(folder)
    task = task or default_task(config)
    if task not in TASKS:
        raise ModelLoadError(f"Unknown task {task!r} for a Hugging Face folder.", f"Choose from {', '.join(TASKS)}.")
    try:
        import transformers
    except ImportError as exc:
        raise BackendUnavailableError("A Hugging Face model folder needs transformers, which is not installed.",
                                      "pip install 'edgekit[hf]' (or: pip install transformers safetensors).") from exc
    auto = getattr(transformers, TASKS[task])
    safetensors = weights.name.startswith("model.safetensors")
    try:
        model = auto.from_pretrained(str(folder), local_files_only=True, trust_remote_code=False,
                                     use_safetensors=safetensors, weights_only=not trust_pickle)
    except (ValueError, KeyError, OSError) as exc:
        arch = ", ".join(config.get("architectures") or []) or config.get("model_type") or "unknown"
        raise ModelLoadError(f"Cannot load the Hugging Face folder {folder} for {task} (architecture {arch}): "
                             f"{str(exc).splitlines()[0][:300]}",
                             f"Check the config's model_type / architectures (transformers "
                             f"{transformers.__version__} must know them; no remote code is run), or pass "
                             f"--task {' / '.join(TASKS)}.") from exc
    model.eval()
    return model, _example_shape(config), task
