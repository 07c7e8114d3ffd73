"""ONNX Runtime (CPU execution provider): INT8 as QDQ ONNX from onnxruntime.quantization.

Why this quantizer: NNCF's ONNX-backend QDQ output fuses only part of MobileNetV2 in ORT and
ran 2-5x slower than FP32 there (FIELD-NOTES), while ``quant_pre_process`` + ``quantize_static``
(per-channel S8 weights, U8 activations) fuses every conv into QLinearConv.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import io
import logging
from collections import Counter
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from edgekit.artifact import Format
from edgekit.backends.base import KernelCoverage
from edgekit.backends.int8 import RecipePlan, check_mode, plan_recipes
from edgekit.backends.int8_search import (Attempt, compute_node_names, first_attempts, float_budget, selection_for,
                                          rank_by_sensitivity, search)
from edgekit.data import Dataset
from edgekit.deploy import run_onnxruntime as runner
from edgekit.errors import PipelineError
from edgekit.hardware import HostFacts, detect
from edgekit.profile import Profile
from edgekit.progress import Progress

log = logging.getLogger(__name__)

INT8_OPS = frozenset({"QLinearConv", "ConvInteger", "QLinearMatMul", "MatMulInteger", "QGemm",
                      "DynamicQuantizeMatMul", "MatMulIntegerToFloat", "QAttention", "QLinearConvTranspose"})
FLOAT_OPS = frozenset({"Conv", "FusedConv", "ConvTranspose", "MatMul", "FusedMatMul", "Gemm", "FusedGemm",
                       "Attention", "MultiHeadAttention"})


def coverage_with_macs(coverage: KernelCoverage, path: Path, graph: Any = None) -> KernelCoverage:
    """The coverage weighed by MACs. ORT's optimised graph renames, re-lays-out (NHWC, NCHWc) and
    fuses nodes, so MACs are counted on the file itself (ONNX shape inference) and its INT8 layers are the integer
    ops and the Q/DQ patterns ORT fuses into integer kernels. ORT only makes integer kernels of those patterns, one
    kernel each, so when the optimised graph runs exactly as many INT8 kernels as the file has INT8 layers, they are
    the same layers. Otherwise (a Q/DQ pattern ORT did not fuse) each float kernel of the optimised ``graph`` is
    matched to the file's layer by the names it keeps (node, weight, bias, output); when every one matches a layer of
    its own and the rest are as many as the integer kernels, those are the INT8 layers. Failing that (an attention
    fusion), or when a shape is unknown, the gate stays on the node share, and says why."""
    from dataclasses import replace

    from edgekit.summary import compute_macs

    try:
        layers = compute_macs(path)
        if any(layer.macs is None for layer in layers):  # a Reshape to a computed shape (MobileViT's unfolding)
            layers = compute_macs(path, _measured_shapes(path, {t for layer in layers if layer.macs is None
                                                                for t in layer.tensors if t}))
        unknown = [layer.name for layer in layers if layer.macs is None]
        file_int8 = sum(layer.int8 for layer in layers)
        float_names = ({layer.name for layer in layers if not layer.int8} if file_int8 == coverage.int8_nodes
                       else _float_layers_by_name(layers, graph, coverage.int8_nodes) if graph is not None else None)
    except Exception as exc:  # noqa: BLE001 - shape inference or a run on an odd file: the node share still holds
        return replace(coverage, macs_note=f"MACs not counted ({type(exc).__name__}: {exc})")
    if unknown:
        note = f"MACs unknown for {len(unknown)} compute node(s) (a shape left open), e.g. {unknown[0]}"
    elif float_names is None:
        note = (f"MACs not attributed: the file has {file_int8} Q/DQ layer(s) but ONNX Runtime runs "
                f"{coverage.int8_nodes} integer kernel(s), and its float kernels do not name the file's layers")
    else:
        return replace(coverage, int8_macs=sum(layer.macs or 0 for layer in layers if layer.name not in float_names),
                       float_macs=sum(layer.macs or 0 for layer in layers if layer.name in float_names))
    return replace(coverage, macs_note=note)


def _float_layers_by_name(layers: list[Any], graph: Any, int8_kernels: int) -> set[str] | None:
    """The file's layers that run as the optimised graph's float compute kernels, or None when a kernel matches no
    single layer or the layers left are not as many as the integer kernels."""
    import re

    inits = {i.name for i in graph.initializer}
    owners: dict[str, set[str]] = {}
    for layer in layers:
        for key in layer.keys:
            owners.setdefault(key, set()).add(layer.name)
    found: set[str] = set()
    for node in graph.node:
        if node.op_type not in FLOAT_OPS:
            continue
        names = {node.name, re.sub(r"(_token_\d+|_nchwc)$", "", node.name), *node.output,
                 *(n for n in node.input[1:] if n in inits)}
        match = set().union(*(owners.get(n, set()) for n in names if len(owners.get(n, ())) == 1))
        if len(match) != 1 or match & found:
            return None
        found |= match
    return found if len(layers) - len(found) == int8_kernels else None


def _measured_shapes(path: Path, names: set[str]) -> dict[str, tuple[int, ...]]:
    """The shapes of ``names`` (tensors of the coverage's MAC count) found by running the file once, unoptimised,
    on zeros at batch 1; {} when an input has another symbolic dim (a sequence length: no one size to pick)."""
    import onnx
    from onnx import shape_inference

    model = shape_inference.infer_shapes(onnx.load(str(path)))
    graph = model.graph
    types = {v.name: v.type.tensor_type.elem_type for v in [*graph.value_info, *graph.input, *graph.output]}
    known = {i.name for i in graph.initializer} | {o.name for o in graph.output}
    feeds = {}
    for value in graph.input:
        if value.name in known:
            continue
        dims = [d.dim_value if d.HasField("dim_value") else None for d in value.type.tensor_type.shape.dim]
        if None in dims[1:]:
            return {}
        dtype = onnx.helper.tensor_dtype_to_np_dtype(value.type.tensor_type.elem_type)
        feeds[value.name] = np.zeros([dims[0] or 1, *dims[1:]], dtype)
    wanted = sorted(n for n in names if n not in known and types.get(n))
    graph.output.extend(onnx.helper.make_tensor_value_info(n, types[n], None) for n in wanted)
    session = runner.make_session(model.SerializeToString(), 1, "disable")
    outputs = session.run(wanted, feeds)
    return {name: tuple(array.shape) for name, array in zip(wanted, outputs)}


class OrtSession:
    def __init__(self, session: Any) -> None:
        self.session = session

    def run(self, x: Any) -> np.ndarray:
        """First output for ``x``: an array, or a dict of arrays named after the model's inputs."""
        return runner.run_batched(self.session, x)

    def run_all(self, x: Any) -> list[np.ndarray]:
        """Every output for ``x``, in the model's output order (``output_names``)."""
        return runner.run_batched(self.session, x, all_outputs=True)

    @property
    def output_names(self) -> list[str]:
        return runner.output_names(self.session)

    @property
    def fixed_batch(self) -> int | None:
        return runner.fixed_batch(self.session)


class CalibrationReader:
    """Feeds calibration samples one batch at a time (the model's fixed batch, else 1), as the session's
    input dict (every named input of a multi-input model, each in the dtype the model declares)."""

    def __init__(self, session: Any, x: Any, batch: int) -> None:
        feed, n = runner.feed_of(session, x), runner.common.count(x)
        if n < batch:
            feed, n = runner.make_batch(feed, batch), batch  # fewer samples than a fixed batch: repeat them
        self._items = iter([runner.common.take(feed, slice(i, i + batch)) for i in range(0, n - batch + 1, batch)])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._items, None)


def preprocess(src: Path, dst: Path) -> tuple[Path, list[str]]:
    """quant_pre_process (shape inference + graph clean-up) into dst's folder; the source itself if it fails."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    prepared = dst.with_name("preprocessed.onnx")
    source, target = str(src.resolve()), str(prepared.resolve())  # before leaving the working directory
    cwd, scratch = os.getcwd(), tempfile.TemporaryDirectory(prefix="edgekit-preprocess-")
    try:
        # ORT's symbolic shape inference, when it cannot finish, saves sym_shape_infer_temp.onnx + <uuid>.data into
        # the working directory before raising: run it from a scratch folder, removed afterwards
        os.chdir(scratch.name)
        quant_pre_process(source, target, skip_symbolic_shape=False)
    except Exception as exc:  # pre-processing is an optimisation; quantization works without it
        return src, [f"quant_pre_process skipped: {str(exc).splitlines()[0][:200]}"]
    finally:
        os.chdir(cwd)
        scratch.cleanup()
    return prepared, []


def run_quantize_static(prepared: Path, dst: Path, reader: CalibrationReader, attempt: Attempt, profile: Profile, *,
                        nodes_to_exclude: list[str], workdir: Path, op_types: list[str] | None = None,
                        extra: dict[str, Any] | None = None) -> None:
    """One ``quantize_static`` call for ``attempt`` (recipe, calibration method, layers kept in float).
    Calibration ranges are cached per method in ``workdir`` where onnxruntime can (>= 1.32), so the
    accuracy-aware search pays for calibration once per method, not once per attempt."""
    import inspect

    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    types = {"int8": QuantType.QInt8, "uint8": QuantType.QUInt8}
    recipe = attempt.recipe
    options: dict[str, Any] = {}
    if "calibration_cache_path" in inspect.signature(quantize_static).parameters:
        sym = "sym" if recipe.symmetric_activations else "asym"
        options["calibration_cache_path"] = str(workdir / f"ranges-{attempt.calibration_method}-{sym}.json")
    # the histogram calibrators (percentile, entropy) print their progress to stdout: a library must not
    with contextlib.redirect_stdout(io.StringIO()):
        quantize_static(
            str(prepared), str(dst), reader, quant_format=QuantFormat.QDQ, per_channel=profile.quantize.per_channel,
            activation_type=types[recipe.activation_type], weight_type=types[recipe.weight_type],
            reduce_range=recipe.reduce_range, calibrate_method=calibration_method(attempt.calibration_method),
            nodes_to_exclude=[*nodes_to_exclude, *attempt.float_nodes], op_types_to_quantize=op_types,
            extra_options={"ActivationSymmetric": recipe.symmetric_activations, "WeightSymmetric": True,
                           **(extra or {})},
            calibration_providers=["CPUExecutionProvider"], **options)


def quantize_accuracy_aware(src: Path, dst: Path, calib: Dataset, profile: Profile, plan: RecipePlan, host: HostFacts,
                            *, evald: Dataset | None, progress: Progress | None, quantizer: str,
                            task: str | None = None,
                            exclude_op_types: set[str] = frozenset(), op_types: list[str] | None = None,
                            extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """QDQ INT8 of ``src`` into ``dst`` by the accuracy-aware search over ``plan`` (edgekit.backends.int8_search);
    shared by the ONNX Runtime and TensorRT backends. Returns the quantization record for the report."""
    import shutil
    import tempfile

    cfg, verify = profile.quantize, profile.verify
    prepared, notes = preprocess(src, dst)
    excluded = [*OnnxRuntimeBackend._nodes_of_types(prepared, exclude_op_types), *cfg.ignored_names]
    threads = profile.target.threads
    reader_session = runner.make_session(src, threads, "disable")
    batch = runner.fixed_batch(reader_session) or 1
    optimization = profile.target.graph_optimization
    reference = runner.run_batched(runner.make_session(src, threads, optimization), calib.x)
    selection = selection_for(calib, evald, reference, verify, task)
    # plan.isa, not the profile's: the class the file is made for ("cuda" for TensorRT whatever [target] isa says)
    modes = {r.name: check_mode(r, plan.isa, host) for r in plan.ladder}
    with tempfile.TemporaryDirectory(prefix="edgekit-int8-", dir=dst.parent) as tmp:
        work = Path(tmp)

        def quantize_one(attempt: Attempt, path: Path) -> None:
            run_quantize_static(prepared, path, CalibrationReader(reader_session, calib.x, batch), attempt, profile,
                                nodes_to_exclude=excluded, workdir=work, op_types=op_types, extra=extra)

        def evaluate(attempt: Attempt, path: Path) -> Any:
            emulate = modes[attempt.recipe.name].emulated
            return runner.run_batched(runner.make_session(path, threads, optimization, emulate_qdq=emulate),
                                      calib.x)

        nodes = [n for n in compute_node_names(prepared) if n not in excluded]

        def rank(qdq: Path) -> list[str]:
            return rank_by_sensitivity(prepared, qdq, calib.x, nodes,
                                       lambda blob, emulate: runner.make_session(blob, threads, optimization,
                                                                                 emulate_qdq=emulate),
                                       runner.feed_of)

        attempts = first_attempts(plan.ladder, cfg.calibration_method, cfg.accuracy_control)
        result = search(quantize_one, evaluate, selection, attempts, work,
                        rank=rank if cfg.accuracy_control else None, compute_nodes=len(nodes),
                        macs=float_budget(prepared, nodes) if cfg.accuracy_control else None,
                        min_int8_coverage=verify.min_int8_coverage, progress=progress,
                        key=f"int8-search {dst.parent.name}")
        shutil.copyfile(result.chosen.path, dst)
    if prepared != src:
        prepared.unlink()
    chosen = result.chosen.attempt
    mode = modes[chosen.recipe.name]
    if mode.warning:
        notes.append(mode.warning)
    return {"quantizer": quantizer, "format": "QDQ", "per_channel": cfg.per_channel,
            "recipe": chosen.recipe.to_dict(), "recipe_plan": plan.to_dict(), "host_isa": host.isa,
            "activation_type": chosen.recipe.activation_type, "weight_type": chosen.recipe.weight_type,
            "reduce_range": chosen.recipe.reduce_range, "calibration_method": chosen.calibration_method,
            "calibration_samples": len(calib), "excluded_nodes": len(excluded) + len(chosen.float_nodes),
            "check": mode.to_dict(), "search": result.to_dict(selection.criterion), "notes": notes}


def calibration_method(name: str) -> Any:
    from onnxruntime.quantization import CalibrationMethod

    return {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
            "percentile": CalibrationMethod.Percentile}[name]


class OnnxRuntimeBackend:
    name: ClassVar[str] = "onnxruntime"
    native_format: ClassVar[Format] = Format.ONNX
    measures_on_host: ClassVar[bool] = True

    def versions(self) -> dict[str, str]:
        import onnx
        import onnxruntime

        return {"onnxruntime": onnxruntime.__version__, "onnx": onnx.__version__}

    def open(self, path: Path, profile: Profile, *, emulate_qdq: bool = False) -> OrtSession:
        try:
            session = runner.make_session(path, profile.target.threads, profile.target.graph_optimization,
                                          emulate_qdq=emulate_qdq)
        except Exception as exc:
            raise PipelineError(f"ONNX Runtime cannot load {path}: {str(exc).splitlines()[0][:300]}",
                                "The model uses an operator or opset this onnxruntime does not support.") from exc
        return OrtSession(session)

    def quantize(self, src: Path, dst: Path, calib: Dataset, profile: Profile, *, evald: Dataset | None = None,
                 max_drop: float | None = None, host: HostFacts | None = None,
                 progress: Progress | None = None, task: str | None = None) -> dict[str, Any]:
        """QDQ INT8 with the target ISA's recipe, accuracy-aware (int8_search); the verdict comes afterwards."""
        cfg = profile.quantize
        host = host or detect()
        plan = plan_recipes(cfg.recipe, profile.target.isa, host)
        return quantize_accuracy_aware(src, dst, calib, profile, plan, host, evald=evald, progress=progress,
                                       task=task, exclude_op_types=set(cfg.exclude_op_types),
                                       quantizer="onnxruntime.quantization.quantize_static")

    @staticmethod
    def _nodes_of_types(path: Path, op_types: set[str]) -> list[str]:
        if not op_types:
            return []
        import onnx

        model = onnx.load(str(path), load_external_data=False)
        return [n.name for n in model.graph.node if n.op_type in op_types]

    def kernel_coverage(self, path: Path, profile: Profile, workdir: Path) -> KernelCoverage:
        """Count integer vs float compute kernels in the graph ORT actually executes."""
        import onnx

        optimized = workdir / f"{path.stem}.ort-optimized.onnx"
        runner.make_session(path, profile.target.threads, profile.target.graph_optimization, optimized)
        graph = onnx.load(str(optimized), load_external_data=False).graph
        optimized.unlink()
        counts = Counter(n.op_type for n in graph.node if n.op_type in INT8_OPS | FLOAT_OPS)
        int8 = sum(v for k, v in counts.items() if k in INT8_OPS)
        floats = tuple({"name": n.name, "op": n.op_type,
                        "reason": "no Q/DQ around it (kept in float by the INT8 search, exclude_op_types or "
                                  "ignored_names), or ONNX Runtime has no integer kernel for its Q/DQ pattern"}
                       for n in graph.node if n.op_type in FLOAT_OPS)
        coverage = KernelCoverage(int8, sum(counts.values()) - int8, dict(counts), floats)
        return coverage_with_macs(coverage, path, graph)
