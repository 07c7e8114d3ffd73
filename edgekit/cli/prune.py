"""The pruning options of `edgekit compress` and `edgekit sweep` (light: nothing heavy imported)."""

from __future__ import annotations

from typing import Any

import click

from edgekit.cli.options import option_group
from edgekit.pruning.config import Importance, PruneConfig, PruneMode, Scope

P = PruneConfig  # its field defaults are the only ones (the profile's [prune] section fills the rest)


def _options() -> dict[str, Any]:
    return {
        "prune_ratio": click.option("--prune", "prune_ratio", type=float,
                                    help="Share to remove: channels (structured) or weights (unstructured), e.g. 0.5."),
        "target_macs": click.option("--target-macs", type=float,
                                    help="Structured: prune until MACs <= this share of the original."),
        "target_params": click.option("--target-params", type=float,
                                      help="Structured: prune until parameters <= this share."),
        "prune_mode": click.option("--prune-mode", type=click.Choice([m.value for m in PruneMode]),
                                   default=P.mode.value, show_default=True,
                                   help="Remove channels, zero weights, or 2:4 semi-structured sparsity."),
        "prune_scope": click.option("--prune-scope", type=click.Choice([s.value for s in Scope]),
                                    help="Same share per layer, or ranked globally (default: the profile's)."),
        "prune_importance": click.option("--prune-importance", type=click.Choice([i.value for i in Importance]),
                                         help="Channel importance (default: the profile's; taylor uses the "
                                              "calibration data)."),
        "prune_steps": click.option("--prune-steps", type=int, help="Iterative pruning in N steps."),
        "prune_round_to": click.option("--prune-round-to", type=int,
                                       help="Round kept channels to a multiple (default: the profile's)."),
        "prune_ignore": click.option("--prune-ignore", "prune_ignore", multiple=True, metavar="NAME",
                                     help="Layer kept whole, besides those writing the model's output (always kept). Repeatable. Default: none for structured pruning (a transformer keeps its residual stream); the stem and the head stay dense for unstructured and 2:4."),
        "prune_layers": click.option("--prune-layer", "prune_layers", multiple=True, metavar="NAME=RATIO",
                                     help="Per-layer pruning ratio override (repeatable)."),
        "skip_unsupported": click.option("--skip-unsupported", is_flag=True,
                                         help="Keep channels coupled to layers the dependency graph does not "
                                              "understand, prune the rest."),
    }


PRUNE_PARAMS = tuple(_options())


def prune_options(func: Any = None, *, only: tuple[str, ...] | None = None) -> Any:
    """Decorator adding the pruning options (all of them, or ``only`` these parameters, in this order)."""
    return option_group(_options(), func, only=only)


def _layer_ratios(items: tuple[str, ...]) -> dict[str, float]:
    ratios = {}
    for item in items:
        name, sep, value = item.partition("=")
        try:
            ratios[name] = float(value)
        except ValueError:
            sep = ""
        if not sep:
            raise click.BadParameter(f"{item!r} is not NAME=RATIO", param_hint="--prune-layer")
    return ratios


def pop_prune(kwargs: dict[str, Any], profile: Any, *, default_ratio: float | None = None) -> PruneConfig | None:
    """Take the pruning options out of ``kwargs``: a PruneConfig (the profile's [prune] defaults for what was not
    given), or None when nothing asks for pruning. ``default_ratio``: the ratio when none is given (sweep)."""
    from edgekit.api import prune_config

    values = {name: kwargs.pop(name) for name in _options() if name in kwargs}
    ratio = values.get("prune_ratio")
    if ratio is None:
        ratio = default_ratio
    mode = values.get("prune_mode", P.mode.value)
    if ratio is None and values.get("target_macs") is None and values.get("target_params") is None \
            and mode != PruneMode.SEMI_2_4.value:
        return None
    return prune_config(profile, ratio=ratio, target_macs=values.get("target_macs"),
                        target_params=values.get("target_params"), mode=mode, scope=values.get("prune_scope"),
                        importance=values.get("prune_importance"), steps=values.get("prune_steps"),
                        round_to=values.get("prune_round_to"), ignored_layers=values.get("prune_ignore") or None,
                        layer_ratios=_layer_ratios(values.get("prune_layers", ())),
                        skip_unsupported=values.get("skip_unsupported", False))
