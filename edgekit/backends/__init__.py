"""The backend table: name -> "module:Class", imported only when a run needs it.

A backend knows how to quantize for its runtime, how to open a session on an artifact, how
to check which kernels really run, and which standalone runner goes into the bundle.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from edgekit.errors import BackendUnavailableError, PipelineError

if TYPE_CHECKING:
    from edgekit.backends.base import Backend

BACKENDS: dict[str, str] = {
    "onnxruntime": "edgekit.backends.onnxruntime:OnnxRuntimeBackend",
    "openvino": "edgekit.backends.openvino:OpenVinoBackend",
    "tensorrt": "edgekit.backends.tensorrt:TensorRTBackend",
}

# precisions each backend can produce; fp16 only where it is a build setting of the runtime (TensorRT)
PRECISIONS: dict[str, tuple[str, ...]] = {"onnxruntime": ("fp32", "int8"), "openvino": ("fp32", "int8"),
                                          "tensorrt": ("fp32", "fp16", "int8")}

# The pip extra that brings each backend's runtime; named in BackendUnavailableError.
EXTRAS: dict[str, str] = {
    "onnxruntime": "edgekit (onnxruntime is a core dependency: pip install onnxruntime)",
    "openvino": "'edgekit[openvino]' (openvino + nncf)",
    "tensorrt": "'edgekit[tensorrt]' on a machine with an NVIDIA GPU (TensorRT itself comes with JetPack or "
                "NVIDIA's index)",
}


def get_backend(name: str) -> Backend:
    try:
        target = BACKENDS[name]
    except KeyError as exc:
        raise PipelineError(f"Unknown backend '{name}'.", f"Known backends: {', '.join(sorted(BACKENDS))}.") from exc
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise BackendUnavailableError(
            f"The '{name}' backend cannot be used: {exc}.", f"Install its runtime: pip install {EXTRAS[name]}."
        ) from exc
    backend_cls = getattr(module, attr)
    return backend_cls()
