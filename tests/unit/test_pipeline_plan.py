"""The stage chain is planned and checked before any work; run_plan writes one dir per stage."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import pytest

from edgekit.artifact import Artifact, Format, sha256_file
from edgekit.errors import ExitCode, PipelineError
from edgekit.pipeline.plan import INPUT, Plan, Step, build_plan, check_chain, describe_chain
from edgekit.pipeline.execute import run_plan
from edgekit.profile import Profile
from edgekit.stages.base import RunContext
from edgekit.stages.export import ExportConfig, ExportStage
from edgekit.stages.quantize import QuantizeStage

EXPORT = ExportConfig(input_shape=(1, 1, 8, 8))


class FakeStage:
    """A stage with declared formats that writes a small file (no torch, no runtime)."""

    name: ClassVar[str] = "fake"

    def __init__(self, consumes: set[Format], produces: Format, payload: bytes = b"out", fail: bool = False) -> None:
        self.consumes = frozenset(consumes)
        self.produces = produces
        self.payload = payload
        self.fail = fail
        self.inputs: list[Artifact] = []

    def config_dict(self) -> dict[str, Any]:
        return {"payload": self.payload.decode()}

    def run(self, artifact: Artifact, ctx: RunContext, stage_dir: Path) -> Artifact:
        self.inputs.append(artifact)
        if self.fail:
            raise RuntimeError("stage exploded")
        out = stage_dir / "model.bin"
        out.write_bytes(self.payload)
        return Artifact(self.produces, out, {"note": "fake", "module": object()})


class RecordingProgress:
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def start(self, key: str, description: str, total: int | None = None) -> None:
        self.events.append(("start", key))

    def update(self, key: str, completed: int, total: int | None = None, description: str | None = None) -> None:
        self.events.append(("update", key))

    def finish(self, key: str) -> None:
        self.events.append(("finish", key))


# --- build_plan ---------------------------------------------------------------------------

def test_torch_input_plans_export_then_quantize():
    plan = build_plan(Format.TORCH, ("fp32", "int8"), "onnxruntime", EXPORT)
    assert [s.id for s in plan.steps] == ["export", "quantize-int8"]
    export, quantize = plan.steps
    assert isinstance(export.stage, ExportStage) and export.source == INPUT
    assert export.stage.config == EXPORT
    assert isinstance(quantize.stage, QuantizeStage) and quantize.source == "export"
    assert plan.variants == {"fp32": "export", "int8": "quantize-int8"}


def test_torch_input_fp32_only_has_no_quantize_step():
    plan = build_plan(Format.TORCH, ("fp32",), "onnxruntime", EXPORT)
    assert [s.id for s in plan.steps] == ["export"]
    assert plan.variants == {"fp32": "export"}


def test_onnx_input_plans_no_export():
    plan = build_plan(Format.ONNX, ("fp32", "int8"), "onnxruntime", None)
    assert not any(isinstance(s.stage, ExportStage) for s in plan.steps)
    assert all(Format.ONNX in s.stage.consumes and s.stage.produces is Format.ONNX for s in plan.steps)
    quantize = next(s for s in plan.steps if isinstance(s.stage, QuantizeStage))
    assert plan.variants["int8"] == quantize.id
    # INT8 is made from the same artifact that is the FP32 variant: one shared prefix
    assert quantize.source == plan.variants["fp32"]


def test_onnx_input_ignores_an_export_config():
    plan = build_plan(Format.ONNX, ("int8",), "onnxruntime", EXPORT)
    assert not any(isinstance(s.stage, ExportStage) for s in plan.steps)
    assert list(plan.variants) == ["int8"]


@pytest.mark.parametrize("fmt", [Format.TORCH, Format.ONNX])
def test_fp16_on_onnxruntime_is_refused(fmt):
    with pytest.raises(PipelineError) as info:
        build_plan(fmt, ("fp32", "fp16"), "onnxruntime", EXPORT)
    assert "'fp16'" in info.value.message and "onnxruntime" in info.value.message
    assert "precisions" in info.value.hint
    assert info.value.exit_code is ExitCode.PIPELINE


def test_torch_input_without_shape():
    with pytest.raises(PipelineError) as info:
        build_plan(Format.TORCH, ("fp32", "int8"), "onnxruntime", None)
    assert "input shape" in info.value.message and "--input-shape" in info.value.hint


# --- check_chain --------------------------------------------------------------------------

def test_chain_mismatch_names_the_whole_chain():
    plan = build_plan(Format.TORCH, ("fp32", "int8"), "onnxruntime", EXPORT)
    ov_only = FakeStage({Format.OPENVINO_IR}, Format.TENSORRT_PLAN)
    bad = Plan(plan.steps + (Step("compile-ov", ov_only, "quantize-int8"),), {**plan.variants, "ov": "compile-ov"})
    with pytest.raises(PipelineError) as info:
        check_chain(bad, Format.TORCH)
    text = str(info.value)
    assert "'compile-ov' cannot consume onnx" in text and "openvino_ir" in text
    chain = describe_chain(bad, Format.TORCH)
    assert chain in text
    assert chain == ("input(torch) -> export[torch -> onnx] -> quantize-int8[onnx -> onnx] "
                     "-> compile-ov[openvino_ir -> tensorrt_plan]")


def test_chain_mismatch_on_the_first_step():
    plan = Plan((Step("quantize-int8", QuantizeStage("int8"), INPUT),), {"int8": "quantize-int8"})
    with pytest.raises(PipelineError, match=r"cannot consume torch") as info:
        check_chain(plan, Format.TORCH)
    assert "input(torch) -> quantize-int8[onnx -> onnx]" in str(info.value)


def test_chain_with_an_unknown_source_step():
    plan = Plan((Step("quantize-int8", QuantizeStage("int8"), "export"),), {"int8": "quantize-int8"})
    with pytest.raises(PipelineError, match="unknown step 'export'"):
        check_chain(plan, Format.ONNX)


def test_multi_format_stage_is_described_sorted():
    stage = FakeStage({Format.ONNX, Format.OPENVINO_IR}, Format.OPENVINO_IR)
    plan = Plan((Step("convert", stage, INPUT),), {"fp32": "convert"})
    check_chain(plan, Format.ONNX)
    assert describe_chain(plan, Format.ONNX) == "input(onnx) -> convert[onnx|openvino_ir -> openvino_ir]"


# --- run_plan -----------------------------------------------------------------------------

def make_ctx(progress=None) -> RunContext:
    from edgekit.backends.onnxruntime import OnnxRuntimeBackend

    ctx = RunContext(Profile(name="t"), OnnxRuntimeBackend())
    if progress is not None:
        ctx.progress = progress
    return ctx


def test_run_plan_writes_stage_dirs_and_records(tmp_path):
    src_file = tmp_path / "in.onnx"
    src_file.write_bytes(b"input model")
    first = FakeStage({Format.ONNX}, Format.ONNX, b"first")
    second = FakeStage({Format.ONNX}, Format.ONNX, b"second")
    plan = Plan((Step("a", first, INPUT), Step("b", second, "a")), {"fp32": "a", "int8": "b"})
    progress = RecordingProgress()
    root = tmp_path / "bundle"
    artifacts, records = run_plan(plan, Artifact(Format.ONNX, src_file), make_ctx(progress), root, {"x": "1"})

    assert set(artifacts) == {INPUT, "a", "b"}
    assert artifacts["a"].path == root / "stages" / "01-a" / "model.bin"
    assert artifacts["b"].path == root / "stages" / "02-b" / "model.bin"
    assert second.inputs[0].path == artifacts["a"].path, "b consumes a's artifact"
    assert progress.events == [("start", "a"), ("finish", "a"), ("start", "b"), ("finish", "b")]

    on_disk = json.loads((root / "stages" / "02-b" / "stage.json").read_text())
    assert on_disk == records[1]
    assert on_disk["step"] == "b" and on_disk["index"] == 2 and on_disk["source"] == "a"
    assert on_disk["config"] == {"payload": "second"} and on_disk["versions"] == {"x": "1"}
    assert on_disk["input"] == {"format": "onnx", "sha256": sha256_file(artifacts["a"].path)}
    assert on_disk["output"] == {"format": "onnx", "path": "model.bin", "sha256": sha256_file(artifacts["b"].path)}
    assert on_disk["meta"] == {"note": "fake"}, "in-memory objects stay out of stage.json"
    assert on_disk["wall_s"] >= 0
    assert records[0]["input"]["sha256"] == sha256_file(src_file)


def test_run_plan_failure_still_finishes_progress(tmp_path):
    src_file = tmp_path / "in.onnx"
    src_file.write_bytes(b"x")
    plan = Plan((Step("boom", FakeStage({Format.ONNX}, Format.ONNX, fail=True), INPUT),), {"fp32": "boom"})
    progress = RecordingProgress()
    with pytest.raises(RuntimeError, match="stage exploded"):
        run_plan(plan, Artifact(Format.ONNX, src_file), make_ctx(progress), tmp_path / "out", {})
    assert progress.events == [("start", "boom"), ("finish", "boom")]
    assert not (tmp_path / "out" / "stages" / "01-boom" / "stage.json").exists()


def test_quantize_stage_without_calibration_data(tmp_path):
    src = tmp_path / "m.onnx"
    src.write_bytes(b"x")
    with pytest.raises(PipelineError, match="calibration data") as info:
        QuantizeStage("int8").run(Artifact(Format.ONNX, src), make_ctx(), tmp_path)
    assert "--calib-data" in info.value.hint


def test_qat_is_refused_for_tensorrt_profiles():
    """QAT output is not validated against TensorRT's Q/DQ rules yet: the plan refuses before any work."""
    import importlib.util

    import pytest

    from edgekit.artifact import Format
    from edgekit.distill.config import DistillConfig
    from edgekit.errors import PipelineError
    from edgekit.pipeline.plan import build_plan
    from edgekit.pruning.config import PruneConfig
    from edgekit.stages.export import ExportConfig

    if importlib.util.find_spec("torchao") is None:
        pytest.skip("torchao is not installed (pip install 'edgekit[qat]')")
    with pytest.raises(PipelineError, match="not available for TensorRT"):
        build_plan(Format.TORCH, ("int8", "fp16"), "tensorrt", ExportConfig((1, 1, 8, 8), 17),
                   prune=PruneConfig(ratio=0.5), distill=DistillConfig(qat=True))


def test_a_variant_chain_walks_back_to_the_input():
    """What a sweep trial runs: only the steps its variant needs, from the one plan builder compress uses."""
    from edgekit.pruning.config import PruneConfig

    plan = build_plan(Format.TORCH, ("fp32", "int8"), "openvino", EXPORT, prune=PruneConfig(ratio=0.5),
                      native=Format.OPENVINO_IR)
    assert [s.id for s in plan.chain("pruned-int8")] == ["prune", "export-pruned", "compile-pruned",
                                                        "quantize-pruned-int8"]
    assert [s.id for s in plan.chain("fp32")] == ["export", "compile"]
    chain = plan.chain("int8")
    assert all(later.source == earlier.id for earlier, later in zip(chain, chain[1:])) and chain[0].source == INPUT
