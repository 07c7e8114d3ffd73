"""The benchmark models: plain-torch ResNet-18 and MobileNetV2, defined once in edgekit.zoo
(torchvision cannot be installed on these machines)."""

from __future__ import annotations

from edgekit.zoo import MobileNetV2, ResNet18, mobilenet_v2, resnet18

__all__ = ["MODELS", "MobileNetV2", "ResNet18", "mobilenet_v2", "resnet18"]

MODELS = {"resnet18": resnet18, "mobilenet_v2": mobilenet_v2}
