"""Quantization-aware distillation on the real digits CNN: QDQ export, INT8 execution, parity, recovery, plan."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from edgekit.artifact import Artifact, Format
from edgekit.data import Dataset, load_data
from edgekit.distill.config import DistillConfig
from edgekit.errors import PipelineError
from edgekit.profile import load_profile
from edgekit.parity import accuracy, compare

pytest.importorskip("torchao", reason="--qat needs torchao (edgekit[qat])")


@pytest.fixture(scope="module")
def setup(demo_assets, eval_arrays, tmp_path_factory):
    """A fresh copy of the trained digits CNN (the session's one is shared with tests that hook and freeze it),
    its FP32 ONNX and the ORT backend's PTQ of it on the real calibration set."""
    from edgekit.artifact import Artifact
    from edgekit.backends.onnxruntime import OnnxRuntimeBackend
    from edgekit.demo import digits_cnn
    from edgekit.stages.export import ExportConfig, ExportStage

    torch.set_num_threads(1)  # tiny models: more threads on a busy 2-core box are much slower
    teacher = digits_cnn()
    teacher.load_state_dict(torch.load(demo_assets.weights, weights_only=True))
    with np.load(demo_assets.train) as data:
        train = Dataset(data["x"][:512], data["y"][:512])
    work = tmp_path_factory.mktemp("qat-setup")
    fp32 = ExportStage(ExportConfig((1, 1, 8, 8))).export(Artifact(Format.TORCH, None, {"module": teacher.eval()}), work)
    backend, profile, calib = OnnxRuntimeBackend(), load_profile("cpu-onnxruntime"), load_data(demo_assets.calib)
    backend.quantize(fp32.path, work / "ptq.onnx", calib, profile)
    return {"teacher": teacher, "train": train, "evald": Dataset(*eval_arrays), "calib": calib, "backend": backend,
            "profile": profile, "fp32": fp32.path, "ptq": work / "ptq.onnx"}


def run_qat(setup: dict, calib: Dataset, stage_dir: Path, **overrides) -> Artifact:
    from edgekit.stages.base import RunContext
    from edgekit.stages.qat import QatStage

    ctx = RunContext(setup["profile"], setup["backend"], calib, setup["evald"], train=setup["train"],
                     teacher=setup["teacher"])
    cfg = DistillConfig(qat=True, **{"qat_epochs": 1, **overrides})
    stage_dir.mkdir()
    return QatStage(cfg, (1, 1, 8, 8)).run(Artifact(Format.TORCH, None, {"module": setup["teacher"]}), ctx, stage_dir)


def ort_accuracy(setup: dict, path: Path) -> tuple[float, np.ndarray]:
    out = setup["backend"].open(path, setup["profile"]).run(setup["evald"].x)
    return accuracy(out, setup["evald"].y), out


@pytest.fixture(scope="module")
def trained(setup, tmp_path_factory) -> Artifact:
    return run_qat(setup, setup["calib"], tmp_path_factory.mktemp("qat") / "stage")


def test_qdq_file_runs_int8_in_onnxruntime_like_the_fake_quant_model(setup, trained: Artifact) -> None:
    import onnx

    model = onnx.load(str(trained.path))
    ops = [n.op_type for n in model.graph.node]
    assert ops.count("QuantizeLinear") >= 4 and ops.count("DequantizeLinear") >= 8
    init = {t.name: t for t in model.graph.initializer}
    weight_dq = [n for n in model.graph.node if n.op_type == "DequantizeLinear" and n.input[0] in init]
    assert len(weight_dq) == 4  # conv1, conv2, fc1, fc2: INT8 weight constants, not float weights
    for node in weight_dq:
        assert init[node.input[0]].data_type == onnx.TensorProto.INT8
        assert init[node.input[2]].data_type == onnx.TensorProto.INT8
        assert not onnx.numpy_helper.to_array(init[node.input[2]]).any()  # symmetric: zero point 0
    coverage = setup["backend"].kernel_coverage(trained.path, setup["profile"], trained.path.parent)
    assert coverage.int8_nodes == 4 and coverage.float_nodes == 0, coverage  # QLinearConv x2 + QGemm x2
    acc, out = ort_accuracy(setup, trained.path)
    with torch.no_grad():
        fake = trained.meta["module"].eval()(torch.from_numpy(setup["evald"].x)).numpy()
    parity = compare(fake, out)
    assert parity.top1_agreement >= 0.99 and parity.cosine > 0.999, parity  # integer kernels vs float simulation
    summary = trained.meta["qat"]
    assert abs(acc - summary["after"]["eval_accuracy"]) <= 1.0
    assert summary["onnx"]["zero_point_types"] == {"int8": 4, "uint8": summary["onnx"]["ops"]["QuantizeLinear"] * 2}
    assert {"model.onnx", "qat.json", "log.csv", "log.json"} <= {p.name for p in trained.path.parent.iterdir()}
    assert (trained.path.parent / "checkpoints" / "last.pt").is_file()


def test_qat_is_at_least_as_accurate_as_ptq(setup, trained: Artifact) -> None:
    ptq, _ = ort_accuracy(setup, setup["ptq"])
    qat, _ = ort_accuracy(setup, trained.path)
    assert qat >= ptq - 0.5, (qat, ptq)  # keep-best starts from the calibrated model: never much worse


def test_qat_recovers_what_bad_calibration_cost_ptq(setup, tmp_path: Path) -> None:
    """Calibration on dim images (x 0.1): PTQ clips every real input; QAT re-learns the ranges on the training data."""
    dim = Dataset(setup["calib"].x[:64] * 0.1)
    setup["backend"].quantize(setup["fp32"], tmp_path / "ptq.onnx", dim, setup["profile"])
    ptq, _ = ort_accuracy(setup, tmp_path / "ptq.onnx")
    artifact = run_qat(setup, dim, tmp_path / "stage", qat_epochs=2, lr=1e-2, keep_best=False)  # qat lr = 1e-3
    qat, _ = ort_accuracy(setup, artifact.path)
    summary = artifact.meta["qat"]
    assert ptq < 60 and summary["before"]["eval_accuracy"] < 60  # both start from the same bad ranges
    assert qat >= ptq + 25, (ptq, qat)


def test_eval_mode_freezes_the_ranges(setup) -> None:
    from edgekit.qat.model import calibrate, prepare
    from edgekit.qat.quantizer import QatScheme

    student = prepare(setup["teacher"], torch.zeros(2, 1, 8, 8), QatScheme())
    calibrate(student, setup["calib"].x)

    def scales() -> list[torch.Tensor]:
        return [fq.scale.clone() for fq in student.fake_quantizers()]

    before = scales()
    with torch.no_grad():
        student.eval()(torch.from_numpy(setup["evald"].x) * 3)
        assert all(torch.equal(a, b) for a, b in zip(before, scales()))
        student.train()(torch.from_numpy(setup["evald"].x) * 3)
    assert not all(torch.equal(a, b) for a, b in zip(before, scales()))


def test_plan_puts_the_qat_variant_beside_ptq() -> None:
    from edgekit.pipeline.plan import build_plan
    from edgekit.pruning.config import PruneConfig
    from edgekit.stages.export import ExportConfig

    export, qat = ExportConfig((1, 1, 8, 8)), DistillConfig(qat=True)
    plan = build_plan(Format.TORCH, ("fp32", "int8"), "onnxruntime", export, prune=PruneConfig(ratio=0.5), distill=qat)
    assert list(plan.variants) == ["fp32", "int8", "pruned-fp32", "pruned-int8", "pruned-int8-qat"]
    steps = {s.id: s for s in plan.steps}
    assert plan.variants["pruned-int8-qat"] == "qat" and steps["qat"].source == "distill"
    assert plan.precision("pruned-int8-qat") == "int8"
    assert not any(s.source == "qat" for s in plan.steps)  # the QDQ file is never re-quantized
    ov = build_plan(Format.TORCH, ("fp32", "int8"), "openvino", export, native=Format.OPENVINO_IR, distill=qat)
    assert ov.variants["int8-qat"] == "compile-qat" and {s.id: s.source for s in ov.steps}["qat"] == "input"
    assert "distill" not in {s.id for s in ov.steps}  # --qat alone: the original itself is fine-tuned
    with pytest.raises(PipelineError, match="only fp32"):
        build_plan(Format.TORCH, ("fp32",), "onnxruntime", export, prune=PruneConfig(ratio=0.5), distill=qat)
    with pytest.raises(PipelineError, match="--hint"):
        build_plan(Format.TORCH, ("fp32", "int8"), "onnxruntime", export,
                   distill=DistillConfig(qat=True, hints=("conv2:conv2",)))


def test_a_frozen_module_is_trained_all_the_same(setup) -> None:
    """QAT of the original: the module the user passed is also the teacher, whose parameters the loop freezes."""
    import copy

    from edgekit.qat.model import prepare
    from edgekit.qat.quantizer import QatScheme

    frozen = copy.deepcopy(setup["teacher"]).requires_grad_(False)
    student = prepare(frozen, torch.zeros(2, 1, 8, 8), QatScheme())
    assert all(p.requires_grad for p in student.parameters()) and len(list(student.parameters())) == 8
    assert not any(p.requires_grad for p in frozen.parameters())  # the original is left as it was
