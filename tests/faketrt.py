"""A fake ``tensorrt`` module (TensorRT 10 and 11 API generations) and a fake libcudart, for CPU machines.

The fakes compute for real: the fake builder keeps the ONNX it parsed inside the "engine" bytes, and
the fake execution context runs that ONNX with ONNX Runtime on the memory the fake CUDA runtime handed
out (real host buffers, real memmove copies). So the runner's buffer handling, shapes and parity are
exercised and a wrong copy or a wrong shape fails a test. What differs by generation is what
TensorRT 10 -> 11 changed: 11 has no weakly typed FP16/INT8 builder flags and no EXPLICIT_BATCH.

Install per test with ``install(monkeypatch, generation)``; for subprocesses (the benchmark runs the
bundle's runner in a fresh process) ``subprocess_env(monkeypatch, tmp_path, generation)`` puts a
sitecustomize.py on PYTHONPATH that installs the same fakes there.
"""

from __future__ import annotations

import ctypes
import json
import os
import sys
import types
from collections import Counter
from pathlib import Path

import numpy as np

MAGIC = b"FAKEPLAN1\n"
HERE = Path(__file__).resolve().parent


class _CFunc:
    """Something ctypes-like: callable, with a settable restype."""

    def __init__(self, fn):
        self.fn = fn
        self.restype = None

    def __call__(self, *args):
        return self.fn(*args)


class FakeCudart:
    """libcudart's C API as CudaRuntime calls it through ctypes (byref out-parameters, c_void_p pointers)."""

    def __init__(self, cc=(8, 7), name=b"Orin (fake)", devices=1):
        self.cc, self.name, self.devices = cc, name, devices
        self.buffers: dict[int, ctypes.Array] = {}
        self.calls: Counter[str] = Counter()
        for attr in dir(self):
            if attr.startswith("_cuda"):
                setattr(self, attr[1:], _CFunc(getattr(self, attr)))

    def _cudaGetErrorString(self, code):
        return f"fake CUDA error {code}".encode()

    def _cudaGetDeviceCount(self, ref):
        ref._obj.value = self.devices
        return 0

    def _cudaDeviceGetAttribute(self, ref, attr, device):
        ref._obj.value = {75: self.cc[0], 76: self.cc[1]}.get(attr, 0)
        return 0

    def _cudaGetDeviceProperties(self, buf, device):
        ctypes.memmove(buf, self.name, len(self.name))
        return 0

    def _cudaMalloc(self, ref, size):
        self.calls["malloc"] += 1
        block = ctypes.create_string_buffer(size.value)
        self.buffers[ctypes.addressof(block)] = block
        ref._obj.value = ctypes.addressof(block)
        return 0

    def _cudaFree(self, ptr):
        self.calls["free"] += 1
        return 0 if self.buffers.pop(ptr.value, None) is not None else 1

    def _cudaStreamCreate(self, ref):
        ref._obj.value = 0x5EED
        return 0

    def _cudaStreamDestroy(self, stream):
        return 0

    def _cudaStreamSynchronize(self, stream):
        self.calls["sync"] += 1
        return 0

    def _cudaMemcpyAsync(self, dst, src, count, kind, stream):
        self.calls["h2d" if kind == 1 else "d2h"] += 1
        ctypes.memmove(dst.value, src.value, count.value)
        return 0


class _Flags:
    def __init__(self, names):
        for i, name in enumerate(names):
            setattr(self, name, i)


def make_tensorrt(generation: int = 10, dla_cores: int = 0):
    """A fresh fake ``tensorrt`` module; ``generation`` 10 (weak + strong typing) or 11 (strong only)."""
    import onnx
    import onnxruntime as ort

    trt = types.ModuleType("tensorrt")
    trt.__version__ = "10.3.0" if generation == 10 else "11.0.0"
    trt.BuilderFlag = _Flags((["FP16", "INT8"] if generation == 10 else []) + ["SPARSE_WEIGHTS", "GPU_FALLBACK"])
    trt.NetworkDefinitionCreationFlag = _Flags((["EXPLICIT_BATCH"] if generation == 10 else []) + ["STRONGLY_TYPED"])
    trt.MemoryPoolType = _Flags(["WORKSPACE"])
    trt.DeviceType = _Flags(["GPU", "DLA"])
    trt.ProfilingVerbosity = _Flags(["LAYER_NAMES_ONLY", "DETAILED"])
    trt.TensorIOMode = _Flags(["NONE", "INPUT", "OUTPUT"])
    trt.LayerInformationFormat = _Flags(["ONELINE", "JSON"])
    trt.DataType = _Flags(["FLOAT", "HALF", "INT8", "INT32"])
    np_types = {trt.DataType.FLOAT: np.float32, trt.DataType.HALF: np.float16, trt.DataType.INT8: np.int8,
                trt.DataType.INT32: np.int32}
    trt.nptype = lambda dt: np_types[dt]
    trt.built = []  # every build's network + config, for assertions

    class Logger:
        WARNING = 2

        def __init__(self, level=2):
            self.level = level

    class Tensor:
        def __init__(self, name, shape):
            self.name, self.shape = name, tuple(shape)

    class Network:
        def __init__(self, flags):
            self.flags, self.inputs, self.onnx = flags, [], b""

        @property
        def strongly_typed(self):
            return bool(self.flags & (1 << trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED))

        @property
        def num_inputs(self):
            return len(self.inputs)

        def get_input(self, i):
            return self.inputs[i]

    class ParserError:
        def __init__(self, text):
            self.text = text

        def desc(self):
            return self.text

    class OnnxParser:
        def __init__(self, network, logger):
            self.network, self.errors = network, []

        @property
        def num_errors(self):
            return len(self.errors)

        def get_error(self, i):
            return self.errors[i]

        def parse(self, data):
            try:
                model = onnx.load_from_string(bytes(data))
            except Exception as exc:
                self.errors.append(ParserError(f"ModelImporter: failed to parse ONNX ({type(exc).__name__})"))
                return False
            inits = {t.name for t in model.graph.initializer}
            for value in model.graph.input:
                if value.name not in inits:
                    dims = [d.dim_value if d.HasField("dim_value") else -1 for d in value.type.tensor_type.shape.dim]
                    self.network.inputs.append(Tensor(value.name, dims))
            self.network.onnx = bytes(data)
            self.network.fp16_initializers = sum(t.data_type == onnx.TensorProto.FLOAT16 for t in model.graph.initializer)
            return True

    class TimingCache:
        def __init__(self, data):
            self.data = data

        def serialize(self):
            return b"fake-timing-cache"

    class Profile:
        def __init__(self):
            self.shapes = {}

        def set_shape(self, name, lo, opt, hi):
            self.shapes[name] = (list(lo), list(opt), list(hi))

    class IBuilderConfig:
        def __init__(self):
            self.flags, self.pools, self.profiles = set(), {}, []
            self.default_device_type, self.DLA_core, self.timing_cache = trt.DeviceType.GPU, -1, None
            self.profiling_verbosity = trt.ProfilingVerbosity.LAYER_NAMES_ONLY

        def set_flag(self, flag):
            self.flags.add(flag)

        def set_memory_pool_limit(self, pool, size):
            self.pools[pool] = size

        def add_optimization_profile(self, profile):
            self.profiles.append(profile)

        def create_timing_cache(self, data):
            return TimingCache(bytes(data))

        def set_timing_cache(self, cache, ignore_mismatch):
            self.timing_cache = cache
            return True

        def get_timing_cache(self):
            return self.timing_cache

    class Builder:
        def __init__(self, logger):
            self.num_DLA_cores = dla_cores

        def create_network(self, flags=0):
            if generation == 11 and not flags & (1 << trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED):
                raise TypeError("TensorRT 11 (fake): only strongly typed networks exist")
            return Network(flags)

        def create_builder_config(self):
            return IBuilderConfig()

        def create_optimization_profile(self):
            return Profile()

        def build_serialized_network(self, network, config):
            weak = {f for f in config.flags if f in (getattr(trt.BuilderFlag, "FP16", -1), getattr(trt.BuilderFlag, "INT8", -1))}
            if network.strongly_typed and weak:
                return None  # TensorRT refuses precision flags on a strongly typed network
            if config.default_device_type == trt.DeviceType.DLA and not (weak or network.fp16_initializers):
                return None  # the DLA has no FP32
            profile = config.profiles[0].shapes if config.profiles else {}
            header = {"profile": profile, "fp16": getattr(trt.BuilderFlag, "FP16", -1) in config.flags,
                      "int8": getattr(trt.BuilderFlag, "INT8", -1) in config.flags,
                      "strong": network.strongly_typed}
            trt.built.append({"network": network, "config": config, "header": header})
            return MAGIC + json.dumps(header).encode() + b"\n" + network.onnx

    class Inspector:
        def __init__(self, engine):
            self.engine = engine

        def get_engine_information(self, fmt):
            model = onnx.load_from_string(self.engine.onnx)
            dq = {n.output[0] for n in model.graph.node if n.op_type == "DequantizeLinear"}
            layers = []
            for node in model.graph.node:
                if node.op_type in ("Conv", "Gemm", "MatMul"):
                    int8 = node.input[0] in dq
                    kind = "CaskConvolution" if node.op_type == "Conv" else "CaskGemmMatrixMultiply"
                    layers.append({"Name": node.name, "LayerType": kind,
                                   "Inputs": [{"Format/Datatype": "Int8 NC/32HW32" if int8 else "Half NCHW"}]})
                elif node.op_type == "Relu":
                    layers.append({"Name": node.name, "LayerType": "PointWise", "Inputs": []})
            return json.dumps({"Layers": layers})

    class Context:
        def __init__(self, engine):
            self.engine, self.shapes, self.addresses = engine, {}, {}

        def set_input_shape(self, name, shape):
            lo, _, hi = self.engine.get_tensor_profile_shape(name, 0)
            if not lo[0] <= shape[0] <= hi[0]:
                raise ValueError(f"fake TensorRT: batch {shape[0]} outside the profile [{lo[0]}, {hi[0]}]")
            self.shapes[name] = tuple(shape)
            return True

        def get_tensor_shape(self, name):
            if name in self.engine.input_names:
                return self.shapes[name]
            batch = self.shapes[self.engine.input_names[0]][0]
            return (batch, *self.engine.output_dims[name][1:])

        def set_tensor_address(self, name, ptr):
            self.addresses[name] = ptr
            return True

        def execute_async_v3(self, stream):
            feeds = {}
            for name in self.engine.input_names:
                shape = self.shapes[name]
                count = int(np.prod(shape))
                raw = (ctypes.c_float * count).from_address(self.addresses[name])
                feeds[name] = np.ctypeslib.as_array(raw).reshape(shape).copy()
            outputs = self.engine.session.run(self.engine.output_names, feeds)
            for name, value in zip(self.engine.output_names, outputs):
                value = np.ascontiguousarray(value, dtype=np.float32)
                if self.engine.header["fp16"] and not self.engine.header["int8"]:
                    value = value.astype(np.float16).astype(np.float32)  # FP16 rounding, as a GPU would
                ctypes.memmove(self.addresses[name], value.ctypes.data, value.nbytes)
            return True

    class Engine:
        def __init__(self, data):
            head, _, self.onnx = data[len(MAGIC):].partition(b"\n")
            self.header = json.loads(head)
            # a GPU runs the Q/DQ math without the int16 saturation of x86 CPUs lacking VNNI: emulate it in float
            options = ort.SessionOptions()
            options.add_session_config_entry("session.disable_quant_qdq", "1")
            self.session = ort.InferenceSession(self.onnx, options, providers=["CPUExecutionProvider"])
            self.input_names = [i.name for i in self.session.get_inputs()]
            self.output_names = [o.name for o in self.session.get_outputs()]
            self.output_dims = {o.name: [d if isinstance(d, int) else -1 for d in o.shape]
                                for o in self.session.get_outputs()}
            self.input_dims = {i.name: [d if isinstance(d, int) else -1 for d in i.shape]
                               for i in self.session.get_inputs()}

        @property
        def num_io_tensors(self):
            return len(self.input_names) + len(self.output_names)

        def get_tensor_name(self, i):
            return (self.input_names + self.output_names)[i]

        def get_tensor_mode(self, name):
            return trt.TensorIOMode.INPUT if name in self.input_names else trt.TensorIOMode.OUTPUT

        def get_tensor_shape(self, name):
            return tuple(self.input_dims.get(name) or self.output_dims[name])

        def get_tensor_dtype(self, name):
            return trt.DataType.FLOAT

        def get_tensor_profile_shape(self, name, index):
            return tuple(tuple(s) for s in self.header["profile"][name])

        def create_execution_context(self):
            return Context(self)

        def create_engine_inspector(self):
            return Inspector(self)

    class Runtime:
        def __init__(self, logger):
            pass

        def deserialize_cuda_engine(self, data):
            return Engine(bytes(data)) if bytes(data).startswith(MAGIC) else None

    trt.Logger, trt.Builder, trt.OnnxParser, trt.Runtime, trt.IBuilderConfig = Logger, Builder, OnnxParser, Runtime, IBuilderConfig
    return trt


def install(monkeypatch, generation: int = 10, dla_cores: int = 0, cudart: FakeCudart | None = None):
    """Fake tensorrt + libcudart in this process, undone by monkeypatch at the end of the test."""
    from edgekit.deploy import cuda_runtime

    trt = make_tensorrt(generation, dla_cores)
    cudart = cudart or FakeCudart()
    monkeypatch.setitem(sys.modules, "tensorrt", trt)
    monkeypatch.setattr(cuda_runtime, "load_cudart", lambda: cudart)
    return trt, cudart


SITECUSTOMIZE = """\
import os, sys, importlib.util
sys.path.insert(0, {tests!r})
import faketrt
faketrt.install_globally(int(os.environ["EDGEKIT_FAKE_TRT"]))
"""


def install_globally(generation: int) -> None:
    """For a subprocess: fake tensorrt, and both import paths of cuda_runtime patched (package and the
    bundle's sibling-file import that deploy/ scripts use)."""
    import importlib.util

    sys.modules["tensorrt"] = make_tensorrt(generation)
    cudart = FakeCudart()
    from edgekit.deploy import DEPLOY_DIR, cuda_runtime

    cuda_runtime.load_cudart = lambda: cudart
    spec = importlib.util.spec_from_file_location("cuda_runtime", DEPLOY_DIR / "cuda_runtime.py")
    sibling = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sibling)
    sibling.load_cudart = lambda: cudart
    sys.modules["cuda_runtime"] = sibling


def subprocess_env(monkeypatch, tmp_path: Path, generation: int = 10) -> None:
    site = tmp_path / "fake-site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE.format(tests=str(HERE)))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("EDGEKIT_FAKE_TRT", str(generation))
