"""Which of a model's outputs edgekit compares, exports, prunes and distils on: the one place that decides.

A model's forward may return a tensor, a Hugging Face ``ModelOutput``, a dict, or a tuple / list (nested or not).
The rule: ``--output NAME`` picks that output (a key, or an index of a tuple); without it a classification head's
``logits`` (a ``ModelOutput`` / dict key), else every tensor output in order. Export writes all selected tensors as
the ONNX outputs (``onnx_names``) and every one is verified; the first ("primary") is the one the task metric
(accuracy, mIoU) is computed on, pruned on and distilled on. Light: torch is imported
only by the wrapper.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from edgekit.errors import OptionError

PREFERRED = "logits"


def _is_tensor(value: Any) -> bool:
    return hasattr(value, "shape") and hasattr(value, "dtype") and hasattr(value, "detach")


def _named(out: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Every tensor in ``out`` with its name: a key, or its index in a tuple/list ("output" for a bare tensor)."""
    if _is_tensor(out):
        return [(prefix or "output", out)]
    if isinstance(out, Mapping):  # ModelOutput is an OrderedDict holding only the fields that are set
        items = [(f"{prefix}.{k}" if prefix else str(k), v) for k, v in out.items()]
    elif isinstance(out, (tuple, list)):
        items = [(f"{prefix}.{i}" if prefix else str(i), v) for i, v in enumerate(out)]
    else:
        return []
    return [pair for name, value in items for pair in _named(value, name)]


def select(out: Any, name: str | None = None) -> list[tuple[str, Any]]:
    """The (name, tensor) pairs of ``out`` to compare: ``name`` when given, else ``logits`` when there is one,
    else every tensor in order."""
    if _is_tensor(out):  # one output: nothing to choose (a traced or wrapped model already returns the selection)
        return [(name or "output", out)]
    named = _named(out)
    if not named:
        raise OptionError(f"The model returned a {type(out).__name__}, which holds no tensor to compare.",
                          "Return a tensor, a tuple of tensors, a dict of tensors or a transformers ModelOutput.")
    if name is not None:
        chosen = [(n, t) for n, t in named if n == name]
        if not chosen:
            raise OptionError(f"The model has no output named {name!r}; it returns {', '.join(n for n, _ in named)}.",
                              "Pass one of those to --output (a key of its dict / ModelOutput, or an index).")
        return chosen
    logits = [(n, t) for n, t in named if n == PREFERRED]
    return logits or named


def onnx_names(selected: list[str], first: str = "output") -> list[str]:
    """The ONNX output names export gives the selected outputs, in their order: the first ``output``, the others
    ``output_<name>``."""
    return [first, *(f"{first}_{n}".replace(".", "_") for n in selected[1:])]


def primary(out: Any, name: str | None = None) -> Any:
    """The one tensor verified, pruned on and distilled: the first selected output."""
    return select(out, name)[0][1]


def names(out: Any, name: str | None = None) -> list[str]:
    """The selected outputs' names, for the report; ``name`` on a model returning one tensor is refused."""
    if name is not None and _is_tensor(out):
        raise OptionError(f"--output {name}: the model returns one tensor, there is no output to choose.",
                          "Drop --output; it names one output of a model returning a ModelOutput, dict or tuple.")
    return [n for n, _ in select(out, name)]


def only_selected(module: Any, example: Any, name: str | None = None) -> tuple[Any, list[str]]:
    """``module`` unchanged when it returns one tensor on ``example``, else a wrapper returning the selected
    tensor(s), for the tracers (ONNX export, torch.export, QAT) that would otherwise keep every output; and the
    selected outputs' names."""
    import torch

    with torch.no_grad():
        out = module(example)
    selected = [n for n, _ in select(out, name)]
    if _is_tensor(out):
        return module, selected

    class SelectedOutputs(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, x: Any) -> Any:  # one input (torch.export maps dynamic shapes onto this signature)
            tensors = [t for _, t in select(self.inner(x), name)]
            return tensors[0] if len(tensors) == 1 else tuple(tensors)

    # the wrapper's own flag only, the module's: a tracer that restores the wrapper's mode afterwards
    # (torch.onnx.export does) would otherwise leave the module in training mode (a new Module trains); not
    # .train(), which is recursive and would reset the submodules of a model whose modes are mixed
    wrapper = SelectedOutputs(module)
    wrapper.training = module.training
    return wrapper, selected
