"""How image folders are read into arrays (light: the CLI reads these defaults for its options).

A field left unset (None) is filled by ``filled()``: from the model's own preprocessing when it has one (a Hugging
Face folder's preprocessor_config.json, edgekit/hf.py ``preprocessing``), else from ImageNet's (224 x 224, its
mean and std). What the user sets always wins.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

IMAGENET_SIZE = (224, 224)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class ImagePreprocessing:
    size: tuple[int, int] | None = None  # H, W after resizing; None: the model's, else 224 x 224
    mean: tuple[float, ...] | None = None  # per channel, after scaling to [0, 1]; None: the model's, else ImageNet's
    std: tuple[float, ...] | None = None
    grayscale: bool = False
    source: str = ""  # where the unset fields came from, once filled (the report's data section)

    def filled(self, model: ImagePreprocessing | None = None) -> ImagePreprocessing:
        """Every field set: this one's, else ``model``'s (the model's own preprocessing), else ImageNet's."""
        own = model or ImagePreprocessing()
        unset = [f for f in ("size", "mean", "std") if getattr(self, f) is None]
        from_model = [f for f in unset if getattr(own, f) is not None]
        source = ", ".join(filter(None, [f"{'/'.join(from_model)} from {own.source}" if from_model else "",
                                         "/".join(f for f in unset if f not in from_model) + " ImageNet's"
                                         if len(from_model) < len(unset) else ""]))
        return replace(self, size=self.size or own.size or IMAGENET_SIZE, mean=self.mean or own.mean or IMAGENET_MEAN,
                       std=self.std or own.std or IMAGENET_STD, source=source or self.source or "given")
