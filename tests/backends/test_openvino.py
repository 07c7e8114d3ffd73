"""The OpenVINO backend on the real digits CNN: IR compilation, NNCF INT8 that runs INT8, accuracy
control with a real metric, f32 pinning for parity, the model cache, and the missing-runtime path."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("openvino", reason="openvino is not installed (pip install 'edgekit[openvino]')")
pytest.importorskip("nncf", reason="nncf is not installed (pip install 'edgekit[openvino]')")

from clitools import run  # noqa: E402
from edgekit.errors import BackendUnavailableError, ExitCode  # noqa: E402

pytestmark = pytest.mark.openvino

OV_FAST = """\
schema_version = 1
name = "ov-fast"
[target]
backend = "openvino"
threads = 1
inference_precision = "f32"
[benchmark]
batch_sizes = [1, 4]
warmup = 2
iterations = 10
"""



@pytest.fixture(scope="module")
def ov_profile(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("ov") / "ov-fast.toml"
    path.write_text(OV_FAST)
    return path


@pytest.fixture(scope="module")
def ov_bundle(tmp_path_factory, demo_assets, ov_profile) -> Path:
    out = tmp_path_factory.mktemp("ovb") / "bundle"
    code, output = run("compress", "edgekit.zoo:digits_cnn", "--weights", demo_assets.weights, "--profile", ov_profile,
                       "--calib-data", demo_assets.calib, "--eval-data", demo_assets.eval, "--out", out)
    assert code == 0, output
    return out


def variants(bundle: Path) -> dict[str, dict]:
    return {v["name"]: v for v in json.loads((bundle / "report.json").read_text())["variants"]}


def test_ir_bundle_with_int8_that_runs_int8(ov_bundle: Path) -> None:
    v = variants(ov_bundle)
    assert v["fp32"]["artifact"] == "stages/02-compile/model.xml"
    assert (ov_bundle / "stages/02-compile/model.bin").is_file()
    int8 = v["int8"]
    assert int8["artifact"].endswith("model.xml") and int8["status"] == "accepted"
    assert int8["int8_coverage"]["int8_nodes"] == 4 and int8["int8_coverage"]["float_nodes"] == 0
    assert set(int8["int8_coverage"]["by_op"]) <= {"Convolution:u8", "FullyConnected:u8", "Convolution:i8",
                                                   "FullyConnected:i8"}
    assert int8["accuracy_drop"] <= 1.0 and int8["accuracy"] > 95
    assert int8["quantization"]["quantizer"].startswith("nncf.quantize")
    assert v["fp32"]["size_bytes"] > 2.5 * int8["size_bytes"]  # .xml + .bin counted


def test_fp32_ir_keeps_fp32_weights_and_exact_parity(ov_bundle: Path) -> None:
    import openvino as ov

    model = ov.Core().read_model(str(ov_bundle / "stages/02-compile/model.xml"))
    weight_types = {op.get_output_element_type(0).get_type_name() for op in model.get_ops()
                    if op.get_type_name() == "Constant" and len(op.get_output_shape(0)) == 4}
    assert weight_types == {"f32"}  # ov.save_model would have compressed to f16 by default
    assert variants(ov_bundle)["fp32"]["parity"]["max_abs"] < 1e-4


def test_report_names_the_precision_that_ran_and_the_cache(ov_bundle: Path) -> None:
    for v in variants(ov_bundle).values():
        assert v["runtime"]["precision"] == "f32"
        assert v["runtime"]["load_cold_s"] > 0 and v["runtime"]["load_warm_s"] > 0
        assert v["runtime"]["async_requests"] >= 1 and v["runtime"]["async_items_per_s"] > 0
    assert "float layers ran in f32" in (ov_bundle / "report.md").read_text()
    assert "plugin's own latency p50" in (ov_bundle / "report.md").read_text()


def test_deploy_runner_is_standalone(ov_bundle: Path) -> None:
    deploy = ov_bundle / "deploy"
    assert {"model.xml", "model.bin", "run.py", "runner_common.py", "sample.npz"} <= {p.name for p in deploy.iterdir()}
    out = deploy.parent / "ov-run.json"
    subprocess.run([sys.executable, "-I", str(deploy / "run.py"), "--iterations", "3", "--warmup", "1",
                    "--precision", "f32", "--json", str(out)], check=True, capture_output=True)
    result = json.loads(out.read_text())
    assert result["runtime"] == "openvino" and result["parity_vs_reference"]["top1_agreement"] >= 0.875
    # the plugin's own time per timed call (InferRequest.latency), never longer than the wall clock around it
    plugin, wall = result["details"]["plugin_latency_ms"]["batch_1"], result["latency_ms"]["batch_1"]
    assert plugin["iterations"] == 3 and 0 < plugin["min"] <= wall["min"] and plugin["mean"] <= wall["mean"]
    assert "OpenVINO" in (deploy / "README.md").read_text()


def test_unpinned_precision_is_reported_as_what_the_cpu_ran(model_files, tmp_path: Path) -> None:
    import openvino as ov

    from edgekit.backends.openvino import OpenVinoBackend
    from edgekit.profile import load_profile

    ir = tmp_path / "m.xml"
    ov.save_model(ov.convert_model(str(model_files["onnx"])), str(ir), compress_to_fp16=False)
    profile = load_profile("x86-openvino").replace_section("target", inference_precision="auto")
    backend = OpenVinoBackend()
    capabilities = ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    unpinned = backend.open(ir, profile, pin_f32=False).precision
    assert unpinned == ("bf16" if "BF16" in capabilities else "f32")
    assert backend.open(ir, profile).precision == "f32"  # parity sessions are always pinned


def test_accuracy_control_reverts_layers_to_meet_the_budget(demo_assets, digits_model, tmp_path: Path) -> None:
    """conv2 reads a dead channel through huge weights (tests/int8_models.py): plain INT8 rounds its real weights
    to zero; accuracy control, selecting on the labelled calibration split (never the evaluation data that
    judges), must put layers back in float until the drop fits, and say which. The held-out data then judges."""
    import warnings

    import openvino as ov
    import torch

    from edgekit.backends.openvino import OpenVinoBackend
    from edgekit.data import load_data
    from edgekit.profile import load_profile
    from int8_models import dead_channel_outlier

    calib, evald = load_data(str(demo_assets.calib)), load_data(str(demo_assets.eval))
    onnx_file, src = tmp_path / "outlier.onnx", tmp_path / "fp32.xml"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(dead_channel_outlier(digits_model), (torch.from_numpy(calib.x[:2]),), str(onnx_file),
                          dynamo=False, opset_version=17, input_names=["input"], output_names=["output"],
                          dynamic_axes={"input": {0: "n"}, "output": {0: "n"}})
    ov.save_model(ov.convert_model(str(onnx_file)), str(src), compress_to_fp16=False)
    profile = load_profile("x86-openvino")
    backend = OpenVinoBackend()
    backend.quantize(src, tmp_path / "plain.xml", calib, profile.replace_section("quantize", accuracy_control=False))
    info = backend.quantize(src, tmp_path / "ac.xml", calib, profile, evald=evald, max_drop=1.0)

    def accuracy(path: Path) -> float:
        return float(np.mean(backend.open(path, profile).run(evald.x).argmax(1) == evald.y) * 100)

    reference = accuracy(src)
    assert reference - accuracy(tmp_path / "plain.xml") > 1.0  # the dead channel's weights really hurt
    assert info["accuracy_control"]["reverted_to_float"]
    assert reference - accuracy(tmp_path / "ac.xml") <= 1.0


def test_missing_openvino_names_the_extra(monkeypatch) -> None:
    import edgekit.backends as backends

    monkeypatch.setitem(sys.modules, "openvino", None)  # import openvino now raises ImportError
    monkeypatch.delitem(sys.modules, "edgekit.backends.openvino", raising=False)
    with pytest.raises(BackendUnavailableError) as err:
        backends.get_backend("openvino")
    assert "edgekit[openvino]" in err.value.hint and err.value.exit_code == ExitCode.BACKEND_UNAVAILABLE


def test_bench_an_ir(ov_bundle: Path, ov_profile: Path, tmp_path: Path) -> None:
    out = tmp_path / "b.json"
    code, output = run("bench", ov_bundle / "deploy" / "model.xml", "--profile", ov_profile, "--batch-sizes", "1",
                       "--json", out)
    assert code == 0, output
    result = json.loads(out.read_text())
    assert result["details"]["precision"] == "f32" and "batch_1" in result["latency_ms"]


@pytest.mark.slow
def test_qat_qdq_onnx_compiles_to_an_int8_ir(demo_assets, ov_profile: Path, tmp_path: Path) -> None:
    """--qat on OpenVINO: the QDQ ONNX goes through compile-qat (never NNCF) and runs INT8 in the CPU plugin."""
    pytest.importorskip("torchao", reason="--qat needs torchao (edgekit[qat])")
    out = tmp_path / "qat"
    code, output = run("compress", "edgekit.zoo:digits_cnn", "--weights", demo_assets.weights, "--profile", ov_profile,
                       "--calib-data", demo_assets.calib, "--eval-data", demo_assets.eval, "--out", out,
                       "--distill", "--qat", "--qat-epochs", "1", "--train-data", demo_assets.train,
                       "--batch-sizes", "1")
    assert code == 0, output
    qat = variants(out)["int8-qat"]
    assert qat["artifact"] == "stages/05-compile-qat/model.xml" and qat["status"] == "accepted"
    assert qat["int8_coverage"]["int8_nodes"] == 4 and qat["int8_coverage"]["float_nodes"] == 0
    assert qat["accuracy_drop"] <= 1.0
    stages = [json.loads(p.read_text())["step"] for p in sorted(out.glob("stages/*/stage.json"))]
    assert stages == ["export", "compile", "quantize-int8", "qat", "compile-qat"]
