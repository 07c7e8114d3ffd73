"""Tiny image models of every architecture family the issue names, built from their transformers configs (random
weights, depth and width shrunk, 32x32 inputs; nothing is downloaded). Shared by `python -m benchmarks coverage` and
tests/unit/test_pruning_families.py."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

IMAGE_SIZE = 32


def _families(t: Any) -> dict[str, tuple[Any, Any]]:
    """family -> (config, model class) for the installed transformers ``t``."""
    labels = {"num_labels": 10}
    vit = {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "image_size": IMAGE_SIZE,
           "patch_size": 8, **labels}
    return {
        "resnet": (t.ResNetConfig(depths=[1, 1], hidden_sizes=[16, 32], embedding_size=16, **labels),
                   t.ResNetForImageClassification),
        "bit": (t.BitConfig(depths=[1, 1], hidden_sizes=[32, 64], embedding_size=16, num_groups=8, **labels),
                t.BitForImageClassification),
        "mobilenet_v1": (t.MobileNetV1Config(depth_multiplier=0.25, image_size=IMAGE_SIZE, **labels),
                         t.MobileNetV1ForImageClassification),
        "mobilenet_v2": (t.MobileNetV2Config(depth_multiplier=0.25, image_size=IMAGE_SIZE, **labels),
                         t.MobileNetV2ForImageClassification),
        "mobilevit": (t.MobileViTConfig(image_size=IMAGE_SIZE, hidden_sizes=[32, 48, 64], num_attention_heads=4,
                                        neck_hidden_sizes=[8, 16, 24, 32, 40, 48, 160], **labels),
                      t.MobileViTForImageClassification),
        "efficientnet": (t.EfficientNetConfig(image_size=IMAGE_SIZE, width_coefficient=0.25, depth_coefficient=0.2,
                                              hidden_dim=320, **labels),  # hidden_dim = the top conv's width
                         t.EfficientNetForImageClassification),
        "regnet": (t.RegNetConfig(depths=[1, 1], hidden_sizes=[16, 32], embedding_size=16, groups_width=8, **labels),
                   t.RegNetForImageClassification),
        "convnext": (t.ConvNextConfig(depths=[1, 1], hidden_sizes=[16, 32], num_stages=2, **labels),
                     t.ConvNextForImageClassification),
        "convnextv2": (t.ConvNextV2Config(depths=[1, 1], hidden_sizes=[16, 32], num_stages=2, **labels),
                       t.ConvNextV2ForImageClassification),
        "swin": (t.SwinConfig(image_size=IMAGE_SIZE, patch_size=4, embed_dim=16, depths=[1, 1], num_heads=[2, 4],
                              window_size=4, **labels), t.SwinForImageClassification),
        "poolformer": (t.PoolFormerConfig(depths=[1, 1], hidden_sizes=[16, 32], num_encoder_blocks=2,
                                          patch_sizes=[7, 3], strides=[4, 2], padding=[2, 1], **labels),
                       t.PoolFormerForImageClassification),
        "vit": (t.ViTConfig(intermediate_size=128, **vit), t.ViTForImageClassification),
        "deit": (t.DeiTConfig(intermediate_size=128, **vit), t.DeiTForImageClassification),
        "dinov2": (t.Dinov2Config(mlp_ratio=2, **vit), t.Dinov2ForImageClassification),
        "segformer": (t.SegformerConfig(num_encoder_blocks=2, depths=[1, 1], sr_ratios=[2, 1], hidden_sizes=[16, 32],
                                        num_attention_heads=[1, 2], patch_sizes=[7, 3], strides=[4, 2],
                                        decoder_hidden_size=32, **labels), t.SegformerForImageClassification),
        "focalnet": (t.FocalNetConfig(image_size=IMAGE_SIZE, patch_size=4, embed_dim=16, depths=[1, 1], **labels),
                     t.FocalNetForImageClassification),
    }


def families() -> dict[str, Callable[[], Any]]:
    """family -> a factory of its tiny model (seeded, eval mode)."""
    import torch
    import transformers

    def factory(config: Any, cls: Any) -> Callable[[], Any]:
        def build() -> Any:
            torch.manual_seed(0)
            return cls(config).eval()
        return build

    return {name: factory(config, cls) for name, (config, cls) in _families(transformers).items()}


def example(batch: int = 2) -> Any:
    import torch

    return torch.randn(batch, 3, IMAGE_SIZE, IMAGE_SIZE, generator=torch.Generator().manual_seed(0))
