"""KD / hint losses against hand computations, adapters for width mismatches, config validation."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from edgekit.distill.config import DistillConfig, HintPair
from edgekit.distill.loss import build_adapters, distill_loss, kd_loss, make_adapter
from edgekit.errors import PipelineError


def _softmax(v: list[float]) -> list[float]:
    e = [math.exp(a) for a in v]
    return [a / sum(e) for a in e]


def test_kd_loss_matches_a_hand_computation() -> None:
    s, t, temp = [1.0, 2.0, 3.0], [3.0, 2.0, 1.0], 2.0
    p_s, p_t = _softmax([a / temp for a in s]), _softmax([a / temp for a in t])
    expected = temp ** 2 * sum(pt * (math.log(pt) - math.log(ps)) for pt, ps in zip(p_t, p_s))
    got = kd_loss(torch.tensor([s]), torch.tensor([t]), temp)
    assert got.item() == pytest.approx(expected, rel=1e-6)
    # batchmean: the mean over samples, and zero when the student equals the teacher
    two = kd_loss(torch.tensor([s, t]), torch.tensor([t, t]), temp)
    assert two.item() == pytest.approx(expected / 2, rel=1e-6)
    assert kd_loss(torch.tensor([t]), torch.tensor([t]), temp).item() == pytest.approx(0.0, abs=1e-7)


def test_distill_loss_mixes_kd_and_cross_entropy() -> None:
    s, t, label, alpha, temp = [0.5, -1.0, 2.0], [1.0, 0.0, 0.0], 2, 0.7, 4.0
    p_s, p_t = _softmax([a / temp for a in s]), _softmax([a / temp for a in t])
    kd = temp ** 2 * sum(pt * (math.log(pt) - math.log(ps)) for pt, ps in zip(p_t, p_s))
    ce = -math.log(_softmax(s)[label])
    parts = distill_loss(torch.tensor([s]), torch.tensor([t]), torch.tensor([label]), temperature=temp, alpha=alpha)
    assert parts["kd"].item() == pytest.approx(kd, rel=1e-6)
    assert parts["ce"].item() == pytest.approx(ce, rel=1e-6)
    assert parts["total"].item() == pytest.approx(alpha * kd + (1 - alpha) * ce, rel=1e-6)
    pure = distill_loss(torch.tensor([s]), torch.tensor([t]), None, temperature=temp, alpha=alpha)
    assert set(pure) == {"total", "kd"} and pure["total"].item() == pytest.approx(kd, rel=1e-6)


def test_adapters_map_the_student_width_to_the_teacher() -> None:
    pair = HintPair("a", "b")
    conv = make_adapter((2, 16, 4, 4), (2, 64, 4, 4), pair)
    assert isinstance(conv, nn.Conv2d) and conv.kernel_size == (1, 1) and (conv.in_channels, conv.out_channels) == (16, 64)
    assert conv(torch.zeros(2, 16, 4, 4)).shape == (2, 64, 4, 4)
    linear = make_adapter((2, 7, 48), (2, 7, 128), pair)  # (N, L, C): the last axis is the width
    assert isinstance(linear, nn.Linear) and linear(torch.zeros(2, 7, 48)).shape == (2, 7, 128)
    assert isinstance(make_adapter((2, 32), (2, 32), pair), nn.Identity)
    with pytest.raises(PipelineError, match="beyond the channel width"):
        make_adapter((2, 16, 4, 4), (2, 64, 8, 8), pair)


def test_build_adapters_on_a_pruned_digits_cnn(demo_assets) -> None:
    from edgekit.api import prune_config
    from edgekit.demo import digits_cnn
    from edgekit.pruning.run import prune_module

    digits_model = digits_cnn()  # its own copy: a distillation test freezes and moves the shared fixture
    digits_model.load_state_dict(torch.load(demo_assets.weights, weights_only=True))
    digits_model.eval()

    student = prune_module(digits_model, torch.zeros(1, 1, 8, 8), prune_config("cpu-onnxruntime", ratio=0.5, ignored_layers=("conv1",))).model
    hints = (HintPair("conv2", "conv2"), HintPair("fc1", "fc1"), HintPair("conv1", "conv1"))
    adapters, described = build_adapters(student, digits_model, hints, torch.zeros(2, 1, 8, 8))
    assert [type(a).__name__ for a in adapters] == ["Conv2d", "Linear", "Identity"]
    assert described[0]["student_shape"] == [32, 8, 8] and described[0]["teacher_shape"] == [64, 8, 8]
    assert not student._forward_hooks and not student.conv2._forward_hooks  # the probing hooks are removed
    with pytest.raises(PipelineError, match="'conv9' is not a module of the student"):
        build_adapters(student, digits_model, (HintPair("conv9", "conv2"),), torch.zeros(2, 1, 8, 8))


def test_config_validation() -> None:
    assert DistillConfig(hints=("conv2:conv2",)).hints == (HintPair("conv2", "conv2"),)
    for bad in (dict(alpha=1.5), dict(temperature=0), dict(epochs=0), dict(warmup=1.0), dict(augment=("rotate",)),
                dict(optimizer="adam"), dict(hints=("conv2",)), dict(patience=-1), dict(min_delta=-0.1),
                dict(max_minutes=0)):
        with pytest.raises(ValueError):
            DistillConfig(**bad)
    assert DistillConfig(optimizer="sgd").to_dict()["optimizer"] == "sgd"
    assert "resume" not in DistillConfig().result_fields()
    # the time budget only decides when an invocation stops (resumable); the epoch budget shapes the schedule
    assert "max_minutes" not in DistillConfig().result_fields()
    assert DistillConfig(epochs=20).result_fields() != DistillConfig().result_fields()
    assert DistillConfig(min_delta=0.5).result_fields() != DistillConfig().result_fields()
