"""The options `edgekit compress` and `edgekit sweep` share, built from RunOptions (its defaults are the only ones)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from edgekit.backends.int8 import RECIPE_CHOICES
from edgekit.cli.energy import energy_options
from edgekit.cli.options import IMAGE_PARAMS, INTS, POINTS, image_options, image_prep
from edgekit.hf import TASKS
from edgekit.pipeline.options import RunOptions

R = RunOptions()

# the help panels these options fall in (cli/main.py, cli/sweep.py)
MODEL_PARAMS = ("weights", "random_weights", "trust_pickle", "input_shape", "output", "task")
DATA_PARAMS = ("calib_random", *IMAGE_PARAMS)
CHECK_PARAMS = ("int8_recipe", "max_accuracy_drop")
BENCH_PARAMS = ("batch_sizes", "energy", "tdp_watts", "energy_seconds")
OUTPUT_PARAMS = ("force", "seed")


# --output and --task, shared by compress, sweep, export and inspect (one definition each)
output_option = click.option(
    "--output", help="The model output to compare and export, for a model returning several (a ModelOutput/dict key "
                     "such as logits, or a tuple index) (default: logits when there is one, else every tensor output).")
task_option = click.option(
    "--task", type=click.Choice(tuple(TASKS)),
    help="How a Hugging Face model folder is loaded (default: image-classification or semantic-segmentation when its "
         "config.json names such an architecture, else feature-extraction); for any model, how its outputs are "
         "verified (segmentation: per-pixel agreement, mIoU with label maps; feature-extraction: cosine per output).")


def run_options(func: Any) -> Any:
    """Decorator adding every RunOptions field as an option (image preprocessing as --image-size/--mean/...)."""
    func = energy_options(image_options(func))
    for option in [
        click.option("--force", is_flag=True, default=R.force, help="Replace the output directory if it exists."),
        click.option("--seed", type=int, default=R.seed, show_default=True,
                     help="Seed of every random choice (calibration subset, pruning, training)."),
        click.option("--int8-recipe", type=click.Choice(RECIPE_CHOICES),
                     help="INT8 integer types for ONNX Runtime/TensorRT (default: the profile's, auto = the target "
                          "ISA's)."),
        click.option("--batch-sizes", type=INTS,
                     help="Benchmark batch sizes, e.g. 1,8 (default: the profile's; a sweep ranks the first)."),
        click.option("--max-accuracy-drop", type=POINTS, help="Accuracy budget in points (default: the profile's, 1.0)."),
        click.option("--input-shape", type=INTS, help="Input shape, e.g. 1,3,224,224 (default: from the data)."),
        output_option,
        task_option,
        click.option("--calib-random", is_flag=True, default=R.calib_random,
                     help="Allow INT8 calibration on random inputs (flagged in the report)."),
        click.option("--trust-pickle", is_flag=True, default=R.trust_pickle,
                     help="Allow loading a whole pickled nn.Module (runs code from the file)."),
        click.option("--random-weights", is_flag=True, default=R.random_weights,
                     help="A module:factory MODEL without --weights: time the architecture with random weights "
                          "(flagged in the report; accuracy figures then mean nothing)."),
        click.option("--weights", type=click.Path(path_type=Path), help="state_dict for a module:factory MODEL."),
    ]:
        func = option(func)
    return func


def pop_run_options(kwargs: dict[str, Any]) -> RunOptions:
    """Take the run options out of ``kwargs`` (a command's parameters) and make the RunOptions they set."""
    prep = image_prep(*(kwargs.pop(name) for name in IMAGE_PARAMS))
    values = {name: kwargs.pop(name) for name in RunOptions.field_names() if name in kwargs}
    return RunOptions(**values, image_prep=prep)
