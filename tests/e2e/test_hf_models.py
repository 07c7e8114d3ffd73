"""Models users bring: a transformers ModelOutput, a dict or a tuple from forward, a save_pretrained folder, and
outputs that are all zeros. Tiny random-weight models built from configs (nothing is downloaded)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from torch import nn

import edgekit
from edgekit.errors import ExitCode, OptionError
from edgekit.outputs import names, primary
from tests.clitools import run

transformers = pytest.importorskip("transformers")


def tiny_resnet() -> nn.Module:
    torch.manual_seed(0)
    config = transformers.ResNetConfig(depths=[1, 1], hidden_sizes=[8, 16], embedding_size=8, num_labels=10,
                                       image_size=32)
    return transformers.ResNetForImageClassification(config).eval()


@pytest.fixture(scope="module")
def files(tmp_path_factory, fp32_profile) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("hf")
    x = np.random.default_rng(0).standard_normal((24, 3, 32, 32)).astype(np.float32)
    np.savez(root / "calib.npz", x=x)
    return {"root": root, "profile": fp32_profile, "calib": root / "calib.npz"}


def compress(model: nn.Module, files: dict[str, Path], out: str, **kwargs) -> edgekit.Report:
    options = kwargs.pop("options", edgekit.RunOptions())
    return edgekit.compress(model, str(files["profile"]), out_dir=files["root"] / out, calib_data=str(files["calib"]),
                            options=options, **kwargs)


# --- the output rule (edgekit/outputs.py) ---------------------------------------------------------------------------

def test_the_rule_picks_logits_else_every_tensor_in_order() -> None:
    a, b = torch.zeros(2, 3), torch.ones(2, 4)
    assert names({"features": a, "logits": b}) == ["logits"] and primary({"features": a, "logits": b}) is b
    assert names((a, b)) == ["0", "1"] and primary((a, b)) is a
    assert names({"x": a, "nested": (b, None)}) == ["x", "nested.0"]
    assert names({"features": a, "logits": b}, "features") == ["features"]
    assert primary(a, "logits") is a  # an already selected (traced, wrapped) output passes through
    with pytest.raises(OptionError, match="no output named 'nope'.*features, logits"):
        names({"features": a, "logits": b}, "nope")
    with pytest.raises(OptionError, match="returns one tensor"):
        names(a, "logits")


# --- every stage takes a ModelOutput -----------------------------------------------------------------------------

@pytest.mark.slow
def test_a_model_output_is_pruned_exported_and_verified_on_its_logits(files) -> None:
    report = compress(tiny_resnet(), files, "pruned", prune=edgekit.prune_config(ratio=0.3, round_to=1))
    assert report.model["output"] == "logits"
    names_ = {v.name: v for v in report.variants}
    assert set(names_) == {"fp32", "pruned-fp32"}
    assert names_["fp32"].status == "accepted" and names_["fp32"].parity["max_abs"] < 1e-4
    assert names_["pruned-fp32"].parity["samples"] == 24  # built and compared (random weights: any verdict)
    pruned = onnx.load(str(Path(report.out_dir) / names_["pruned-fp32"].artifact))
    assert [o.name for o in pruned.graph.output] == ["output"]  # only the logits are exported
    assert pruned.graph.output[0].type.tensor_type.shape.dim[1].dim_value == 10


class DictModel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(8, 5)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        features = self.body(x)
        return {"features": features, "logits": self.head(features)}


class TupleModel(DictModel):
    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # type: ignore[override]
        out = super().forward(x)
        return out["logits"], out["features"]


def test_a_dict_output_is_compared_on_logits_or_the_output_named(files) -> None:
    report = compress(DictModel(), files, "dict")
    assert report.model["output"] == "logits" and report.variant("fp32").status == "accepted"
    named = compress(DictModel(), files, "dict-features", options=edgekit.RunOptions(output="features"))
    assert named.model["output"] == "features"
    exported = onnx.load(str(Path(named.out_dir) / named.variant("fp32").artifact))
    assert exported.graph.output[0].type.tensor_type.shape.dim[1].dim_value == 8


def test_a_tuple_output_exports_every_tensor_and_compares_the_first(files) -> None:
    report = compress(TupleModel(), files, "tuple")
    assert report.model["output"] == "0" and report.model["selected_outputs"] == ["0", "1"]
    assert report.variant("fp32").status == "accepted"
    exported = onnx.load(str(Path(report.out_dir) / report.variant("fp32").artifact))
    assert [o.name for o in exported.graph.output] == ["output", "output_1"]


def test_an_unknown_output_name_is_an_option_error(files) -> None:
    with pytest.raises(OptionError, match="no output named 'hidden'"):
        compress(DictModel(), files, "bad-name", options=edgekit.RunOptions(output="hidden"))
    assert not (files["root"] / "bad-name").exists()


# --- identical outputs never fail parity ---------------------------------------------------------------------------

class Zeros(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x).mean((2, 3)) * 0.0


def test_a_model_whose_outputs_are_all_zeros_passes_fp32(files) -> None:
    fp32 = compress(Zeros(), files, "zeros").variant("fp32")
    assert fp32.status == "accepted", fp32.reason
    assert fp32.parity["cosine"] == 1.0 and fp32.parity["max_abs"] == 0.0 and fp32.parity["constant_reference"]
    assert "constant" in fp32.reason


# --- a Hugging Face folder as MODEL ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def hf_folder(files) -> Path:
    folder = files["root"] / "resnet-hf"
    tiny_resnet().save_pretrained(folder)
    return folder


@pytest.mark.slow
def test_a_save_pretrained_folder_through_the_cli(files, hf_folder) -> None:
    out = files["root"] / "cli-out"
    code, output = run("compress", hf_folder, "--profile", files["profile"], "--calib-data", files["calib"],
                       "--out", out)
    assert code == 0, output
    report = json.loads((out / "report.json").read_text())
    assert report["model"]["kind"] == "hf_folder" and report["model"]["task"] == "image-classification"
    assert report["model"]["output"] == "logits"
    assert report["variants"][0]["status"] == "accepted"


def test_a_folder_is_loaded_offline_with_the_config_task(hf_folder) -> None:
    from edgekit.models import load_model

    loaded = load_model(hf_folder)
    assert loaded.kind.value == "hf_folder" and loaded.task == "image-classification"
    assert loaded.example_shape == (1, 3, 32, 32)
    x = torch.zeros(1, 3, 32, 32)
    assert torch.equal(primary(loaded.module(x)), primary(tiny_resnet()(x)))  # the saved weights, not new ones
    assert load_model(hf_folder, task="feature-extraction").module.__class__.__name__ == "ResNetModel"


def _folder(root: Path, name: str, config: dict | None, weights: bool) -> Path:
    folder = root / name
    folder.mkdir()
    if config is not None:
        (folder / "config.json").write_text(json.dumps(config))
    if weights:
        (folder / "model.safetensors").write_bytes(b"")
    return folder


@pytest.mark.parametrize("name, config, weights, needle", [
    ("no-config", None, True, "without a config.json"),
    ("no-weights", {"model_type": "resnet", "architectures": ["ResNetForImageClassification"]}, False, "no weights"),
    ("unknown", {"model_type": "not-a-model", "architectures": ["NotAModel"]}, True, "architecture NotAModel"),
])
def test_bad_folders_are_bad_models(files, tmp_path, name, config, weights, needle) -> None:
    folder = _folder(tmp_path, name, config, weights)
    code, output = run("compress", folder, "--profile", files["profile"], "--calib-data", files["calib"],
                       "--out", tmp_path / "out")
    assert code == ExitCode.BAD_MODEL, output
    assert needle in output and "Traceback" not in output
    assert not (tmp_path / "out").exists()


def test_a_folders_preprocessor_config_reads_image_folders_at_the_models_size_and_normalisation(files, tmp_path) -> None:
    """A save_pretrained folder with its image processor's settings (preprocessor_config.json): image folders are
    read at that size with that mean/std, not ImageNet's 224 x 224; an option given on the command line still wins."""
    from PIL import Image

    folder = tmp_path / "with-processor"
    tiny_resnet().save_pretrained(folder)
    (folder / "preprocessor_config.json").write_text(json.dumps(
        {"image_processor_type": "ConvNextImageProcessor", "size": {"shortest_edge": 32}, "do_normalize": True,
         "image_mean": [0.5, 0.5, 0.5], "image_std": [0.25, 0.25, 0.25]}))
    images = tmp_path / "images"
    rng = np.random.default_rng(0)
    for label in ("a", "b"):
        (images / label).mkdir(parents=True)
        for i in range(6):
            Image.fromarray(rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)).save(images / label / f"{i}.png")
    report = edgekit.compress(str(folder), str(files["profile"]), out_dir=tmp_path / "out", calib_data=str(images),
                              progress=False)
    calib = report.data["calibration"]
    assert calib["shape"] == [3, 32, 32], calib
    assert any("resized to 32x32, normalised with mean 0.5, 0.5, 0.5 and std 0.25, 0.25, 0.25 (size/mean/std from "
               f"{folder / 'preprocessor_config.json'})" in note for note in calib["notes"]), calib
    x = edgekit.data.load_data(images, image_prep=edgekit.pipeline.inputs.image_prep_for(
        edgekit.models.load_model(folder), None)).x
    assert x.shape[2:] == (32, 32) and -2.0 - 1e-6 <= x.min() and x.max() <= 2.0 + 1e-6  # (v - 0.5) / 0.25
    code, output = run("compress", folder, "--profile", files["profile"], "--calib-data", images, "--image-size", "24",
                       "--out", tmp_path / "cli")
    assert code == 0, output
    assert json.loads((tmp_path / "cli" / "report.json").read_text())["data"]["calibration"]["shape"] == [3, 24, 24]
