"""`edgekit export` and `edgekit inspect` take --output and --task as compress does (one definition each,
cli/run_options.py): a ModelOutput-returning transformers model and a save_pretrained folder, no wrapper. Tiny random
weights built from a config (nothing is downloaded)."""

from __future__ import annotations

import json
from pathlib import Path

import onnx
import pytest

from tests.clitools import run

transformers = pytest.importorskip("transformers")


def tiny_config():
    return transformers.ResNetConfig(depths=[1, 1], hidden_sizes=[8, 16], embedding_size=8, num_labels=10,
                                     image_size=32)


def tiny_resnet(cls=None):
    import torch

    torch.manual_seed(0)
    return (cls or transformers.ResNetForImageClassification)(tiny_config()).eval()


@pytest.fixture(scope="module")
def hf_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("hf") / "resnet-hf"
    tiny_resnet().save_pretrained(folder)
    return folder


def onnx_outputs(path: Path) -> dict[str, list]:
    graph = onnx.load(str(path)).graph
    return {o.name: [d.dim_value or d.dim_param for d in o.type.tensor_type.shape.dim] for o in graph.output}


FEATURES = {"output": ["batch", 16, 4, 4], "output_pooler_output": ["batch", 16, 1, 1]}


def test_export_of_a_folder_picks_logits_or_the_output_named(hf_folder, tmp_path: Path) -> None:
    code, output = run("export", hf_folder, "--out", tmp_path / "logits.onnx")
    assert code == 0, output
    assert onnx_outputs(tmp_path / "logits.onnx") == {"output": ["batch", 10]}
    code, output = run("export", hf_folder, "--out", tmp_path / "named.onnx", "--output", "logits")
    assert code == 0, output
    assert onnx_outputs(tmp_path / "named.onnx") == {"output": ["batch", 10]}


def test_export_task_loads_the_folder_for_it(hf_folder, tmp_path: Path) -> None:
    """feature-extraction: AutoModel (no head), no logits, so every tensor output is exported in order, or the one
    --output names."""
    code, output = run("export", hf_folder, "--out", tmp_path / "features.onnx", "--task", "feature-extraction")
    assert code == 0, output
    assert onnx_outputs(tmp_path / "features.onnx") == FEATURES
    code, output = run("export", hf_folder, "--out", tmp_path / "pooled.onnx", "--task", "feature-extraction",
                       "--output", "pooler_output")
    assert code == 0, output
    assert onnx_outputs(tmp_path / "pooled.onnx") == {"output": ["batch", 16, 1, 1]}


def test_api_export_of_a_model_output_module(tmp_path: Path) -> None:
    import edgekit

    model = tiny_resnet(transformers.ResNetModel)
    path = edgekit.export(model, tmp_path / "m.onnx", input_shape=(1, 3, 32, 32), output="pooler_output")
    assert onnx_outputs(path) == {"output": ["batch", 16, 1, 1]}
    path = edgekit.export(model, tmp_path / "all.onnx", input_shape=(1, 3, 32, 32))
    assert onnx_outputs(path) == FEATURES


def test_inspect_shows_the_selected_outputs(hf_folder) -> None:
    code, output = run("inspect", hf_folder, "--json", "--task", "feature-extraction", "--output", "pooler_output")
    assert code == 0, output
    assert json.loads(output[output.index("{"):])["outputs"] == {"output": ["batch", 16, 1, 1]}
    code, output = run("inspect", hf_folder, "--json", "--task", "feature-extraction")
    assert code == 0, output
    assert json.loads(output[output.index("{"):])["outputs"] == FEATURES


@pytest.mark.parametrize("command", ["export", "inspect"])
def test_an_output_the_model_lacks_exits_2_naming_it(command, hf_folder, tmp_path: Path) -> None:
    args = ["--out", tmp_path / "x.onnx"] if command == "export" else []
    code, output = run(command, hf_folder, "--output", "nope", *args)
    assert code == 2, output
    assert "no output named 'nope'" in output and "logits" in output and "--output" in output
    assert "Traceback" not in output and not (tmp_path / "x.onnx").exists()


def test_an_unknown_task_exits_2(hf_folder) -> None:
    code, output = run("inspect", hf_folder, "--task", "nope")
    assert code == 2 and "--task" in output and "Traceback" not in output
