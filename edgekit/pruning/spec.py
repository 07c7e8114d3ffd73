"""The pruned architecture as data, so a pruned model reloads from its factory + a state_dict
with ``weights_only=True`` (no pickle): each resized layer is rebuilt with its new shape.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from edgekit.errors import ModelLoadError

# attributes of attention modules that pruning heads changes: Hugging Face's BERT-style naming (BERT, MobileViT) and
# the q_proj style (ViT, DeiT, DINOv2, Swin, SegFormer), which keeps head_dim and infers the head count in forward
ATTENTION_ATTRS = ("num_attention_heads", "attention_head_size", "all_head_size", "head_dim")


def _layer_spec(module: Any) -> dict[str, Any] | None:
    from torch import nn

    if isinstance(module, nn.modules.conv._ConvNd):
        return {"type": "conv", "in_channels": module.in_channels, "out_channels": module.out_channels,
                "groups": module.groups}
    if isinstance(module, nn.Linear):
        return {"type": "linear", "in_features": module.in_features, "out_features": module.out_features}
    if isinstance(module, nn.modules.batchnorm._BatchNorm):
        return {"type": "batchnorm", "num_features": module.num_features}
    if isinstance(module, nn.LayerNorm):
        return {"type": "layernorm", "normalized_shape": list(module.normalized_shape)}
    if isinstance(module, nn.GroupNorm):
        return {"type": "groupnorm", "num_channels": module.num_channels}
    if isinstance(module, nn.Embedding):
        return {"type": "embedding", "num_embeddings": module.num_embeddings, "embedding_dim": module.embedding_dim}
    if isinstance(getattr(module, "num_attention_heads", None), int):
        return {"type": "attention", **{a: v for a in ATTENTION_ATTRS if isinstance(v := getattr(module, a, None), int)}}
    return None


def _bare_parameters(model: Any) -> dict[str, list[int]]:
    """Parameters held directly by a module of no layer type above (layer scale, GRN, class tokens, position
    embeddings, position-bias tables): pruning resizes them too."""
    typed = {name for name, module in model.named_modules() if (spec := _layer_spec(module)) and spec["type"] != "attention"}
    return {name: list(p.shape) for name, p in model.named_parameters() if name.rpartition(".")[0] not in typed}


def architecture_spec(model: Any) -> dict[str, Any]:
    return {"format": "edgekit-pruned-architecture", "version": 1,
            "layers": {name: spec for name, module in model.named_modules() if (spec := _layer_spec(module))},
            "parameters": _bare_parameters(model)}


def _resized(module: Any, spec: dict[str, Any]) -> Any:
    import copy

    from torch import nn

    kind = spec["type"]
    if kind == "attention":
        for attr in ATTENTION_ATTRS:
            if attr in spec:
                setattr(module, attr, spec[attr])
        return module
    new = copy.deepcopy(module)  # keeps stride, padding, eps, dtype...; shapes are set below
    if kind == "conv":
        w = module.weight
        transposed = isinstance(module, nn.modules.conv._ConvTransposeNd)
        shape = ((spec["in_channels"], spec["out_channels"] // spec["groups"]) if transposed
                 else (spec["out_channels"], spec["in_channels"] // spec["groups"]))
        new.in_channels, new.out_channels, new.groups = spec["in_channels"], spec["out_channels"], spec["groups"]
        new.weight = nn.Parameter(w.new_empty(*shape, *w.shape[2:]))
        if module.bias is not None:
            new.bias = nn.Parameter(module.bias.new_empty(spec["out_channels"]))
    elif kind == "linear":
        new.in_features, new.out_features = spec["in_features"], spec["out_features"]
        new.weight = nn.Parameter(module.weight.new_empty(spec["out_features"], spec["in_features"]))
        if module.bias is not None:
            new.bias = nn.Parameter(module.bias.new_empty(spec["out_features"]))
    elif kind == "batchnorm":
        n = spec["num_features"]
        new.num_features = n
        for name in ("weight", "bias"):
            if getattr(module, name) is not None:
                setattr(new, name, nn.Parameter(getattr(module, name).new_empty(n)))
        for name in ("running_mean", "running_var"):
            if getattr(module, name) is not None:
                new.register_buffer(name, getattr(module, name).new_empty(n))
    elif kind == "groupnorm":
        new.num_channels = spec["num_channels"]
        for name in ("weight", "bias"):
            if getattr(module, name, None) is not None:
                setattr(new, name, nn.Parameter(getattr(module, name).new_empty(spec["num_channels"])))
    elif kind == "layernorm":
        new.normalized_shape = tuple(spec["normalized_shape"])
        for name in ("weight", "bias"):
            if getattr(module, name, None) is not None:
                setattr(new, name, nn.Parameter(getattr(module, name).new_empty(*spec["normalized_shape"])))
    elif kind == "embedding":
        new.num_embeddings, new.embedding_dim = spec["num_embeddings"], spec["embedding_dim"]
        new.weight = nn.Parameter(module.weight.new_empty(spec["num_embeddings"], spec["embedding_dim"]))
    return new


def rebuild(model: Any, spec: dict[str, Any]) -> Any:
    """Resize the layers of a freshly built (unpruned) ``model`` in place to match ``spec``."""
    if spec.get("format") != "edgekit-pruned-architecture":
        raise ModelLoadError("The architecture file is not an edgekit pruned-architecture spec.",
                             "Pass the architecture.json written next to the pruned state_dict.")
    modules = dict(model.named_modules())
    for name, layer in spec["layers"].items():
        if name not in modules:
            raise ModelLoadError(f"The architecture spec names layer '{name}', which the factory's model lacks.",
                                 "Use the same factory the pruned model was made from.")
        replacement = _resized(modules[name], layer)
        if replacement is not modules[name]:
            parent_name, _, child = name.rpartition(".")
            setattr(modules[parent_name] if parent_name else model, child, replacement)
    _resize_parameters(model, spec.get("parameters", {}))
    return model


def _resize_parameters(model: Any, shapes: dict[str, list[int]]) -> None:
    from torch import nn

    modules, parameters = dict(model.named_modules()), dict(model.named_parameters())
    for name, shape in shapes.items():
        if name not in parameters:
            raise ModelLoadError(f"The architecture spec names parameter '{name}', which the factory's model lacks.",
                                 "Use the same factory the pruned model was made from.")
        if list(parameters[name].shape) != shape:
            owner, _, attr = name.rpartition(".")
            setattr(modules[owner], attr, nn.Parameter(parameters[name].new_empty(*shape)))


def save_pruned(model: Any, directory: Path) -> dict[str, Path]:
    """state_dict.pt + architecture.json: reloadable with ``load_pruned`` and no pickle."""
    import torch

    paths = {"state_dict": directory / "state_dict.pt", "architecture": directory / "architecture.json"}
    torch.save(model.state_dict(), paths["state_dict"])
    paths["architecture"].write_text(json.dumps(architecture_spec(model), indent=1) + "\n")
    return paths


def load_pruned(factory: Any, architecture: str | Path, weights: str | Path) -> Any:
    """Rebuild a pruned model: ``factory()`` (callable or 'module:factory'), resized, then weights_only load."""
    import torch

    from edgekit.specs import import_attr

    build = import_attr(factory, "model factory", ModelLoadError, "package.module:factory") \
        if isinstance(factory, str) else factory
    model = rebuild(build(), json.loads(Path(architecture).read_text()))
    model.load_state_dict(torch.load(str(weights), map_location="cpu", weights_only=True), strict=True)
    return model.eval()
