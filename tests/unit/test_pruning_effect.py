"""Pruning that removes nothing is said so, with the reason, and never becomes a variant; a ratio above
max_channel_ratio is capped instead of silently removing nothing (Torch-Pruning ignores the cap for uniform ratios)."""

from __future__ import annotations

import pytest
import torch

import edgekit
from edgekit.artifact import Artifact, Format
from edgekit.errors import ExitCode
from edgekit.pruning.config import PruneConfig, PruneMode
from edgekit.pruning.effect import NO_EFFECT, NothingPrunedError
from edgekit.pruning.run import prune_module
from edgekit.stages.base import RunContext
from edgekit.stages.prune import PruneStage
from edgekit.sweep.config import SweepConfig
from edgekit.zoo import digits_cnn

EVERY_LAYER = ("conv1", "conv2", "fc1", "fc2")
X = torch.zeros(1, 1, 8, 8)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return digits_cnn().eval()


def channels(result) -> dict[str, list[int]]:
    return {row["layer"]: row["channels_after"] for row in result.summary["layers"]}


def test_a_ratio_above_max_channel_ratio_is_capped_not_ignored(model) -> None:
    # before: --prune 0.999 removed nothing (params ratio 1.0) and --prune 0.95 kept 3 of 64 channels
    result = prune_module(model, X, PruneConfig(ratio=0.999))
    assert channels(result)["conv2"][1] == 6 and channels(result)["fc1"][1] == 12
    assert result.summary["removed_nothing"] is None and result.summary["ratios"]["params"] < 0.05
    assert "--prune 0.999 above max_channel_ratio 0.9" in result.summary["capped"]
    assert channels(prune_module(model, X, PruneConfig(ratio=0.95)))["conv2"][1] == 6
    assert "capped" not in prune_module(model, X, PruneConfig(ratio=0.5)).summary


def test_every_layer_ignored_removes_nothing_and_says_so(model) -> None:
    result = prune_module(model, X, PruneConfig(ratio=0.5, ignored_layers=EVERY_LAYER))
    assert result.summary["ratios"] == {"params": 1.0, "macs": 1.0}
    assert result.summary["removed_nothing"].startswith(
        "every layer with channels is kept whole: conv1, conv2, fc1, fc2 are kept whole (the --prune-ignore list")


def test_channels_rounded_back_to_the_full_layer_are_named(model) -> None:
    result = prune_module(model, X, PruneConfig(ratio=0.9, round_to=128))
    why = result.summary["removed_nothing"]
    assert why.startswith("no channel was removed from any layer: round_to 128")
    assert "conv2 (64 -> 6 channels)" in why and "fc1 (128 -> 12 channels)" in why


def test_unstructured_that_zeroes_nothing_new_says_so(model) -> None:
    import copy

    sparse = copy.deepcopy(model)
    with torch.no_grad():
        for layer in (sparse.conv2, sparse.fc1):  # 60% already zero: a 50% threshold is 0 and zeroes nothing new
            flat = layer.weight.view(-1)
            flat[: int(0.6 * flat.numel())] = 0.0
    result = prune_module(sparse, X, PruneConfig(ratio=0.5, mode=PruneMode.UNSTRUCTURED))
    assert result.summary["removed_nothing"].startswith("no weight was zeroed beyond the ")
    assert "already zero in conv2, fc1" in result.summary["removed_nothing"]
    assert prune_module(model, X, PruneConfig(ratio=0.5, mode=PruneMode.UNSTRUCTURED)).summary["removed_nothing"] is None
    ignored = prune_module(model, X, PruneConfig(mode=PruneMode.SEMI_2_4, ignored_layers=EVERY_LAYER))
    assert "no layer's weights were considered" in ignored.summary["removed_nothing"]


def test_the_prune_stage_refuses_a_model_it_left_unchanged(model, tmp_path, fast_profile) -> None:
    stage = PruneStage(PruneConfig(ratio=0.5, ignored_layers=EVERY_LAYER), (1, 1, 8, 8))
    artifact = Artifact(Format.TORCH, None, {"module": model, "kind": "factory"})
    ctx = RunContext(edgekit.load_profile(fast_profile), None, None, None)
    with pytest.raises(NothingPrunedError) as info:
        stage.run(artifact, ctx, tmp_path)
    assert info.value.exit_code == ExitCode.PIPELINE
    assert info.value.message.startswith("--prune 0.5 removed nothing from the model: every layer with channels")
    assert "so none is built" in info.value.message and "--prune-ignore" in info.value.hint
    assert not (tmp_path / "state_dict.pt").exists()


def test_a_sweep_trial_that_prunes_nothing_is_marked_and_never_timed(demo_assets, fast_profile, tmp_path) -> None:
    cfg = SweepConfig(prune_ratios=(0.5,), precisions=("fp32",), objective="size", cache_dir=tmp_path / "cache")
    report = edgekit.sweep("edgekit.demo:digits_cnn", fast_profile, calib_data=str(demo_assets.calib),
                           eval_data=str(demo_assets.eval), out_dir=tmp_path / "out", config=cfg,
                           prune=PruneConfig(ratio=0.5, ignored_layers=EVERY_LAYER),
                           options=edgekit.RunOptions(weights=demo_assets.weights))
    fp32, pruned = report.variant("fp32"), report.variant("pruned-0.5-fp32")
    assert pruned.status == NO_EFFECT and pruned.latency_ms == {} and pruned.accuracy is None
    assert pruned.reason.startswith("--prune 0.5 removed nothing from the model")
    assert fp32.latency_ms and report.recommended == "fp32"
    assert "pruned-0.5-fp32" not in report.sweep["pareto"]
    assert "**pruned-0.5-fp32** (no-effect): --prune 0.5 removed nothing" in (tmp_path / "out" / "report.md").read_text()
