"""The backend table: every fact about a backend, in one place, without importing its runtime.

A ``BackendSpec`` holds what edgekit must know before (or without) loading a runtime: the
precisions it builds, the pip extra that brings it, the standalone runner that ships in the
bundle and times its artifacts, which files are its artifacts, which INT8 recipes it takes.
Its ``implementation`` ("module:Class") is imported only when a run needs it. This table is the
only place a backend is named: adding one means a spec here, its class, and its deploy runner
(docs/ARCHITECTURE.md, "Adding a backend").
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from edgekit.backends.int8 import RECIPE_CHOICES
from edgekit.errors import BackendUnavailableError, PipelineError

if TYPE_CHECKING:
    from edgekit.backends.base import Backend


@dataclass(frozen=True)
class BackendSpec:
    name: str
    implementation: str  # "module:Class", imported on use
    precisions: tuple[str, ...]  # variants it can build; fp16 only where it is a build setting (TensorRT)
    extra: str  # what to pip install when the runtime is missing (BackendUnavailableError)
    runner: str  # the standalone runner in edgekit/deploy/ (deploy/run.py in a bundle; times every artifact)
    runtime_name: str  # for people: deploy/README.md, messages
    device_package: str  # what deploy/run.py needs on the device
    artifact_suffixes: tuple[str, ...]  # files `edgekit bench` accepts for it
    bundle_suffix: str  # deploy/model<suffix> when no variant was recommended
    int8_recipes: tuple[str, ...]  # [quantize] recipe values it takes ("auto" = the target ISA's)
    # profile settings passed to the runner as options: (option, "section.key") pairs
    runner_options: tuple[tuple[str, str], ...] = ()
    qat: bool = True  # the --qat QDQ export has been validated against this runtime
    multi_input: bool = True  # its bundle and runner feed multi-input models (named arrays)
    engines_on_device: bool = False  # artifacts are compiled on the device (TensorRT): the bundle carries build scripts

    def runner_args(self, profile: Any) -> tuple[str, ...]:
        """The profile's runtime settings as options of this backend's standalone runner."""
        args: list[str] = []
        for option, key in self.runner_options:
            section, _, field = key.partition(".")
            args += [option, str(getattr(getattr(profile, section), field))]
        return tuple(args)


BACKENDS: dict[str, BackendSpec] = {spec.name: spec for spec in (
    BackendSpec("onnxruntime", "edgekit.backends.onnxruntime:OnnxRuntimeBackend", ("fp32", "int8"),
                "edgekit (onnxruntime is a core dependency: pip install onnxruntime)", "run_onnxruntime.py",
                "ONNX Runtime", "onnxruntime", (".onnx",), ".onnx", RECIPE_CHOICES,
                runner_options=(("--threads", "target.threads"), ("--optimization", "target.graph_optimization"))),
    BackendSpec("openvino", "edgekit.backends.openvino:OpenVinoBackend", ("fp32", "int8"),
                "'edgekit[openvino]' (openvino + nncf)", "run_openvino.py", "OpenVINO", "openvino", (".xml", ".onnx"),
                ".xml", ("auto",),  # NNCF picks its own types (preset, overflow_fix)
                runner_options=(("--threads", "target.threads"), ("--hint", "target.performance_hint"),
                                ("--streams", "target.streams"), ("--precision", "target.inference_precision"),
                                ("--async-requests", "benchmark.async_requests"))),
    # the engine carries its own settings (built by deploy/trt_build.py): no runner options
    BackendSpec("tensorrt", "edgekit.backends.tensorrt.backend:TensorRTBackend", ("fp32", "fp16", "int8"),
                "'edgekit[tensorrt]' on a machine with an NVIDIA GPU (TensorRT itself comes with JetPack or "
                "NVIDIA's index)", "run_tensorrt.py", "TensorRT", "tensorrt", (".plan",), ".plan", ("auto", "s8s8"),
                qat=False, multi_input=False, engines_on_device=True),
)}


def backend_spec(name: str) -> BackendSpec:
    try:
        return BACKENDS[name]
    except KeyError as exc:
        raise PipelineError(f"Unknown backend '{name}'.", f"Known backends: {', '.join(sorted(BACKENDS))}.") from exc


def get_backend(name: str) -> Backend:
    spec = backend_spec(name)
    module_name, _, attr = spec.implementation.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise BackendUnavailableError(
            f"The '{name}' backend cannot be used: {exc}.", f"Install its runtime: pip install {spec.extra}."
        ) from exc
    backend_cls = getattr(module, attr)
    return backend_cls()
