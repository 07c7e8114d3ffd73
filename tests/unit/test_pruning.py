"""Structured pruning keeps coupled layers consistent and removes what was asked; unstructured
and 2:4 sparsity hold their patterns; pruned models reload without pickles."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from edgekit.errors import PipelineError
from edgekit.pruning.config import Importance, PruneConfig, PruneMode, Scope
from edgekit.pruning.run import prune_module
from edgekit.pruning.sparsity import has_2_4_pattern
from edgekit.pruning.spec import load_pruned, save_pruned
from edgekit.pruning.stats import layer_stats
from edgekit.pruning.structured import PruneError
from edgekit.zoo import mobilenet_v2, resnet18

X = torch.randn(1, 3, 64, 64)  # both nets end in adaptive pooling: small inputs keep tests fast


def convs(model: nn.Module) -> dict[str, nn.Conv2d]:
    return {n: m for n, m in model.named_modules() if isinstance(m, nn.Conv2d)}


@pytest.fixture(scope="module")
def resnet():
    torch.manual_seed(0)
    return resnet18(num_classes=10).eval()


@pytest.fixture(scope="module")
def resnet_half(resnet):
    return prune_module(resnet, X, PruneConfig(ratio=0.5, round_to=8))


def test_resnet_residual_blocks_stay_consistent(resnet, resnet_half) -> None:
    pruned = resnet_half.model
    assert pruned(X).shape == (1, 10)
    for name, block in pruned.named_modules():
        if hasattr(block, "conv2") and hasattr(block, "bn2"):
            assert block.conv1.out_channels == block.conv2.in_channels == block.bn1.num_features
            source = block.downsample[0].out_channels if block.downsample is not None else block.conv1.in_channels
            assert block.conv2.out_channels == source, name  # the residual add needs equal widths
    assert resnet(X).shape == (1, 10) and convs(resnet)["layer1.0.conv1"].out_channels == 64  # original untouched


def test_uniform_ratio_and_rounding(resnet, resnet_half) -> None:
    before, after = convs(resnet), convs(resnet_half.model)
    for name, conv in after.items():
        # nothing is kept whole by default but the head: the stem and the residual stream coupled to it are pruned too
        assert conv.out_channels % 8 == 0
        assert conv.out_channels == pytest.approx(before[name].out_channels * 0.5, abs=8), name
    ratios = resnet_half.summary["ratios"]
    assert 0.2 < ratios["macs"] < 0.35 and 0.2 < ratios["params"] < 0.35
    assert resnet_half.model.fc.out_features == 10 and resnet_half.summary["ignored"] == ["fc"]
    assert resnet_half.summary["output_layers"] == {"fc": "its output is the model's output"}


def test_no_dangling_channels_every_layer_contributes(resnet_half) -> None:
    model = resnet_half.model
    reference = model(X)
    executed = layer_stats(model, X)
    assert set(executed) == {n for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))}
    for name, conv in list(convs(model).items())[::3]:
        saved = conv.weight.detach().clone()
        with torch.no_grad():
            conv.weight.zero_()
            changed = not torch.allclose(model(X), reference)
            conv.weight.copy_(saved)
        assert changed, f"{name}'s output does not reach the result"


def test_mobilenet_depthwise_groups_follow_their_channels() -> None:
    torch.manual_seed(0)
    result = prune_module(mobilenet_v2(num_classes=10).eval(), X, PruneConfig(ratio=0.5, round_to=8))
    depthwise = [m for m in convs(result.model).values() if m.groups > 1]
    assert depthwise
    for conv in depthwise:
        assert conv.groups == conv.in_channels == conv.out_channels
    assert result.model(X).shape == (1, 10)
    assert result.summary["ratios"]["macs"] < 0.45


class Branches(nn.Module):
    """Two conv branches concatenated, then a conv consuming the concatenation."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, padding=1)
        self.a = nn.Conv2d(16, 32, 3, padding=1)
        self.b = nn.Conv2d(16, 48, 1)
        self.merge = nn.Conv2d(80, 64, 1)
        self.head = nn.Linear(64, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.stem(x))
        x = torch.cat([F.relu(self.a(x)), F.relu(self.b(x))], dim=1)
        return self.head(F.relu(self.merge(x)).mean((2, 3)))


def test_concatenation_stays_consistent() -> None:
    torch.manual_seed(0)
    pruned = prune_module(Branches().eval(), X, PruneConfig(ratio=0.5)).model
    assert pruned.merge.in_channels == pruned.a.out_channels + pruned.b.out_channels
    assert (pruned.a.out_channels, pruned.b.out_channels) == (16, 24)
    assert pruned(X).shape == (1, 5)


def test_target_macs_is_met_within_tolerance(resnet) -> None:
    result = prune_module(resnet, X, PruneConfig(target_macs=0.4))
    assert 0.3 <= result.summary["ratios"]["macs"] <= 0.4
    assert result.summary["steps"] > 1


def test_target_params_is_met(resnet) -> None:
    result = prune_module(resnet, X, PruneConfig(target_params=0.5))
    assert 0.4 <= result.summary["ratios"]["params"] <= 0.5


def test_global_scope_prunes_layers_unevenly(resnet) -> None:
    result = prune_module(resnet, X, PruneConfig(ratio=0.5, scope=Scope.GLOBAL))
    before, after = convs(resnet), convs(result.model)
    kept = {round(after[n].out_channels / before[n].out_channels, 2) for n in after if n != "conv1"}
    assert len(kept) > 2  # a uniform ratio would keep one share everywhere
    assert result.model(X).shape == (1, 10)


def test_per_layer_override_and_ignored_layers(resnet) -> None:
    cfg = PruneConfig(ratio=0.25, layer_ratios={"layer4.1.conv1": 0.75}, ignored_layers=("conv1", "fc", "layer3.0.conv1"))
    after = convs(prune_module(resnet, X, cfg).model)
    assert after["layer4.1.conv1"].out_channels == 128  # 512 * (1 - 0.75)
    assert after["layer3.0.conv1"].out_channels == 256  # ignored
    assert after["layer2.0.conv1"].out_channels == 96  # 128 * (1 - 0.25)


def test_iterative_and_taylor(resnet) -> None:
    x = torch.randn(16, 3, 64, 64).numpy()
    cfg = PruneConfig(ratio=0.5, steps=3, importance=Importance.TAYLOR, round_to=8)
    result = prune_module(resnet, X, cfg, calib_x=x)
    assert result.summary["steps"] == 3
    assert convs(result.model)["layer2.0.conv1"].out_channels == 64
    with pytest.raises(PruneError, match="Taylor"):
        prune_module(resnet, X, cfg)


def test_unknown_layer_names_are_reported(resnet) -> None:
    with pytest.raises(PruneError, match="no_such_layer"):
        prune_module(resnet, X, PruneConfig(ratio=0.5, ignored_layers=("no_such_layer",)))
    with pytest.raises(PruneError, match="bogus"):
        prune_module(resnet, X, PruneConfig(ratio=0.5, layer_ratios={"bogus": 0.5}))


class Scaled(nn.Module):
    """A conv followed by a learned per-channel scale held as a bare parameter (no layer type)."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, padding=1)
        self.body = nn.Conv2d(16, 32, 3, padding=1)
        self.gamma = nn.Parameter(torch.linspace(0.5, 1.5, 32).view(1, 32, 1, 1))
        self.mid = nn.Conv2d(32, 32, 3, padding=1)
        self.head = nn.Linear(32, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.body(F.relu(self.stem(x)))) * self.gamma
        return self.head(F.relu(self.mid(x)).mean((2, 3)))


def test_a_per_channel_scale_is_pruned_with_its_channels() -> None:
    result = prune_module(Scaled().eval(), X, PruneConfig(ratio=0.5, round_to=1))
    pruned = result.model
    assert pruned.body.out_channels == pruned.gamma.shape[1] == pruned.mid.in_channels == 16  # the scale follows
    assert pruned(X).shape == (1, 4) and not result.summary["unsupported"]


class Mixed(nn.Module):
    """A conv whose channels are mixed by a bare square matrix: neither axis is known to be the channel."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, padding=1)
        self.body = nn.Conv2d(16, 32, 3, padding=1)
        self.mix = nn.Parameter(torch.eye(32))
        self.head = nn.Linear(32, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(F.relu(self.body(F.relu(self.stem(x)))).mean((2, 3)) @ self.mix)


def test_unsupported_layer_is_named_or_skipped() -> None:
    model = Mixed().eval()
    with pytest.raises(PruneError) as err:
        prune_module(model, X, PruneConfig(ratio=0.5))
    assert "mix" in err.value.message and "--skip-unsupported" in err.value.hint
    result = prune_module(model, X, PruneConfig(ratio=0.5, skip_unsupported=True, round_to=1))
    pruned = result.model
    assert pruned.body.out_channels == 32 and pruned.mix.shape == (32, 32)  # kept whole with what it mixes
    assert pruned.stem.out_channels == 8  # the rest is pruned
    assert pruned(X).shape == (1, 4)
    assert result.summary["unsupported"][0]["layer"]


def test_semi_structured_2_4_pattern_holds(resnet) -> None:
    result = prune_module(resnet, X, PruneConfig(mode=PruneMode.SEMI_2_4))
    checked = {s["name"]: s for s in result.summary["sparsity"]}
    assert "conv1" not in checked and "fc" not in checked  # stem and head ignored by default
    for name, conv in convs(result.model).items():
        if name in checked:
            assert has_2_4_pattern(conv.weight), name
            assert checked[name]["pattern_2_4"] is True
            assert checked[name]["sparsity"] == pytest.approx(0.5)
    assert not has_2_4_pattern(convs(resnet)["layer1.0.conv1"].weight)  # the dense original does not


def test_2_4_reports_layers_it_cannot_pattern() -> None:
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Conv2d(8, 6, 3), nn.Conv2d(6, 8, 1)).eval()
    result = prune_module(model, X, PruneConfig(mode=PruneMode.SEMI_2_4, ignored_layers=()))
    assert any(s.startswith("0:") for s in result.summary["skipped_2_4"])
    assert any(s.startswith("2:") for s in result.summary["skipped_2_4"])  # 6 input channels


def test_unstructured_global_with_cap(resnet) -> None:
    result = prune_module(resnet, X, PruneConfig(ratio=0.8, mode=PruneMode.UNSTRUCTURED, scope=Scope.GLOBAL))
    summary = result.summary
    assert summary["overall_sparsity"] == pytest.approx(0.8, abs=0.02)
    assert all(s["sparsity"] <= 0.95 + 1e-6 for s in summary["sparsity"])
    assert torch.equal(result.model.fc.weight, resnet.fc.weight)  # the head is ignored
    assert summary["zipped_weight_bytes_after"] < 0.6 * summary["zipped_weight_bytes_before"]
    assert summary["totals_after"]["macs"] == summary["totals_before"]["macs"]  # zeros remove no MACs
    assert "same speed" in summary["note"]


def test_config_validation() -> None:
    with pytest.raises(PipelineError):
        PruneConfig()
    with pytest.raises(PipelineError):
        PruneConfig(ratio=0.5, target_macs=0.4)
    with pytest.raises(PipelineError):
        PruneConfig(ratio=1.5)
    with pytest.raises(PipelineError):
        PruneConfig(target_macs=0.5, mode=PruneMode.UNSTRUCTURED)
    with pytest.raises(PipelineError):
        PruneConfig(target_macs=0.5, target_params=0.5)


def test_pruned_model_reloads_without_pickle(resnet_half, tmp_path) -> None:
    paths = save_pruned(resnet_half.model, tmp_path)
    reloaded = load_pruned(lambda: resnet18(num_classes=10), paths["architecture"], paths["state_dict"])
    assert torch.allclose(reloaded(X), resnet_half.model(X), atol=1e-5)
    # the spec is what makes this work: the unpruned factory alone cannot take the pruned weights
    with pytest.raises(RuntimeError, match="size mismatch"):
        resnet18(num_classes=10).load_state_dict(torch.load(paths["state_dict"], weights_only=True))


def test_pruned_model_exports_and_runs_in_onnxruntime(resnet_half, tmp_path) -> None:
    import onnxruntime as ort

    with pytest.warns(DeprecationWarning):  # the legacy exporter, chosen on purpose (see stages/export.py)
        torch.onnx.export(resnet_half.model, (X,), str(tmp_path / "p.onnx"), dynamo=False, opset_version=17,
                          input_names=["input"])
    session = ort.InferenceSession(str(tmp_path / "p.onnx"), providers=["CPUExecutionProvider"])
    out = session.run(None, {"input": X.numpy()})[0]
    assert torch.allclose(torch.from_numpy(out), resnet_half.model(X), atol=1e-4)


def test_batchnorm_recalibration_restores_each_layers_momentum() -> None:
    """The re-estimate averages its batches cumulatively (momentum None); left so, every later distillation step
    folded into that one average and a pruned student's eval-mode accuracy collapsed."""
    import numpy as np

    from edgekit.pruning.run import recalibrate_batchnorm

    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 8, 3), nn.BatchNorm2d(8, momentum=0.3))
    x = np.random.default_rng(0).normal(2.0, 3.0, size=(40, 3, 8, 8)).astype(np.float32)
    assert recalibrate_batchnorm(model, x) == 2
    assert [model[1].momentum, model[4].momentum] == [0.1, 0.3]
    assert float(model[1].running_mean.mean()) != 0.0  # the statistics were re-estimated


def test_a_model_with_frozen_weights_prunes_like_any_other(resnet) -> None:
    import copy

    frozen = copy.deepcopy(resnet).requires_grad_(False)
    result = prune_module(frozen, X, PruneConfig(ratio=0.5, round_to=8))
    assert result.summary["ratios"]["macs"] < 0.35 and result.summary["removed_nothing"] is None
    assert not any(p.requires_grad for p in frozen.parameters())  # the caller's model is untouched
