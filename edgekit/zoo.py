"""Reference architectures in plain torch (no torchvision on these machines).

Imports torch at module level: only import this module when a model is needed.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


class DigitsCNN(nn.Module):
    """The demo model: two conv+BN blocks and a two-layer head for 8x8 grayscale digits."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(32)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(64)
        self.fc1 = nn.Linear(64 * 4 * 4, 128)
        self.fc2 = nn.Linear(128, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 2)
        return self.fc2(F.relu(self.fc1(x.flatten(1))))


def digits_cnn() -> DigitsCNN:
    """Factory usable as 'edgekit.zoo:digits_cnn' (or 'edgekit.demo:digits_cnn')."""
    return DigitsCNN()
