"""Outputs beyond classification through edgekit.compress (issue 17 item 3): a model with two outputs (each
verified, a broken second one rejected by name, the deploy runner checks both), a segmentation model with label
maps (mIoU for the original and the variant, the budget on mIoU), a Hugging Face feature extractor (cosine per
output). Tiny random-weight models; a broken variant is made by exporting something else than eager computes
(torch.onnx.is_in_onnx_export), so every verdict here is exact, never a matter of this CPU's rounding."""

from __future__ import annotations

import json
import subprocess
import sys
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import edgekit


@pytest.fixture(scope="module")
def root(tmp_path_factory, fp32_profile) -> Path:
    path = tmp_path_factory.mktemp("outputs")
    shutil.copyfile(fp32_profile, path / "profile.toml")
    return path


def compress(model: nn.Module, root: Path, out: str, x: np.ndarray, y: np.ndarray | None = None,
             **options) -> edgekit.Report:
    return edgekit.compress(model, str(root / "profile.toml"), calib_data=x,
                            eval_data=(x, y) if y is not None else None, out_dir=root / out, progress=False,
                            options=edgekit.RunOptions(**options))


# --- two outputs ------------------------------------------------------------------------------------------------

class TwoOutputs(nn.Module):
    """Class scores (N x 5; not named logits, so both outputs are selected) and a per-position embedding (N x 6 x 4); ``broken``: the exported graph negates the
    embedding (eager does not), so the artifact's second output is wrong and its first right."""

    def __init__(self, broken: bool = False) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.head = nn.Linear(4, 5)
        self.broken = broken

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        features = torch.relu(self.conv(x))
        embedding = features.mean(3).transpose(1, 2)  # N x 6 x 4
        if self.broken and torch.onnx.is_in_onnx_export():
            embedding = -embedding
        return {"scores": self.head(features.mean((2, 3))), "embedding": embedding}


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return np.random.default_rng(0).standard_normal((16, 3, 6, 6)).astype(np.float32)


def test_every_output_is_verified_reported_and_checked_by_the_runner(root, images) -> None:
    report = compress(TwoOutputs(), root, "two", images)
    fp32 = report.variant("fp32")
    assert report.model["selected_outputs"] == ["scores", "embedding"]
    assert fp32.status == "accepted", fp32.reason
    assert list(fp32.parity_by_output) == ["scores", "embedding"]
    assert fp32.parity_by_output["scores"]["gate"] == "cosine + top-1 agreement"
    assert fp32.parity_by_output["embedding"]["gate"] == "cosine"
    assert fp32.parity == {k: v for k, v in fp32.parity_by_output["scores"].items() if k != "gate"}  # kept: primary
    saved = json.loads((Path(report.out_dir) / "report.json").read_text())
    assert set(saved["variants"][0]["parity_by_output"]) == {"scores", "embedding"}
    assert "output `embedding` (gate cosine)" in (Path(report.out_dir) / "report.md").read_text()

    deploy = Path(report.out_dir) / "deploy"
    with np.load(deploy / "sample.npz") as sample:
        assert {"x", "ref", "ref.1"} <= set(sample.files) and sample["ref.1"].shape[1:] == (6, 4)
    out = root / "two-check.json"  # outside the bundle: an unlisted file there would skip edgekit verify
    proc = subprocess.run([sys.executable, str(deploy / "run.py"), "--check", "--json", str(out)],
                          capture_output=True, text=True, cwd=deploy)
    assert proc.returncode == 0, proc.stderr
    checked = json.loads(out.read_text())["parity_by_output"]
    assert len(checked) == 2 and all(p["cosine"] > 0.9999 for p in checked)
    assert edgekit.verify_bundle(report.out_dir).parity["status"] == "ok"


def test_a_variant_whose_second_output_is_wrong_is_rejected_naming_it(root, images) -> None:
    fp32 = compress(TwoOutputs(broken=True), root, "two-broken", images).variant("fp32")
    assert fp32.status == "rejected"
    assert "output 'embedding'" in fp32.reason and "cosine" in fp32.reason
    assert fp32.parity["cosine"] > 0.9999  # the primary output (scores) is right
    assert fp32.parity_by_output["embedding"]["cosine"] < -0.99


# --- semantic segmentation ----------------------------------------------------------------------------------------

class TinySegmenter(nn.Module):
    """N x 3 x H x W -> N x 4 x H/2 x W/2 logits (smaller than the label maps, as SegFormer's); ``broken``: the
    exported graph shifts the classes by one, so the artifact predicts the wrong class everywhere."""

    def __init__(self, broken: bool = False) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 4, 3, stride=2, padding=1))
        self.broken = broken

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.body(x)
        if self.broken and torch.onnx.is_in_onnx_export():
            logits = torch.roll(logits, 1, dims=1)
        return logits


@pytest.fixture(scope="module")
def segmentation_data() -> tuple[np.ndarray, np.ndarray]:
    """Images and label maps at the input size: the model's own predictions (bilinear upsampling, the HF rule),
    a border of 255 (ignored), so the original scores 100% mIoU."""
    x = np.random.default_rng(1).standard_normal((12, 3, 16, 16)).astype(np.float32)
    with torch.no_grad():
        logits = TinySegmenter()(torch.from_numpy(x))
        y = nn.functional.interpolate(logits, size=(16, 16), mode="bilinear", align_corners=False).argmax(1).numpy()
    y[:, 0, :] = 255
    return x, y.astype(np.int64)


def test_segmentation_reports_miou_and_enforces_the_budget_on_it(root, segmentation_data) -> None:
    x, y = segmentation_data
    report = compress(TinySegmenter(), root, "seg", x, y)
    fp32 = report.variant("fp32")
    assert report.reference["metric"] == "mIoU" and report.reference["accuracy"] == pytest.approx(100.0)
    assert report.reference["pixel_accuracy"] == pytest.approx(100.0)
    assert fp32.status == "accepted" and fp32.metric == "mIoU" and fp32.gate == "accuracy budget"
    assert fp32.accuracy == pytest.approx(100.0, abs=0.5) and fp32.pixel_accuracy is not None
    assert "mIoU drop" in fp32.reason
    markdown = (Path(report.out_dir) / "report.md").read_text()
    assert "mIoU 100.00%" in markdown and "| mIoU % |" in markdown and "top-1 accuracy" not in markdown
    assert "mIoU %" in report.summary()

    broken = compress(TinySegmenter(broken=True), root, "seg-broken", x, y).variant("fp32")
    assert broken.status == "rejected" and "mIoU drop" in broken.reason and "exceeds the budget" in broken.reason
    assert broken.accuracy < 50.0


def test_segmentation_without_labels_is_held_to_pixel_agreement(root, segmentation_data) -> None:
    x, _ = segmentation_data
    fp32 = compress(TinySegmenter(), root, "seg-nolabels", x, task="semantic-segmentation").variant("fp32")
    assert fp32.status == "accepted" and fp32.gate == "cosine + pixel agreement"
    assert fp32.parity["pixel_agreement"] == pytest.approx(1.0)
    broken = compress(TinySegmenter(broken=True), root, "seg-nolabels-broken", x,
                      task="semantic-segmentation").variant("fp32")
    assert broken.status == "rejected" and "per-pixel class agreement" in broken.reason


def test_segmentation_labels_out_of_range_are_a_data_error(root, segmentation_data) -> None:
    x, y = segmentation_data
    bad = y.copy()
    bad[0, 5, 5] = 9
    with pytest.raises(edgekit.errors.DataError, match=r"class indices in \[0, 4\).*or 255"):
        compress(TinySegmenter(), root, "seg-bad", x, bad)
    assert not (root / "seg-bad").exists()


# --- a Hugging Face feature extractor -----------------------------------------------------------------------------

def test_a_feature_extractor_is_held_to_cosine_on_every_output(root) -> None:
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    config = transformers.ViTConfig(image_size=16, patch_size=8, num_channels=3, hidden_size=16, num_hidden_layers=1,
                                    num_attention_heads=2, intermediate_size=32)
    folder = root / "vit"
    transformers.ViTModel(config).eval().save_pretrained(folder)
    x = np.random.default_rng(2).standard_normal((8, 3, 16, 16)).astype(np.float32)
    report = edgekit.compress(str(folder), str(root / "profile.toml"), calib_data=x, out_dir=root / "vit-out",
                              progress=False)
    fp32 = report.variant("fp32")
    assert report.model["task"] == "feature-extraction"
    assert report.model["selected_outputs"] == ["last_hidden_state", "pooler_output"]
    assert fp32.status == "accepted" and fp32.gate == "cosine"  # the pooled N x D output is not class scores
    assert {n: p["gate"] for n, p in fp32.parity_by_output.items()} == {"last_hidden_state": "cosine",
                                                                         "pooler_output": "cosine"}
    assert all(p["cosine"] > 0.9999 for p in fp32.parity_by_output.values())
