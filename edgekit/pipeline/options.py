"""RunOptions: how a run loads the model, reads the data, and overrides the profile.

compress() and sweep() take one RunOptions instead of thirteen loose arguments, and the CLI builds its options
from this dataclass's defaults (edgekit.cli.run_options): a default is written here and nowhere else. Light: no
runtime is imported, so `edgekit --help` can read the defaults.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING

from edgekit.backends.int8 import RECIPE_CHOICES
from edgekit.errors import OptionError
from edgekit.hf import TASKS
from edgekit.imageprep import ImagePreprocessing

if TYPE_CHECKING:
    from edgekit.profile import Profile


def _positive_ints(values: Sequence[int] | None, name: str, example: str) -> tuple[int, ...] | None:
    if values is None:
        return None
    try:
        items = tuple(int(v) for v in values)
    except (TypeError, ValueError):
        items = ()
    if not items or any(v < 1 for v in items):
        shown = ",".join(map(str, values)) if isinstance(values, (list, tuple)) else repr(values)
        raise OptionError(f"{name} {shown or '(empty)'} must be a list of positive integers.", f"E.g. {name} {example}.")
    return items


@dataclass(frozen=True)
class RunOptions:
    """Everything compress and sweep share besides the model, the profile, the data and the output dir.

    ``weights``: a state_dict for a 'package.module:factory' model (without it a factory is refused unless
    ``random_weights``: timing an architecture on purpose, flagged in the report). ``trust_pickle``: allow a whole pickled
    nn.Module (it runs code when loaded). ``calib_random``: allow INT8 calibration on random inputs (flagged in
    the report). ``input_shape``: e.g. (1, 3, 224, 224); default from the data. ``max_accuracy_drop``,
    ``batch_sizes``, ``int8_recipe``, ``energy`` / ``energy_seconds`` / ``tdp_watts``: profile overrides (None: the
    profile's). ``image_prep``: how image folders are read. ``force``: replace an existing output directory.
    ``output``: which output of a model returning several (a ModelOutput / dict key or a tuple index) is compared and
    exported (None: ``logits`` when there is one, else every tensor output; edgekit/outputs.py). ``task``: the
    transformers Auto class a Hugging Face model folder is loaded with (None: from its config.json), and for any
    model how its outputs are verified (semantic-segmentation, feature-extraction; pipeline/verify.Reference).
    """

    weights: str | Path | None = None
    random_weights: bool = False
    trust_pickle: bool = False
    calib_random: bool = False
    input_shape: tuple[int, ...] | None = None
    max_accuracy_drop: float | None = None
    batch_sizes: tuple[int, ...] | None = None
    int8_recipe: str | None = None
    image_prep: ImagePreprocessing | None = None
    seed: int = 0
    force: bool = False
    energy: str | None = None
    energy_seconds: float | None = None
    tdp_watts: float | None = None
    output: str | None = None
    task: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "input_shape", _positive_ints(self.input_shape, "--input-shape", "1,3,224,224"))
        object.__setattr__(self, "batch_sizes", _positive_ints(self.batch_sizes, "--batch-sizes", "1,8"))
        drop = self.max_accuracy_drop
        if drop is not None and not (isinstance(drop, (int, float)) and math.isfinite(drop) and 0 <= drop <= 100):
            raise OptionError(f"--max-accuracy-drop {drop!r} must be a finite number of points in [0, 100]: "
                                "a NaN or infinite budget would switch the accuracy guard off.",
                                "E.g. --max-accuracy-drop 1.0.")
        if self.int8_recipe is not None and self.int8_recipe not in RECIPE_CHOICES:
            raise OptionError(f"Unknown INT8 recipe {self.int8_recipe!r}.", f"Choose from {', '.join(RECIPE_CHOICES)}.")
        if self.task is not None and self.task not in TASKS:
            raise OptionError(f"Unknown task {self.task!r}.", f"Choose from {', '.join(TASKS)}.")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise OptionError(f"seed {self.seed!r} must be an integer.", "E.g. --seed 0.")

    def profile(self, profile: str | Path | Profile | None) -> Profile:
        """The profile (a name, TOML path or Profile; None = this host's default) with these overrides applied."""
        from edgekit.energy.protocol import with_energy
        from edgekit.pipeline.inputs import resolve_profile

        prof = resolve_profile(profile, max_accuracy_drop=self.max_accuracy_drop, batch_sizes=self.batch_sizes)
        if self.int8_recipe is not None:
            prof = prof.replace_section("quantize", recipe=self.int8_recipe)
        return with_energy(prof, meter=self.energy, seconds=self.energy_seconds, tdp_watts=self.tdp_watts)

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    @classmethod
    def of(cls, options: RunOptions | None) -> RunOptions:
        if options is None:
            return cls()
        if not isinstance(options, cls):
            raise OptionError(f"options must be an edgekit.RunOptions, not {type(options).__name__}.",
                                "E.g. options=edgekit.RunOptions(weights='model.pt', seed=1).")
        return options
