"""An EfficientNet-Lite0-sized network in plain torch (no torchvision / timm here): MBConv blocks with ReLU6,
no squeeze-excite, the Lite0 widths, depths, kernels and strides; 4.65M parameters at 1000 classes."""

from __future__ import annotations

import torch
from torch import nn

# (expand ratio, kernel, stride, out channels, repeats): EfficientNet-Lite0 (= B0 without SE / swish)
STAGES = ((1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3), (6, 5, 1, 112, 3),
          (6, 5, 2, 192, 4), (6, 3, 1, 320, 1))


def _conv_bn(c_in: int, c_out: int, kernel: int, stride: int = 1, groups: int = 1, act: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, groups=groups, bias=False),
                               nn.BatchNorm2d(c_out)]
    return nn.Sequential(*layers, nn.ReLU6(inplace=True)) if act else nn.Sequential(*layers)


class MBConv(nn.Module):
    def __init__(self, c_in: int, c_out: int, expand: int, kernel: int, stride: int) -> None:
        super().__init__()
        hidden = c_in * expand
        layers = [_conv_bn(c_in, hidden, 1)] if expand != 1 else []
        layers += [_conv_bn(hidden, hidden, kernel, stride, groups=hidden), _conv_bn(hidden, c_out, 1, act=False)]
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x) if self.residual else self.block(x)


class EfficientNetLite0(nn.Module):
    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        layers: list[nn.Module] = [_conv_bn(3, 32, 3, 2)]
        c_in = 32
        for expand, kernel, stride, c_out, repeats in STAGES:
            for i in range(repeats):
                layers.append(MBConv(c_in, c_out, expand, kernel, stride if i == 0 else 1))
                c_in = c_out
        layers.append(_conv_bn(c_in, 1280, 1))
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(1280, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.pool(self.features(x)), 1))


def efficientnet_lite0(num_classes: int = 1000) -> EfficientNetLite0:
    return EfficientNetLite0(num_classes)


def reference_model(x, seed: int = 0) -> EfficientNetLite0:
    """Seeded random weights with BatchNorm statistics estimated on ``x`` (the calibration photos), so activations
    have realistic ranges (no pretrained weights can be downloaded here); latency does not depend on the values."""
    from benchmarks.shared.prepare import with_calibrated_bn

    return with_calibrated_bn(efficientnet_lite0, seed, x)
