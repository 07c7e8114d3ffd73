"""Loading the user's model safely.

Accepted: a torch.export ``.pt2`` (ExportedProgram), TorchScript, ``package.module:factory``
plus a state_dict loaded with ``weights_only=True``, an ``.onnx`` file, or (Python API) an
``nn.Module``, or a local Hugging Face model folder (config.json + weights; edgekit/hf.py). A whole pickled module (``torch.save(model)``) runs arbitrary code when
loaded, so it is refused unless the caller says ``trust_pickle=True``.
"""

from __future__ import annotations

import logging
import zipfile
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from edgekit.artifact import sha256_file
from edgekit.errors import ModelLoadError, ModelNotFoundError, OptionError, UntrustedPickleError
from edgekit.specs import import_attr, is_spec


class ModelKind(str, Enum):
    EXPORTED_PROGRAM = "exported_program"
    TORCHSCRIPT = "torchscript"
    FACTORY = "factory"
    ONNX = "onnx"
    MODULE = "module"
    PICKLED_MODULE = "pickled_module"
    HF_FOLDER = "hf_folder"


@dataclass
class LoadedModel:
    kind: ModelKind
    source: str
    module: Any = None  # a callable torch module; None for ONNX
    onnx_path: Path | None = None
    sha256: str | None = None
    example_shape: tuple[int, ...] | None = None
    exported_program: Any = None
    # the first input's dims as the model fixes them (None: dynamic), when the file says (ONNX, .pt2)
    input_dims: tuple[int | None, ...] | None = None
    random_weights: bool = False  # a factory built without trained weights, on purpose (--random-weights)
    output: str | None = None  # --output: the output to compare (edgekit/outputs.py; None: logits, else every tensor)
    output_names: tuple[str, ...] = ()  # the outputs selected, found when the reference runs (report: model.output)
    task: str | None = None  # a Hugging Face folder: the task its Auto class was chosen for
    # the model's own image preprocessing (a Hugging Face folder's preprocessor_config.json): fills the image options
    # the user left unset (imageprep.ImagePreprocessing.filled); None: ImageNet's
    image_prep: Any = None

    @property
    def is_torch(self) -> bool:
        return self.kind is not ModelKind.ONNX


def _zip_names(path: Path) -> list[str]:
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.namelist()
    except zipfile.BadZipFile:
        return []


def _classify(path: Path) -> ModelKind:
    if path.suffix.lower() == ".onnx":
        return ModelKind.ONNX
    # a .pt2 is trusted by its suffix: a truncated one still contains a nested, intact zip
    # (its sample inputs) that would otherwise be mistaken for a pickled module
    if path.suffix.lower() == ".pt2":
        return ModelKind.EXPORTED_PROGRAM
    names = _zip_names(path)
    if any("/models/" in n and n.endswith(".json") for n in names):
        return ModelKind.EXPORTED_PROGRAM
    if any(n.endswith("/constants.pkl") for n in names) and any("/code/" in n for n in names):
        return ModelKind.TORCHSCRIPT
    if any(n.endswith("data.pkl") for n in names):
        return ModelKind.PICKLED_MODULE
    raise ModelLoadError(
        f"Cannot read model file {path}: it is not a torch.export .pt2, a TorchScript archive, a torch.save file "
        "or an .onnx file (it may be truncated or corrupt).",
        "Re-export it with torch.export.save(torch.export.export(model, (example,)), 'model.pt2'), or pass "
        "'package.module:factory' with --weights state_dict.pt.",
    )


def _load_onnx(path: Path) -> LoadedModel:
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=True)
        onnx.checker.check_model(model)
    except Exception as exc:  # onnx raises DecodeError, ValidationError, OSError...
        raise ModelLoadError(
            f"Cannot load ONNX model {path}: {str(exc).splitlines()[0][:300]}",
            "The file is truncated or not a valid ONNX model; re-export it with torch.onnx.export.",
        ) from exc
    shape = _onnx_input_shape(model)
    dims = tuple(d.dim_value if d.HasField("dim_value") else None
                 for d in model.graph.input[0].type.tensor_type.shape.dim) if len(model.graph.input) == 1 else None
    return LoadedModel(ModelKind.ONNX, str(path), onnx_path=path, sha256=sha256_file(path), example_shape=shape,
                       input_dims=dims)


def _onnx_input_shape(model: Any) -> tuple[int, ...] | None:
    dims = model.graph.input[0].type.tensor_type.shape.dim
    if any(not d.HasField("dim_value") for d in dims[1:]):
        return None
    return (1, *[d.dim_value for d in dims[1:]])


def _load_exported_program(path: Path) -> LoadedModel:
    import torch

    export_log = logging.getLogger("torch.export")
    level = export_log.level
    export_log.setLevel(logging.CRITICAL)  # torch logs its own traceback before raising
    try:
        program = torch.export.load(str(path))
    except Exception as exc:
        damaged = isinstance(exc, zipfile.BadZipFile) or "zip" in str(exc).lower()
        raise ModelLoadError(f"Cannot load torch.export archive {path}"
                             f"{' (it is truncated or corrupt)' if damaged else ''}: {str(exc).splitlines()[0][:300]}",
                             "If it is truncated or corrupt, re-save it with torch.export.save() from the same or an "
                             "older torch; if you did not make it, do not trust it.") from exc
    finally:
        export_log.setLevel(level)
    example = program.example_inputs[0][0] if program.example_inputs and program.example_inputs[0] else None
    shape = tuple(example.shape) if example is not None else None
    return LoadedModel(ModelKind.EXPORTED_PROGRAM, str(path), module=program.module(), sha256=sha256_file(path),
                       example_shape=shape, exported_program=program, input_dims=_program_input_dims(program))


def _program_input_dims(program: Any) -> tuple[int | None, ...] | None:
    """The first user input's dims: an int where the program fixed it, None where it is symbolic (dynamic)."""
    names = list(getattr(program.graph_signature, "user_inputs", []))
    node = next((n for n in program.graph.nodes if n.op == "placeholder" and names and n.name == names[0]), None)
    value = node.meta.get("val") if node is not None else None
    if value is None or not hasattr(value, "shape"):
        return None
    return tuple(d if isinstance(d, int) else None for d in value.shape)


def _load_torchscript(path: Path) -> LoadedModel:
    import torch

    try:
        module = torch.jit.load(str(path), map_location="cpu")
    except Exception as exc:
        raise ModelLoadError(f"Cannot load TorchScript file {path}: {str(exc).splitlines()[0]}",
                             "Re-save it with torch.jit.save(torch.jit.trace(model, example), path).") from exc
    module.eval()
    return LoadedModel(ModelKind.TORCHSCRIPT, str(path), module=module, sha256=sha256_file(path))


def _load_pickle(path: Path, trust_pickle: bool) -> LoadedModel:
    import torch

    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:
        if not trust_pickle:
            raise UntrustedPickleError(
                f"{path} is a whole pickled model (torch.save(model)); loading it executes arbitrary code from the file.",
                "Prefer a torch.export .pt2, TorchScript, or 'package.module:factory' with --weights state_dict.pt. "
                "If you wrote this file yourself and trust it, pass --trust-pickle (trust_pickle=True).",
            ) from exc
        try:
            obj = torch.load(str(path), map_location="cpu", weights_only=False)
        except Exception as exc2:
            raise ModelLoadError(f"Cannot load {path}: {str(exc2).splitlines()[0][:300]}",
                                 "The file is truncated or corrupt; save the model again.") from exc2
    if isinstance(obj, dict):
        raise ModelLoadError(f"{path} holds a state_dict (weights only), not a model.",
                             "Pass the architecture as 'package.module:factory' and this file as --weights.")
    if not isinstance(obj, torch.nn.Module):
        raise ModelLoadError(f"{path} holds a {type(obj).__name__}, not a torch.nn.Module.",
                             "Save the model with torch.export.save or torch.jit.save.")
    obj.eval()
    return LoadedModel(ModelKind.PICKLED_MODULE, str(path), module=obj, sha256=sha256_file(path))


def _load_factory(spec: str, weights: Path | None, random_weights: bool = False) -> LoadedModel:
    import torch

    factory = import_attr(spec, "model factory", ModelLoadError, "package.module:factory")
    if weights is None and not random_weights and not getattr(factory, "edgekit_loads_weights", False):
        raise ModelLoadError(f"'{spec}' builds an architecture and no --weights were given: edgekit would compress "
                             "randomly initialised weights, and every accuracy figure would say nothing about your "
                             "model.", "Pass --weights state_dict.pt (torch.save(model.state_dict(), path)); or "
                             "--random-weights to time the architecture on purpose; a factory that loads its own "
                             "trained weights can say so with `factory.edgekit_loads_weights = True`.")
    try:
        module = factory()
    except Exception as exc:
        raise ModelLoadError(f"Model factory '{spec}' failed when called with no arguments: {exc}",
                             "The factory must build the architecture with no arguments.") from exc
    if not isinstance(module, torch.nn.Module):
        raise ModelLoadError(f"Model factory '{spec}' returned {type(module).__name__}, not a torch.nn.Module.",
                             "Return the nn.Module from the factory.")
    digest = _load_weights(module, weights) if weights is not None else state_dict_sha256(module)
    module.eval()
    untrained = weights is None and not getattr(factory, "edgekit_loads_weights", False)
    return LoadedModel(ModelKind.FACTORY, spec, module=module, sha256=digest, random_weights=untrained)


def _load_weights(module: Any, weights: Path) -> str:
    import torch

    if not weights.is_file():
        raise ModelNotFoundError(f"Weights file {weights} does not exist.", "Check the --weights path.")
    try:
        state = torch.load(str(weights), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ModelLoadError(
            f"Cannot load weights {weights} as a state_dict with weights_only=True: {str(exc).splitlines()[0]}",
            "Save only the weights: torch.save(model.state_dict(), path). A pickled module is never loaded as weights.",
        ) from exc
    if not isinstance(state, dict):
        raise ModelLoadError(f"Weights file {weights} holds a {type(state).__name__}, not a state_dict.",
                             "Save it with torch.save(model.state_dict(), path).")
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ModelLoadError(f"Weights {weights} do not match the architecture: {_state_dict_mismatch(exc)}",
                             "Check that the factory builds the same architecture the weights were trained with.") from exc
    return sha256_file(weights)


def _state_dict_mismatch(exc: Exception) -> str:
    """torch's load_state_dict message without its header line: the missing / unexpected keys and size
    mismatches, the first few of each."""
    lines = [line.strip() for line in str(exc).splitlines()[1:] if line.strip()]
    shown = "; ".join(line[:300] for line in lines[:4])
    more = f" (and {len(lines) - 4} more)" if len(lines) > 4 else ""
    return (shown + more) if shown else str(exc).splitlines()[0]


def peek_kind(model: Any) -> ModelKind | None:
    """What ``model`` is, without loading it (None: a path that does not exist; load_model says so)."""
    if not isinstance(model, (str, Path)):
        return ModelKind.MODULE
    path = Path(str(model))
    if not path.exists() and is_spec(str(model)):
        return ModelKind.FACTORY
    if _model_folder(path):
        return ModelKind.HF_FOLDER
    return _classify(path) if path.is_file() else None


def _model_folder(path: Path) -> bool:
    """A Hugging Face model folder (config.json inside); any other directory is refused."""
    from edgekit.hf import is_hf_folder

    if not path.is_dir():
        return False
    if is_hf_folder(path):
        return True
    raise ModelLoadError(f"MODEL {path} is a directory without a config.json: not a model file, nor a Hugging Face "
                         "model folder.", "Pass a .pt2, TorchScript or .onnx file inside it, a folder written by "
                         "save_pretrained (config.json + model.safetensors), or 'package.module:factory' with "
                         "--weights.")


def _load_hf_folder(path: Path, weights: Path | None, task: str | None, trust_pickle: bool) -> LoadedModel:
    from edgekit.hf import load_folder, preprocessing

    if weights is not None:
        raise ModelLoadError("--weights is only used with a 'package.module:factory' model.",
                             f"The Hugging Face folder {path} already contains its weights; drop --weights.")
    module, shape, task = load_folder(path, task, trust_pickle)
    return LoadedModel(ModelKind.HF_FOLDER, str(path), module=module, sha256=state_dict_sha256(module),
                       example_shape=shape, task=task, image_prep=preprocessing(path))


def load_model(model: Any, *, weights: str | Path | None = None, trust_pickle: bool = False,
               random_weights: bool = False, output: str | None = None, task: str | None = None) -> LoadedModel:
    """Load a model from a path, a Hugging Face folder (for ``task``), a 'module:factory' spec, or an in-memory
    nn.Module. A factory without ``weights`` is refused unless ``random_weights`` (or the factory loads its own:
    ``factory.edgekit_loads_weights``). ``output``: the output to compare (edgekit/outputs.py)."""
    from dataclasses import replace

    loaded = _load(model, weights, trust_pickle, random_weights, task)
    if task is not None and loaded.kind is not ModelKind.HF_FOLDER:
        # any other model: the task says how its outputs are verified (semantic-segmentation: per-pixel agreement
        # and mIoU; feature-extraction: cosine per output, never top-1; pipeline/verify.Reference)
        return replace(loaded, output=output, task=task)
    return replace(loaded, output=output)


def _load(model: Any, weights: str | Path | None, trust_pickle: bool, random_weights: bool,
          task: str | None) -> LoadedModel:
    if not isinstance(model, (str, Path)):
        return _wrap_module(model)
    weights_path = Path(weights) if weights is not None else None
    text = str(model)
    path = Path(text)
    if _model_folder(path):
        return _load_hf_folder(path, weights_path, task, trust_pickle)
    if not path.exists() and is_spec(text):
        if random_weights and weights_path is not None:
            raise OptionError("--random-weights and --weights contradict each other.",
                              "Drop --random-weights to use the trained weights.")
        return _load_factory(text, weights_path, random_weights)
    if not path.is_file():
        raise ModelNotFoundError(f"Model file {path} does not exist.",
                             "Pass a .pt2, TorchScript, .onnx file, or 'package.module:factory' with --weights.")
    if weights_path is not None:
        raise ModelLoadError("--weights is only used with a 'package.module:factory' model.",
                             f"{path} already contains its weights; drop --weights.")
    kind = _classify(path)
    loaders = {
        ModelKind.ONNX: lambda: _load_onnx(path),
        ModelKind.EXPORTED_PROGRAM: lambda: _load_exported_program(path),
        ModelKind.TORCHSCRIPT: lambda: _load_torchscript(path),
        ModelKind.PICKLED_MODULE: lambda: _load_pickle(path, trust_pickle),
    }
    return loaders[kind]()


def _wrap_module(model: Any) -> LoadedModel:
    import torch

    if not isinstance(model, torch.nn.Module):
        raise ModelLoadError(f"Cannot use a {type(model).__name__} as a model.",
                             "Pass an nn.Module, a model file path, or 'package.module:factory'.")
    model.eval()
    return LoadedModel(ModelKind.MODULE, f"<{type(model).__name__} module>", module=model,
                       sha256=state_dict_sha256(model))


def model_outputs(model: LoadedModel) -> dict[str, Any]:
    """The report's words on which output was compared (edgekit/outputs.py) and, for a Hugging Face folder, the task."""
    names = model.output_names
    described: dict[str, Any] = {"output": names[0]} if names else {}
    if len(names) > 1:
        described["selected_outputs"] = list(names)  # all exported, in order; the first is compared
    return {**described, **({"task": model.task} if model.task else {})}


def state_dict_sha256(module: Any) -> str:
    """A content hash of an in-memory module's weights (names, shapes, dtypes and values)."""
    import hashlib

    import torch

    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        data = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{tuple(data.shape)}:{data.dtype}".encode())
        digest.update(data.reshape(-1).view(torch.uint8).numpy().tobytes())  # raw bytes: bf16 has no numpy dtype
    return digest.hexdigest()
