"""`edgekit compress --prune 0.3` of a tiny Hugging Face ViT (a save_pretrained folder returning a ModelOutput, no
wrapper) end to end on ONNX Runtime with INT8: whole heads pruned, exported, quantized, verified (issue 17 item 2)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from benchmarks.coverage.families import IMAGE_SIZE, families
from tests.clitools import run

pytest.importorskip("transformers")

PROFILE = """\
schema_version = 1
name = "test-vit-prune"
description = "FP32 + INT8 on ONNX Runtime, one batch size, few iterations"

[target]
backend = "onnxruntime"
threads = 1

[quantize]
calibration_samples = 16

[compile]
precisions = ["fp32", "int8"]

# random weights, no fine-tuning after pruning: parity is measured, not gated (the pipeline is under test)
[verify]
min_cosine = -1.0
min_top1_agreement = 0.0

[benchmark]
batch_sizes = [1]
warmup = 1
iterations = 3
"""


@pytest.mark.slow
def test_compress_prunes_a_vit_folder_heads_and_all(tmp_path) -> None:
    folder = tmp_path / "vit"
    families()["vit"]().save_pretrained(folder)
    (tmp_path / "profile.toml").write_text(PROFILE)
    x = np.random.default_rng(0).standard_normal((16, 3, IMAGE_SIZE, IMAGE_SIZE)).astype(np.float32)
    np.savez(tmp_path / "calib.npz", x=x)
    code, output = run("compress", folder, "--profile", tmp_path / "profile.toml", "--calib-data",
                       tmp_path / "calib.npz", "--prune", "0.3", "--out", tmp_path / "out")
    assert code == 0, output
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    variants = {v["name"]: v for v in report["variants"]}
    assert {"fp32", "int8", "pruned-fp32", "pruned-int8"} <= set(variants)
    assert all(v["artifact"] and v["status"] == "accepted" for v in variants.values())
    prune = json.loads(next((tmp_path / "out" / "stages").glob("*-prune/prune.json")).read_text())
    assert len(prune["attention_modules"]) == 2 and prune["ratios"]["macs"] < 0.85
    architecture = json.loads(next((tmp_path / "out" / "stages").glob("*-prune/architecture.json")).read_text())
    heads = [layer["num_attention_heads"] for layer in architecture["layers"].values() if layer["type"] == "attention"]
    assert heads == [3, 3]  # of 4: whole heads, head_dim kept
