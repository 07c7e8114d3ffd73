"""Parsing of comma-separated CLI values into typed tuples."""

from __future__ import annotations

from typing import Any

import click


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


def image_options(func: Any) -> Any:
    func = click.option("--grayscale", is_flag=True, help="Image folders: load images as 1 channel.")(func)
    func = click.option("--std", type=FLOATS, default="0.229,0.224,0.225", show_default=True,
                        help="Image folders: per-channel std.")(func)
    func = click.option("--mean", type=FLOATS, default="0.485,0.456,0.406", show_default=True,
                        help="Image folders: per-channel mean (after scaling to [0,1]).")(func)
    func = click.option("--image-size", type=INTS, default="224", show_default=True,
                        help="Image folders: resize to S or H,W.")(func)
    return func


def image_prep(image_size: tuple[int, ...], mean: tuple[float, ...], std: tuple[float, ...], grayscale: bool) -> Any:
    from edgekit.data import ImagePreprocessing

    size = (image_size[0], image_size[0]) if len(image_size) == 1 else (image_size[0], image_size[1])
    return ImagePreprocessing(size=size, mean=mean, std=std, grayscale=grayscale)
