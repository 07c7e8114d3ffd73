"""Requested vs achieved (issue 20): a pruning run says what it was asked, what it removed and what held it back."""

from __future__ import annotations

import torch

from edgekit.pruning.config import PruneConfig
from edgekit.pruning.run import prune_module
from edgekit.zoo import digits_cnn, digits_gated_cnn


def test_a_run_held_back_by_coupled_groups_names_them_and_the_way_out() -> None:
    """The gated CNN's stem feeds a residual add, an SE gate and a concat: keeping it whole freezes them."""
    asked = prune_module(digits_gated_cnn().eval(), torch.zeros(1, 1, 16, 16),
                         PruneConfig(ratio=0.5, round_to=8)).summary["requested"]
    assert asked["asked"].startswith("--prune 0.5") and asked["removed"]["channels"] < 0.25
    held = " | ".join(asked["held_back"])
    assert "kept whole: fc, stem.0" in held and "--prune-ignore" in held
    assert "coupled to a layer kept whole" in held and "se_expand" in held
    assert "--prune-round-to 1" in held
    assert asked["shortfall"].startswith("Pruning delivered far less than asked")


def test_a_run_that_delivers_has_no_shortfall() -> None:
    asked = prune_module(digits_cnn().eval(), torch.zeros(1, 1, 8, 8), PruneConfig(ratio=0.5)).summary["requested"]
    assert asked["shortfall"] is None and abs(asked["removed"]["channels"] - 0.5) < 0.1
    assert "MACs" in asked["achieved"]


def test_a_mac_target_is_compared_on_macs() -> None:
    asked = prune_module(digits_cnn().eval(), torch.zeros(1, 1, 8, 8),
                         PruneConfig(target_macs=0.5)).summary["requested"]
    assert asked["asked"].startswith("--target-macs 0.5") and asked["shortfall"] is None
