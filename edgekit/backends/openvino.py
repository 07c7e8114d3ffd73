"""OpenVINO (CPU): IR compilation, INT8 with NNCF on the OpenVINO model itself, optional
accuracy control, and execution checks that read what the CPU plugin really runs.

Traps handled here (FIELD-NOTES): on CPUs with AVX-512 BF16/AMX, OpenVINO runs an "FP32" model
in bf16 unless INFERENCE_PRECISION_HINT=f32, which moves logits by ~0.1-0.2, so every parity
check pins f32 and the report names the precision each benchmark ran; ``ov.save_model``
compresses weights to FP16 unless told not to.
"""

from __future__ import annotations

import contextlib
import io
import logging
import tempfile
import warnings
from collections import Counter
from pathlib import Path
from typing import Any, ClassVar

import nncf
import numpy as np
import openvino as ov

from edgekit.artifact import Format
from edgekit.backends.base import KernelCoverage
from edgekit.data import Dataset
from edgekit.deploy import run_openvino as runner
from edgekit.errors import PipelineError
from edgekit.hardware import HostFacts
from edgekit.profile import Profile
from edgekit.progress import Progress

log = logging.getLogger(__name__)

COMPUTE_LAYERS = frozenset({"Convolution", "GroupConvolution", "FullyConnected", "MatMul", "Deconvolution"})
INT8_PRECISIONS = frozenset({"u8", "i8"})
# the IR ops whose MACs the coverage gate weighs (_coverage_with_macs)
IR_COMPUTE = frozenset({"Convolution", "GroupConvolution", "ConvolutionBackpropData", "GroupConvolutionBackpropData",
                        "MatMul"})


@contextlib.contextmanager
def _quiet_nncf() -> Any:
    """NNCF draws its own progress bars on stdout and logs at INFO: keep the CLI's output ours."""
    nncf.set_log_level(logging.ERROR)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


def runtime_config(profile: Profile, *, pin_f32: bool) -> dict[str, Any]:
    t = profile.target
    config: dict[str, Any] = {"PERFORMANCE_HINT": t.performance_hint.upper()}
    if t.threads:
        config["INFERENCE_NUM_THREADS"] = t.threads
    if t.streams:
        config["NUM_STREAMS"] = t.streams
    precision = "f32" if pin_f32 else t.inference_precision
    if precision != "auto":
        config["INFERENCE_PRECISION_HINT"] = precision
    return config


class OvSession:
    def __init__(self, compiled: Any) -> None:
        self.compiled = compiled

    @property
    def precision(self) -> str:
        """The precision the plugin resolved for float layers: 'f32', 'bf16' or 'f16'."""
        return self.compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()

    def run(self, x: Any) -> np.ndarray:
        """First output for ``x``: an array, or a dict of arrays named after the model's inputs."""
        return runner.run_batched(self.compiled, x, batch_size=64)

    def run_all(self, x: Any) -> list[np.ndarray]:
        """Every output for ``x``, in the model's output order (``output_names``)."""
        return runner.run_batched(self.compiled, x, batch_size=64, all_outputs=True)

    @property
    def output_names(self) -> list[str]:
        return runner.output_names(self.compiled)


def _is_int8_weight(node: Any) -> bool:
    """Does this weight input come from INT8 data (a FakeQuantize, or int8 constants NNCF compressed)?"""
    pending, seen = [node], set()
    while pending:
        node = pending.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        kind = node.get_type_name()
        if kind == "FakeQuantize":
            return True
        if kind == "Constant" and node.get_output_element_type(0).get_type_name() in ("i8", "u8", "i4", "u4"):
            return True
        if kind in ("Convert", "Reshape", "Transpose", "Multiply", "Subtract"):
            pending += [node.input_value(i).get_node() for i in range(node.get_input_size())]
    return False


def _weight_quantized_layers(model: Any) -> set[str]:
    """Names of compute layers whose weights are INT8 in ``model``."""
    return {op.get_friendly_name() for op in model.get_ordered_ops()
            if op.get_type_name() in COMPUTE_LAYERS and op.get_input_size() > 1
            and _is_int8_weight(op.input_value(1).get_node())}


def _no_padding(node: Any) -> bool:
    """An AveragePool with no padding at all (no pads, auto_pad NOTSET or VALID) and no dilation: the only kind
    rewritten. count_include_pad then counts no padded cell (PyTorch and ONNX Runtime divide a window clipped by
    ceil_mode by the cells it covers, 1 or 0 alike), so the global mean is its result either way; a pool with
    padding, where count_include_pad=1 would change the divisor, is never rewritten."""
    import onnx

    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    return (not any(attrs.get("pads", [0])) and attrs.get("auto_pad", b"NOTSET") in (b"NOTSET", b"VALID")
            and all(d == 1 for d in attrs.get("dilations", [1])))


def _frontend_accepts(model: Any, pools: dict[str, Any]) -> bool:
    """Cheap pre-check, ONNX shape inference: every pool's input has static spatial sizes no smaller than its
    kernel, so the frontend refuses none (a kernel larger than its input is what it refuses). False when a size
    is unknown (the legacy exporter's computed Pad widths) or a kernel exceeds it: the partial conversion decides."""
    import onnx

    try:
        inferred = onnx.shape_inference.infer_shapes(model).graph
    except Exception:  # noqa: BLE001 - shape inference is an optimisation here, never a verdict
        return False
    shapes = {v.name: v.type.tensor_type.shape for v in (*inferred.value_info, *inferred.input)}
    for node in pools.values():
        shape = shapes.get(node.input[0])
        kernel = next((list(onnx.helper.get_attribute_value(a)) for a in node.attribute if a.name == "kernel_shape"), [])
        spatial = [d.dim_value if d.HasField("dim_value") else None for d in shape.dim][2:] if shape else []
        if not kernel or len(spatial) != len(kernel) or None in spatial or any(k > n for k, n in zip(kernel, spatial)):
            return False
    return True


def whole_input_pools(src: Path, dst: Path) -> list[str]:
    """Rewrites each ONNX AveragePool that OpenVINO's ONNX frontend refuses and whose window covers its whole
    spatial input (no padding, no dilation, a 1x1 output) as GlobalAveragePool, and saves the model to ``dst``
    (weights beside it); returns the rewritten nodes' names (none: nothing is written).

    Hugging Face's EfficientNet pools with ``nn.AvgPool2d(hidden_dim, ceil_mode=True)`` (kernel 1280 on a 7x7
    map): PyTorch and ONNX Runtime clip the window to the input, a global mean, but the frontend rejects a kernel
    larger than its input ("Kernel after dilation has size ... larger than the data shape"). The spatial sizes
    come from the frontend's own partial conversion (ONNX shape inference cannot follow the legacy exporter's
    computed Pad widths before the pool)."""
    import math

    import onnx
    from openvino.frontend import FrontEndManager

    model = onnx.load(str(src), load_external_data=False)
    pools = {n.output[0]: n for n in model.graph.node if n.op_type == "AveragePool" and _no_padding(n)}
    if not pools or _frontend_accepts(model, pools):
        return []  # nothing to rewrite: the frontend's partial conversion (a second conversion) is skipped
    frontend = FrontEndManager().load_by_framework("onnx")
    shapes = {}
    for op in frontend.convert_partially(frontend.load(str(src))).get_ordered_ops():
        names = op.output(0).get_names() if op.get_output_size() else set()
        if op.get_type_name() == "NotSupportedONNXNode" and names & pools.keys():
            shapes[next(iter(names & pools.keys()))] = [d.get_length() if d.is_static else None
                                                         for d in op.input(0).get_partial_shape()]
    rewritten = []
    for output, node in pools.items():
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        spatial = shapes.get(output, [None, None, None])[2:]
        kernel = list(attrs.get("kernel_shape", []))
        strides = list(attrs.get("strides", [1] * len(kernel)))
        rounding = math.ceil if attrs.get("ceil_mode", 0) else math.floor
        if (None in spatial or len(kernel) != len(spatial)
                or any(k < n or rounding((n - k) / s) + 1 != 1 for k, n, s in zip(kernel, spatial, strides))):
            continue
        del node.attribute[:]
        node.op_type = "GlobalAveragePool"
        rewritten.append(node.name or output)
    if rewritten:
        onnx.load_external_data_for_model(model, str(src.parent))
        onnx.save(model, str(dst), save_as_external_data=True, location=dst.name + ".weights")
    return rewritten


class OpenVinoBackend:
    name: ClassVar[str] = "openvino"
    native_format: ClassVar[Format] = Format.OPENVINO_IR
    measures_on_host: ClassVar[bool] = True

    def __init__(self) -> None:
        self.core = ov.Core()

    def versions(self) -> dict[str, str]:
        return {"openvino": ov.__version__, "nncf": nncf.__version__}

    def compile(self, src: Path, dst: Path, profile: Profile) -> dict[str, Any]:
        """ONNX -> IR (.xml + .bin). FP32 weights unless the profile asks for FP16 compression. Average pools
        whose window covers the whole input are converted as GlobalAveragePool (`whole_input_pools`)."""
        with tempfile.TemporaryDirectory(prefix="edgekit-ov-") as tmp:
            rewritten = whole_input_pools(src, Path(tmp) / "model.onnx")
            model = ov.convert_model(str(Path(tmp) / "model.onnx" if rewritten else src))
        ov.save_model(model, str(dst), compress_to_fp16=profile.compile.fp16_weights)
        return {"converter": "openvino.convert_model", "fp16_weights": profile.compile.fp16_weights,
                **({"global_pools": rewritten} if rewritten else {})}

    def open(self, path: Path, profile: Profile, *, pin_f32: bool = True, emulate_qdq: bool = False) -> OvSession:
        """``emulate_qdq`` is accepted for the Backend protocol and ignored: an OpenVINO IR is checked as the
        plugin runs it (NNCF's IR has no Q/DQ pairs to emulate)."""
        try:
            compiled = self.core.compile_model(str(path), "CPU", runtime_config(profile, pin_f32=pin_f32))
        except Exception as exc:
            raise PipelineError(f"OpenVINO cannot compile {path}: {str(exc).splitlines()[0][:300]}",
                                "Check the model converts with ov.convert_model.") from exc
        return OvSession(compiled)

    def quantize(self, src: Path, dst: Path, calib: Dataset, profile: Profile, *,
                 evald: Dataset | None = None, max_drop: float | None = None, host: HostFacts | None = None,
                 progress: Progress | None = None, task: str | None = None) -> dict[str, Any]:
        """NNCF on the OpenVINO model (``task`` unused: NNCF's accuracy control scores per-sample labels only). Accuracy control (labelled eval data: an accuracy budget) selects on the
        calibration split, never on the evaluation data that judges the variant afterwards: its labels when
        it has them, else the FP32 model's own top-1 (then the metric is agreement, the drop's upper bound)."""
        model = self.core.read_model(str(src))
        specs = runner.input_specs(model)

        def items(data: Dataset) -> list[Any]:  # one sample each, as the model eats it: array, or dict by input name
            x = runner.common.as_feed(data.x, specs)
            return [runner.common.take(x, slice(i, i + 1)) for i in range(len(data))]

        validation = None
        # NNCF's accuracy control scores top-1 here: per-sample labels only (segmentation's label maps: plain PTQ,
        # the verdict then holds the variant to the mIoU budget)
        if (evald is not None and evald.y is not None and evald.y.ndim == 1 and max_drop is not None
                and profile.quantize.accuracy_control):
            labels = calib.y if calib.y is not None else self.open(src, profile).run(calib.x).reshape(len(calib), -1).argmax(1)
            validation = list(zip(items(calib), (int(v) for v in labels)))
        quantized, info = self.quantize_model(model, items(calib), profile,
                                              validation=validation, max_drop=max_drop)
        ov.save_model(quantized, str(dst), compress_to_fp16=False)
        return info

    def quantize_model(self, model: Any, calibration_items: list[Any], profile: Profile, *,
                       validation: list[tuple[Any, int]] | None = None, max_drop: float | None = None
                       ) -> tuple[Any, dict[str, Any]]:
        """NNCF INT8 of an OpenVINO model. Items are what the model eats: an array, or a dict of
        named arrays for multi-input models (a tokenized transformer). With ``validation``
        ((inputs, label) pairs) accuracy control keeps the top-1 drop within ``max_drop`` points."""
        from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters, OverflowFix

        cfg = profile.quantize
        calibration = nncf.Dataset(calibration_items)
        options: dict[str, Any] = {
            "subset_size": len(calibration_items), "preset": nncf.QuantizationPreset(cfg.preset),
            "advanced_parameters": AdvancedQuantizationParameters(overflow_fix=OverflowFix(cfg.overflow_fix))}
        if cfg.model_type:
            options["model_type"] = nncf.ModelType(cfg.model_type)
        if cfg.exclude_op_types or cfg.ignored_names:
            options["ignored_scope"] = nncf.IgnoredScope(names=list(cfg.ignored_names), types=list(cfg.exclude_op_types),
                                                         validate=False)
        info: dict[str, Any] = {"quantizer": "nncf.quantize (OpenVINO model)", "preset": cfg.preset,
                                "overflow_fix": cfg.overflow_fix, "model_type": cfg.model_type or None,
                                "calibration_samples": len(calibration_items)}
        with _quiet_nncf():
            quantized = nncf.quantize(model, calibration, **options)
            if validation is not None:
                plain = _weight_quantized_layers(quantized)
                quantized = self._with_accuracy_control(model, calibration, validation, max_drop, options)
                info["accuracy_control"] = {"max_drop_points": max_drop, "metric": "top-1 accuracy",
                                            "reverted_to_float": sorted(plain - _weight_quantized_layers(quantized))}
        return quantized, info

    def _with_accuracy_control(self, model: Any, calibration: Any, items: list[tuple[Any, int]], max_drop: float,
                               options: dict[str, Any]) -> Any:
        validation = nncf.Dataset(items)

        def top1(compiled: Any, items: Any) -> float:
            return float(np.mean([int(np.argmax(compiled(x)[0]) == y) for x, y in items]))

        # the accuracy-control entry point names its advanced parameters differently
        kwargs = {k: v for k, v in options.items() if k != "advanced_parameters"}
        return nncf.quantize_with_accuracy_control(
            model, calibration, validation, validation_fn=top1, max_drop=max_drop / 100.0,
            drop_type=nncf.DropType.ABSOLUTE, advanced_quantization_parameters=options["advanced_parameters"],
            **kwargs)

    def kernel_coverage(self, path: Path, profile: Profile, workdir: Path) -> KernelCoverage:
        """Count compute layers by the precision the CPU plugin runs them in (runtimePrecision)."""
        runtime = self.open(path, profile, pin_f32=True).compiled.get_runtime_model()
        ir = self.core.read_model(str(path))  # the IR's shapes give the MACs (_coverage_with_macs)
        quantized = _fake_quantized_layers(ir)
        counts: Counter[str] = Counter()
        floats = []
        for op in runtime.get_ordered_ops():
            info = op.get_rt_info()
            layer = info["layerType"].astype(str) if "layerType" in info else op.get_type_name()
            if layer not in COMPUTE_LAYERS:
                continue
            precision = info["runtimePrecision"].astype(str) if "runtimePrecision" in info else "?"
            counts[f"{layer}:{precision}"] += 1
            if precision not in INT8_PRECISIONS:
                names = info["originalLayersNames"].astype(str) if "originalLayersNames" in info else op.get_friendly_name()
                floats.append({"name": names, "op": layer, "reason": _float_reason(names, precision, quantized)})
        total = sum(counts.values())
        coverage = KernelCoverage(total - len(floats), len(floats), dict(counts), tuple(floats))
        return _coverage_with_macs(coverage, runtime, ir)


def _ov_static(shape: Any) -> tuple[int, ...] | None:
    """A partial shape's dims, a dynamic first (batch) dim taken as 1; None when another dim is dynamic."""
    from edgekit.summary import static_dims

    return static_dims([d.get_length() if d.is_static else "?" for d in shape])


def _ir_macs(op: Any) -> int | None:
    """MACs of one IR compute op (per sample) from its weight and output shapes; None when a shape is dynamic."""
    import math

    from edgekit.summary import conv_macs, matmul_macs

    kind = op.get_type_name()
    out, w = _ov_static(op.get_output_partial_shape(0)), _ov_static(op.get_input_partial_shape(1))
    x = _ov_static(op.get_input_partial_shape(0))
    if out is None or w is None or x is None:
        return None
    if kind == "Convolution":
        return conv_macs(out, w)  # weights O x I x k...
    if kind == "GroupConvolution":
        return conv_macs(out, w[1:])  # weights G x O/G x I/G x k...
    if kind in ("ConvolutionBackpropData", "GroupConvolutionBackpropData"):
        w = w[1:] if kind.startswith("Group") else w
        return math.prod(x) * math.prod(w[1:])  # input elements x (C_out / groups) x kernel area
    if kind == "MatMul":
        k = x[-2] if op.get_attributes().get("transpose_a") and len(x) > 1 else x[-1]
        return matmul_macs(out, k)
    return None


def _prefixes(name: str) -> list[str]:
    """'/a/b/c' -> ['/a/b', '/a']: the names a plugin-derived op name may extend."""
    parts = name.split("/")
    return ["/".join(parts[:i]) for i in range(len(parts) - 1, 1, -1)]


def _coverage_with_macs(coverage: KernelCoverage, runtime: Any, ir: Any) -> KernelCoverage:
    """Weigh the coverage by MACs: each runtime compute op carries the IR ops it was made of (originalLayersNames);
    its MACs are those of the IR's compute ops among them. The node share stays, and says why, when a runtime
    compute op names no IR compute op or a shape is dynamic."""
    import math
    from dataclasses import replace

    ir_macs = {op.get_friendly_name(): _ir_macs(op) for op in ir.get_ordered_ops()
               if op.get_type_name() in IR_COMPUTE}
    int8 = floating = 0
    for op in runtime.get_ordered_ops():
        info = op.get_rt_info()
        layer = info["layerType"].astype(str) if "layerType" in info else op.get_type_name()
        if layer not in COMPUTE_LAYERS:
            continue
        names = info["originalLayersNames"].astype(str) if "originalLayersNames" in info else op.get_friendly_name()
        # the IR op's own name, or one the plugin derived from it ("/fc/Gemm/WithoutBiases/DequantizationMultiply")
        found = [ir_macs[n] if n in ir_macs else next((ir_macs[p] for p in _prefixes(n) if p in ir_macs), None)
                 for n in names.split(",") if n in ir_macs or any(p in ir_macs for p in _prefixes(n))]
        if not found and layer == "FullyConnected":  # input ... x K, weights N x K: the runtime op's own shapes
            x, out = _ov_static(op.get_input_partial_shape(0)), _ov_static(op.get_output_partial_shape(0))
            found = [math.prod(out) * x[-1] if x and out else None]
        if not found or None in found:
            what = "a dynamic shape" if found else "no IR compute op among its original layers"
            return replace(coverage, macs_note=f"MACs unknown for {names} ({what})")
        precision = info["runtimePrecision"].astype(str) if "runtimePrecision" in info else "?"
        if precision in INT8_PRECISIONS:
            int8 += sum(found)
        else:
            floating += sum(found)
    return replace(coverage, int8_macs=int8, float_macs=floating)


def _fake_quantized_layers(model: Any) -> set[str]:
    """Names of the IR's compute nodes that NNCF put a FakeQuantize in front of (activations or weights)."""
    names = set()
    for op in model.get_ordered_ops():
        if op.get_type_name() not in ("Convolution", "GroupConvolution", "MatMul", "ConvolutionBackpropData"):
            continue
        for value in op.inputs():
            source = value.get_source_output().get_node()
            while source.get_type_name() in ("Convert", "Reshape", "Transpose", "Multiply", "Subtract"):
                source = source.input_value(0).get_node()
            if source.get_type_name() == "FakeQuantize":
                names.add(op.get_friendly_name())
                break
    return names


def _float_reason(names: str, precision: str, quantized: set[str]) -> str:
    if any(n in quantized for n in names.split(",")):
        return (f"quantized in the IR, but the CPU plugin runs it in {precision} on this CPU (no INT8 kernel for this "
                "layer here: OpenVINO's CPU plugin has fewer INT8 kernels without VNNI, e.g. depthwise/grouped convs)")
    return (f"runs {precision}: NNCF left it unquantized (ignored scope, accuracy control reverted it, or its pattern "
            "is not quantized)")
