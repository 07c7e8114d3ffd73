"""Parsing of comma-separated CLI values into typed tuples."""

from __future__ import annotations

from typing import Any

import click

from edgekit.imageprep import IMAGENET_MEAN, IMAGENET_SIZE, IMAGENET_STD, ImagePreprocessing

IMG = ImagePreprocessing()  # the one source of the image options' defaults


class CsvType(click.ParamType):
    """'1,8' -> (1, 8); '0.5,0.5,0.5' -> (0.5, 0.5, 0.5)."""

    def __init__(self, item: type, name: str) -> None:
        self.item = item
        self.name = name

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> tuple[Any, ...]:
        if isinstance(value, tuple):
            return value
        try:
            items = tuple(self.item(v) for v in str(value).replace("x", ",").split(",") if v.strip())
        except ValueError:
            self.fail(f"{value!r} is not a comma-separated list of {self.item.__name__} values", param, ctx)
        if not items:
            self.fail("needs at least one value", param, ctx)
        return items


class FiniteFloat(click.ParamType):
    """A float in [low, high]; NaN and infinities are refused (a NaN budget would switch the accuracy guard off)."""

    name = "float"

    def __init__(self, low: float, high: float) -> None:
        self.low, self.high = low, high

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        import math

        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        if not (math.isfinite(number) and self.low <= number <= self.high):
            self.fail(f"{value!r} must be a finite number in [{self.low:g}, {self.high:g}]", param, ctx)
        return number


# accuracy budget in points of top-1 accuracy
POINTS = FiniteFloat(0.0, 100.0)
INTS = CsvType(int, "ints")
FLOATS = CsvType(float, "floats")


def option_group(table: dict[str, Any], func: Any = None, *, only: tuple[str, ...] | None = None) -> Any:
    """Decorate ``func`` (or return a decorator) with the click options of ``table`` (parameter name -> option):
    all of them, or ``only`` these, shown in this order."""
    def apply(f: Any) -> Any:
        for name in reversed(only or tuple(table)):
            f = table[name](f)
        return f

    return apply(func) if func is not None else apply


def option_panels(*panels: tuple[str, tuple[str, ...]]) -> Any:
    """Decorator grouping a command's options into named help panels (rich-click): (title, parameter names)."""
    import rich_click

    def apply(func: Any) -> Any:
        for title, names in reversed(panels):
            func = rich_click.option_panel(title, options=list(names))(func)
        return func

    return apply


IMAGE_PARAMS = ("image_size", "mean", "std", "grayscale")


def _csv(values: tuple[Any, ...]) -> str:
    return ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in values)


def image_options(func: Any) -> Any:
    """Unset, each takes the model's own value (a Hugging Face folder's preprocessor_config.json), else ImageNet's."""
    hf = "the HF folder's preprocessor_config.json, else "
    func = click.option("--grayscale", is_flag=True, default=IMG.grayscale,
                        help="Image folders: load images as 1 channel.")(func)
    func = click.option("--std", type=FLOATS, show_default=hf + _csv(IMAGENET_STD),
                        help="Image folders: per-channel std.")(func)
    func = click.option("--mean", type=FLOATS, show_default=hf + _csv(IMAGENET_MEAN),
                        help="Image folders: per-channel mean (after scaling to [0,1]).")(func)
    size = IMAGENET_SIZE[:1] if IMAGENET_SIZE[0] == IMAGENET_SIZE[1] else IMAGENET_SIZE
    func = click.option("--image-size", type=INTS, show_default=hf + _csv(size),
                        help="Image folders: resize to S or H,W.")(func)
    return func


def image_prep(image_size: tuple[int, ...] | None, mean: tuple[float, ...] | None, std: tuple[float, ...] | None,
               grayscale: bool) -> ImagePreprocessing:
    size = None if not image_size else (image_size[0], image_size[0]) if len(image_size) == 1 else \
        (image_size[0], image_size[1])
    return ImagePreprocessing(size=size, mean=mean or None, std=std or None, grayscale=grayscale)
