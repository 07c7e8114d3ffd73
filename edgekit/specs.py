"""'package.module:attr' specs, used for model factories and data callables."""

from __future__ import annotations

import importlib
import re
from typing import Any

from edgekit.errors import EdgekitError

# a dotted module path, a colon, an identifier; 'runs/exp:1/model.pt2' is a path, not a spec
_SPEC = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*:[A-Za-z_][\w]*$")


def is_spec(text: str) -> bool:
    return bool(_SPEC.match(text))


def import_attr(spec: str, what: str, error: type[EdgekitError], form: str) -> Any:
    """Import ``module:attr``; failures raise ``error`` naming the spec, what it was for and its ``form``."""
    module_name, _, attr = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise error(f"Cannot import module '{module_name}' for {what} '{spec}': {exc}.",
                    f"Pass '{form}' with an importable module (installed, or on PYTHONPATH).") from exc
    try:
        return getattr(module, attr)
    except AttributeError as exc:
        raise error(f"Module '{module_name}' has no attribute '{attr}' ({what} '{spec}').",
                    f"Pass '{form}' naming an existing function.") from exc
