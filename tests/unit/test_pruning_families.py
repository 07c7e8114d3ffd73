"""Structured pruning of every architecture family the issue names (issue 17 item 2), on tiny random-weight models
built from their transformers configs (benchmarks/coverage/families.py, also `python -m benchmarks coverage`): the
pruned model runs with the original's output shape, does fewer MACs, and is rebuilt from its factory + spec with
identical outputs; what cannot be pruned is a PruneError naming the layer and why."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("transformers", reason="transformers is not installed (pip install -e .[dev])")

from benchmarks.coverage.families import example, families
from edgekit.outputs import primary
from edgekit.pruning.config import PruneConfig
from edgekit.pruning.run import prune_module
from edgekit.pruning.spec import load_pruned, save_pruned
from edgekit.pruning.structured import PruneError, bare_parameters

FAMILIES = families()
PRUNED = sorted(set(FAMILIES) - {"focalnet"})


def _prune(family: str, **cfg):
    model = FAMILIES[family]()
    return model, prune_module(model, example(), PruneConfig(ratio=0.3, round_to=cfg.pop("round_to", 8), **cfg))


@pytest.mark.parametrize("family", PRUNED)
def test_family_prunes_runs_and_reloads(family: str, tmp_path) -> None:
    model, result = _prune(family)
    x = example()
    out, ref = primary(result.model(x)), primary(model(x))
    assert out.shape == ref.shape and torch.isfinite(out).all()
    assert result.summary["ratios"]["macs"] < 0.9  # channels (and heads) really went
    paths = save_pruned(result.model, tmp_path)
    rebuilt = load_pruned(FAMILIES[family], paths["architecture"], paths["state_dict"])
    assert torch.allclose(primary(rebuilt(x)), out, atol=1e-5)


@pytest.mark.parametrize("family", ["vit", "deit", "dinov2"])
def test_vit_encoders_lose_whole_heads_and_keep_the_residual_width(family: str) -> None:
    model, result = _prune(family)
    blocks = [m for m in result.model.modules() if type(m).__name__.endswith("Attention") and hasattr(m, "q_proj")]
    assert blocks and all(b.num_attention_heads == 3 and b.head_dim == 16 for b in blocks)  # round(4 x 0.7) of 4
    assert all(b.q_proj.out_features == b.o_proj.in_features == 48 and b.o_proj.out_features == 64 for b in blocks)
    assert result.summary["attention_modules"] and model.config.num_attention_heads == 4  # the original untouched


def test_swin_position_bias_tables_lose_the_columns_of_the_pruned_heads() -> None:
    original = FAMILIES["swin"]()
    before = {n: p for n, p in original.named_parameters() if n.endswith("relative_position_bias_table")}
    with torch.no_grad():  # Swin initialises the tables to zeros: make every head's column recognisable
        for table in before.values():
            table.copy_(torch.arange(table.shape[1]).float() + torch.rand(table.shape) / 10)
    result = prune_module(original, example(), PruneConfig(ratio=0.3, round_to=8))
    after = {n: p for n, p in result.model.named_parameters() if n.endswith("relative_position_bias_table")}
    blocks = {n: m for n, m in result.model.named_modules() if type(m).__name__ == "SwinAttention"}
    assert [b.num_attention_heads for b in blocks.values()] == [1, 3]  # of 2 and 4
    for name, table in after.items():
        block = blocks[name.split(".relative_position_bias.")[0]]
        kept = table[0].floor().long().tolist()  # the original head of each remaining column
        assert table.shape == (before[name].shape[0], block.num_attention_heads) and kept == sorted(set(kept))
        assert torch.equal(table, before[name][:, kept])  # columns removed, the rest carried over as they were
        q_before = dict(original.named_modules())[name.split(".relative_position_bias.")[0]].q_proj.weight
        heads_kept = [h for h in range(before[name].shape[1]) if any(
            torch.equal(q_before[h * block.head_dim], row) for row in block.q_proj.weight)]
        assert heads_kept == kept  # the columns of the heads that the query projection kept


@pytest.mark.parametrize(("family", "suffix", "axis"), [
    ("convnext", "layer_scale_parameter", 0), ("convnextv2", "grn.weight", 3), ("poolformer", "layer_scale_1", 0)])
def test_layer_scale_and_grn_are_pruned_along_their_channel_axis(family: str, suffix: str, axis: int) -> None:
    original = FAMILIES[family]()
    assert all(bare_parameters(original).channels[p] == axis for n, p in original.named_parameters() if n.endswith(suffix))
    _, result = _prune(family, round_to=1)
    before = {n: p.shape[axis] for n, p in original.named_parameters() if n.endswith(suffix)}
    after = {n: p.shape[axis] for n, p in result.model.named_parameters() if n.endswith(suffix)}
    assert before and all(after[n] < before[n] for n in before)


def test_segformer_keeps_its_sequence_reduction_and_heads_never_reach_zero() -> None:
    _, result = _prune("segformer")
    blocks = [m for m in result.model.modules() if type(m).__name__ == "SegformerAttention"]
    assert [b.num_attention_heads for b in blocks] == [1, 1]  # 1 head stays 1 (Torch-Pruning's ceil took it)
    reduction = next(m for m in result.model.modules() if type(m).__name__ == "SegformerSequenceReduction")
    assert reduction.sequence_reduction.out_channels == reduction.sequence_reduction.in_channels == 16
    assert any(n.endswith("sequence_reduction.sequence_reduction") for n in result.summary["ignored"])


def test_focalnet_is_refused_with_the_layer_and_the_reason() -> None:
    model = FAMILIES["focalnet"]()
    with pytest.raises(PruneError, match=r"layer focalnet\.encoder\.stages\.0\.layers\.0\.modulation .*one-channel "
                                         r"slices") as caught:
        prune_module(model, example(), PruneConfig(ratio=0.3))
    assert "--prune-mode unstructured" in caught.value.hint
