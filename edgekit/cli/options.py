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
