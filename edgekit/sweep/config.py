"""What a sweep runs: its trial grid, objective, executor and budget (frozen, validated)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from edgekit.errors import OptionError

PRECISIONS = ("fp32", "int8")
# the ratio of the base PruneConfig a sweep derives its trials from: each trial replaces it with its own
BASE_PRUNE_RATIO = 0.5


class Objective(str, Enum):
    LATENCY = "latency"  # p50 at the profile's first batch size, on the target runtime
    ENERGY = "energy"  # joules per inference (needs a meter: --energy)
    SIZE = "size"  # bytes of the artifact


class ExecutorKind(str, Enum):
    LOCAL = "local"
    RAY = "ray"


@dataclass(frozen=True, order=True)
class TrialSpec:
    """One configuration: pruning ratio (0 = the original), distilled or not, precision."""

    prune: float = 0.0
    distill: bool = False
    precision: str = "fp32"

    @property
    def name(self) -> str:
        if self.prune == 0:
            return self.precision
        return f"pruned-{self.prune:g}-{'kd-' if self.distill else ''}{self.precision}"

    def to_dict(self) -> dict:
        return {"name": self.name, "prune": self.prune, "distill": self.distill, "precision": self.precision}


@dataclass(frozen=True)
class LatencyTarget:
    """Search the pruning ratio until measured latency <= ``ratio`` x the unpruned artifact's."""

    ratio: float
    steps: int = 5
    max_prune: float = 0.75  # channel rounding can prune LESS at higher ratios (digits: 0.8 keeps 91% of MACs)
    precision: str = "fp32"

    def __post_init__(self) -> None:
        object.__setattr__(self, "ratio", float(self.ratio))
        if not 0 < self.ratio < 1:
            raise OptionError(f"--target-latency {self.ratio} must be between 0 and 1 (a share of the "
                                "original's latency).", "E.g. --target-latency 0.5 for twice as fast.")
        if not 0 < self.max_prune < 1:
            raise OptionError(f"--max-prune {self.max_prune} must be between 0 and 1.", "E.g. 0.9.")
        if self.steps < 1:
            raise OptionError("--search-steps must be >= 1.", "E.g. 5 (each step prunes, exports and measures).")


def _enum(cls: type[Enum], value: object, what: str) -> Enum:
    try:
        return cls(value)
    except ValueError as exc:
        raise OptionError(f"Unknown {what} '{value}'.", f"Choose from {', '.join(m.value for m in cls)}.") from exc


@dataclass(frozen=True)
class SweepConfig:
    """The sweep's grid and search; its defaults are the only ones (the CLI options are built from them).

    ``objective`` and ``executor`` take their names ("latency", "ray"). ``latency_target``: search the pruning
    ratio first. ``distill`` is set by sweep() from its ``distill`` argument."""

    prune_ratios: tuple[float, ...] = (0.3, 0.5, 0.7)
    precisions: tuple[str, ...] = PRECISIONS
    distill: bool = False
    objective: Objective = Objective.LATENCY
    executor: ExecutorKind = ExecutorKind.LOCAL
    workers: int = 2
    cache_dir: Path | None = None
    resume: bool = False
    latency_target: LatencyTarget | None = None
    extra_ratios: tuple[float, ...] = field(default=())  # found by the latency search

    def __post_init__(self) -> None:
        object.__setattr__(self, "prune_ratios", tuple(float(r) for r in self.prune_ratios))
        object.__setattr__(self, "precisions", tuple(self.precisions))
        object.__setattr__(self, "objective", _enum(Objective, self.objective, "objective"))
        object.__setattr__(self, "executor", _enum(ExecutorKind, self.executor, "executor"))
        if self.cache_dir is not None:
            object.__setattr__(self, "cache_dir", Path(self.cache_dir))
        bad = [r for r in self.prune_ratios if not 0 <= r < 1]
        if bad:
            raise OptionError(f"Pruning ratios must be in [0, 1): got {bad}.", "E.g. --prune 0.3,0.5,0.7.")
        unknown = [p for p in self.precisions if p not in PRECISIONS]
        if unknown or not self.precisions:
            raise OptionError(f"Unknown precision(s) {unknown or '(none given)'}.",
                                f"Choose from {', '.join(PRECISIONS)}, e.g. --precisions fp32,int8.")
        if self.workers < 1:
            raise OptionError("--workers must be >= 1.", "E.g. --workers 2.")
        if self.distill and not any(r > 0 for r in self.prune_ratios) and self.latency_target is None:
            raise OptionError("--distill trains pruned models, and no pruning ratio > 0 was given.",
                                "Add --prune 0.3,0.5 (or --target-latency), or drop --distill.")

    def trials(self) -> list[TrialSpec]:
        """The original at every precision, then every ratio (sorted, unique) at every precision."""
        ratios = sorted({round(r, 4) for r in (*self.prune_ratios, *self.extra_ratios) if r > 0})
        specs = [TrialSpec(0.0, False, p) for p in self.precisions]
        specs += [TrialSpec(r, self.distill, p) for r in ratios for p in self.precisions]
        return specs
