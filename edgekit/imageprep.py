"""How image folders are read into arrays (light: the CLI reads these defaults for its options)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ImagePreprocessing:
    size: tuple[int, int] = (224, 224)  # H, W after resizing
    mean: tuple[float, ...] = (0.485, 0.456, 0.406)  # per channel, after scaling to [0, 1]
    std: tuple[float, ...] = (0.229, 0.224, 0.225)
    grayscale: bool = False
