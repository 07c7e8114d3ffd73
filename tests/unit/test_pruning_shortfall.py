"""Requested vs achieved (issue 20): a pruning run says what it was asked, what it removed and what held it back."""

from __future__ import annotations

import torch

from edgekit.pruning.config import PruneConfig
from edgekit.pruning.run import prune_module
from edgekit.zoo import digits_cnn, digits_gated_cnn


def test_the_stem_no_longer_freezes_the_groups_coupled_to_it() -> None:
    """The gated CNN's stem feeds a residual add, an SE gate, a concat and a groups=4 conv. Keeping the stem whole
    used to freeze all of them (--prune 0.5 removed 18% of the channels); now only the head keeps its width, and
    rounding to 8 no longer rounds the grouped conv's group back to the full layer (Torch-Pruning rounds per group
    against the full width)."""
    result = prune_module(digits_gated_cnn().eval(), torch.zeros(1, 1, 16, 16), PruneConfig(ratio=0.5, round_to=8))
    asked = result.summary["requested"]
    assert asked["asked"].startswith("--prune 0.5") and asked["removed"]["channels"] > 0.45
    assert result.summary["ratios"]["macs"] < 0.35 and asked["shortfall"] is None
    after = {row["layer"]: row["channels_after"] for row in result.summary["layers"]}
    assert after["stem.0"][1] == after["branch_b.0"][1] == 16 and after["fc"] == [32, 10]
    held = " | ".join(asked["held_back"])
    assert "kept whole because their channels are the model's output: fc" in held
    assert "too narrow to lose a whole multiple, so kept: se_reduce (8 -> 4 channels)" in held


def test_a_run_held_back_by_layers_kept_whole_names_them_and_the_way_out() -> None:
    asked = prune_module(digits_gated_cnn().eval(), torch.zeros(1, 1, 16, 16),
                         PruneConfig(ratio=0.5, round_to=8, ignored_layers=("stem.0", "branch_a.0"))).summary["requested"]
    assert asked["removed"]["channels"] < 0.25
    held = " | ".join(asked["held_back"])
    assert "kept whole (--prune-ignore): branch_a.0, stem.0" in held and "leave them out of --prune-ignore" in held
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
