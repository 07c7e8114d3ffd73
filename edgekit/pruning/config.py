"""What to prune and how: one frozen config, validated on construction."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from edgekit.errors import OptionError


class PruneMode(str, Enum):
    STRUCTURED = "structured"
    UNSTRUCTURED = "unstructured"
    SEMI_2_4 = "2:4"


class Importance(str, Enum):
    L1 = "l1"
    L2 = "l2"
    GROUP_NORM = "group_norm"
    TAYLOR = "taylor"


class Scope(str, Enum):
    UNIFORM = "uniform"  # every layer loses the same share of its channels
    GLOBAL = "global"  # channels ranked across layers; some layers lose more


@dataclass(frozen=True)
class PruneConfig:
    ratio: float | None = None  # share of channels (structured) or weights (unstructured) removed
    target_macs: float | None = None  # prune until MACs <= this share of the original
    target_params: float | None = None  # prune until parameters <= this share of the original
    mode: PruneMode = PruneMode.STRUCTURED
    scope: Scope = Scope.UNIFORM
    importance: Importance = Importance.L2
    steps: int = 1
    round_to: int = 1
    # kept whole besides the layers writing the model's output (always kept); None: structured, a transformer's residual
    # stream only; unstructured / 2:4, the stem and the classifier head stay dense
    ignored_layers: tuple[str, ...] | None = None
    layer_ratios: dict[str, float] = field(default_factory=dict)
    skip_unsupported: bool = False
    max_layer_sparsity: float = 0.95  # unstructured: a cap, so no layer is deleted whole
    max_channel_ratio: float = 0.9  # structured: never remove more than this share of one layer
    recalibrate_bn: bool = True  # re-estimate BatchNorm statistics on calibration data afterwards

    @property
    def target(self) -> tuple[str, float] | None:
        """('macs' | 'params', share to keep) when pruning towards a budget instead of a ratio."""
        if self.target_macs is not None:
            return "macs", self.target_macs
        if self.target_params is not None:
            return "params", self.target_params
        return None

    def __post_init__(self) -> None:
        if self.mode is PruneMode.SEMI_2_4:
            return
        if sum(v is not None for v in (self.ratio, self.target_macs, self.target_params)) != 1:
            raise OptionError("Pruning needs exactly one of a ratio (--prune), a MAC target (--target-macs) or a "
                                "parameter target (--target-params).", "For example --prune 0.5, or --target-macs 0.4.")
        if self.ratio is not None and not 0.0 < self.ratio < 1.0:
            raise OptionError(f"--prune {self.ratio} is out of range.", "Use a share in (0, 1), e.g. 0.5.")
        for option, value in (("--target-macs", self.target_macs), ("--target-params", self.target_params)):
            if value is not None and not 0.0 < value < 1.0:
                raise OptionError(f"{option} {value} is out of range.", "Use the share to keep, in (0, 1), e.g. 0.4.")
            if value is not None and self.mode is not PruneMode.STRUCTURED:
                raise OptionError(f"{option} needs structured pruning: zeroed weights remove no MACs or parameters.",
                                    "Use --prune RATIO with unstructured pruning.")
        if self.steps < 1 or self.round_to < 1:
            raise OptionError("Pruning steps and channel rounding must be >= 1.", "Fix --prune-steps or round_to.")
        bad = {k: v for k, v in self.layer_ratios.items() if not 0.0 <= v < 1.0}
        if bad:
            raise OptionError(f"Per-layer pruning ratios out of range: {bad}.", "Use values in [0, 1).")
