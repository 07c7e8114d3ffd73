"""Exporting a model that returns several outputs (a ModelOutput, a dict) goes through `outputs.only_selected`'s
wrapper; torch.onnx.export restores the wrapper's mode afterwards, which must be the model's own: an evaluated model
left in training mode would run BatchNorm on batch statistics (and Dropout) in every later stage."""

from __future__ import annotations

from pathlib import Path

import torch

from edgekit.artifact import Artifact, Format
from edgekit.stages.export import ExportConfig, ExportStage


class TwoOutputs(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3)
        self.bn = torch.nn.BatchNorm2d(4)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        features = self.bn(self.conv(x))
        return {"logits": features.mean((2, 3)), "features": features}


def test_export_of_a_multi_output_model_leaves_it_in_eval_mode(tmp_path: Path) -> None:
    model = TwoOutputs().eval()
    ExportStage(ExportConfig((1, 3, 8, 8))).export(Artifact(Format.TORCH, None, {"module": model}), tmp_path)
    assert (tmp_path / "model.onnx").exists()
    assert not any(m.training for m in model.modules())
