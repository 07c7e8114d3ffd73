"""On the real hardware only: a TensorRT engine built on an NVIDIA GPU, and a Jetson's own power rails.

Everything here also runs against fakes elsewhere (tests/faketrt.py, tests/unit/energy_fakes.py); these
tests are the check that the fakes and the devices agree. Without the hardware they skip with the reason.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clitools import run


def _gpu_or_skip() -> str:
    from edgekit.backends.tensorrt.backend import host_status

    ok, what = host_status()
    if not ok:
        pytest.skip(f"needs TensorRT and an NVIDIA GPU: {what}")
    return what


@pytest.mark.tensorrt
@pytest.mark.gpu
def test_engines_build_verify_and_time_on_a_real_gpu(demo_assets, tmp_path: Path) -> None:
    _gpu_or_skip()
    out = tmp_path / "gpu"
    code, output = run("compress", "edgekit.demo:digits_cnn", "--weights", demo_assets.weights, "--profile",
                       "nvidia-gpu", "--calib-data", demo_assets.calib, "--eval-data", demo_assets.eval,
                       "--out", out, "--batch-sizes", "1,8")
    assert code == 0, output
    report = json.loads((out / "report.json").read_text())
    variants = {v["name"]: v for v in report["variants"]}
    assert set(variants) == {"int8", "fp16", "fp32"}
    for v in variants.values():
        assert v["status"] == "accepted" and v["latency_ms"]["batch_1"]["p50"] > 0, v["reason"]
        assert v["accuracy_drop"] <= 1.0
    assert variants["int8"]["int8_coverage"]["int8_nodes"] >= 1  # the engine inspector saw INT8 layers


@pytest.mark.jetson
def test_a_jetson_reads_its_own_rails_and_power_mode() -> None:
    from edgekit.energy.base import MeterContext
    from edgekit.energy.jetson import find_rails
    from edgekit.energy.jetson_platform import jetson_platform

    if not Path("/etc/nv_tegra_release").exists():
        pytest.skip("needs a Jetson (no /etc/nv_tegra_release)")
    ctx = MeterContext(root=Path("/"))
    rails = find_rails(ctx)
    assert rails, "no INA3221 rail readable under /sys (JetPack 4 iio or JetPack 5/6 hwmon)"
    assert jetson_platform(ctx)
