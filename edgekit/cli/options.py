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
