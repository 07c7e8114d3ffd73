"""A smaller digits CNN, importable as 'distill_student:small_digits_cnn' (tests/ is on the pytest path)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


class SmallDigitsCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.fc = nn.Linear(8 * 4 * 4, 10)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2).flatten(1))


def small_digits_cnn() -> SmallDigitsCNN:
    return SmallDigitsCNN()
