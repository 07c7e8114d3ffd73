"""The CLI's options are built from the config dataclasses: parsed with nothing given, a command makes exactly the
dataclasses' defaults, so no default is written twice (RunOptions, SweepConfig, LatencyTarget, DistillConfig,
PruneConfig, ImagePreprocessing)."""

from __future__ import annotations

import inspect
import math

import click
import pytest

import edgekit.api
from clitools import run
from edgekit.cli.distill import pop_distill
from edgekit.cli.main import compress
from edgekit.cli.prune import pop_prune
from edgekit.cli.run_options import pop_run_options
from edgekit.cli.sweep import _config, sweep
from edgekit.distill.config import DistillConfig
from edgekit.errors import ExitCode, PipelineError
from edgekit.imageprep import ImagePreprocessing
from edgekit.pipeline.options import RunOptions
from edgekit.profile import load_profile
from edgekit.pruning.config import PruneMode
from edgekit.sweep.config import LatencyTarget, SweepConfig


def parsed(command: click.Command, *args: str) -> tuple[click.Context, dict]:
    ctx = command.make_context(command.name, list(args))
    return ctx, dict(ctx.params)


def test_compress_with_nothing_given_makes_the_defaults() -> None:
    ctx, kwargs = parsed(compress, "m.onnx", "--out", "o")
    with ctx:
        assert pop_run_options(kwargs) == RunOptions(image_prep=ImagePreprocessing())
        assert pop_prune(kwargs, "cpu-onnxruntime") is None
        assert pop_distill(kwargs) == {"train_data": None, "val_data": None, "student": None, "student_weights": None,
                                       "distill": None}
    # every option was taken by a group; the rest are compress()'s own arguments
    assert set(kwargs) == {"model", "profile", "out", "calib_data", "eval_data", "objective"}
    assert kwargs["objective"] == inspect.signature(edgekit.api.compress).parameters["objective"].default


def test_distill_alone_makes_distill_configs_defaults() -> None:
    ctx, kwargs = parsed(compress, "m.onnx", "--out", "o", "--prune", "0.5", "--distill")
    with ctx:
        pop_run_options(kwargs)
        prune = pop_prune(kwargs, "cpu-onnxruntime")
        assert prune.ratio == 0.5 and prune.mode is PruneMode.STRUCTURED
        assert pop_distill(kwargs)["distill"] == DistillConfig()


def test_sweep_with_nothing_given_makes_the_defaults() -> None:
    ctx, kwargs = parsed(sweep, "m.onnx", "--out", "o", "--eval-data", "e.npz")
    with ctx:
        assert pop_run_options(kwargs) == RunOptions(image_prep=ImagePreprocessing())
        assert _config(kwargs) == SweepConfig()
        assert pop_distill(kwargs) == {"train_data": None, "val_data": None, "distill": None}
    ctx, kwargs = parsed(sweep, "m.onnx", "--out", "o", "--eval-data", "e.npz", "--target-latency", "0.5",
                         "--distill", "--prune", "0.4")
    with ctx:
        cfg = _config(kwargs)
        assert cfg.latency_target == LatencyTarget(0.5) and cfg.prune_ratios == (0.4,)
        assert pop_distill(kwargs)["distill"] == DistillConfig()


def test_a_search_option_without_a_search_is_a_usage_error(tmp_path) -> None:
    code, output = run("sweep", "m.onnx", "--out", tmp_path / "o", "--eval-data", "e.npz", "--max-prune", "0.6")
    assert code == 2 and "--max-prune tunes the latency search: add --target-latency" in output
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(("field", "value", "message"), [
    ("max_accuracy_drop", math.nan, "finite number of points"),
    ("max_accuracy_drop", -1.0, "finite number of points"),
    ("int8_recipe", "u4", "Unknown INT8 recipe"),
    ("input_shape", (1, 0, 8), "positive integers"),
    ("batch_sizes", (), "positive integers"),
    ("seed", 1.5, "must be an integer"),
])
def test_run_options_refuse_bad_values(field: str, value: object, message: str) -> None:
    with pytest.raises(PipelineError, match=message) as info:
        RunOptions(**{field: value})
    assert info.value.exit_code is ExitCode.USAGE  # an option error: exit 2, as click's own


def test_run_options_apply_the_overrides_to_the_profile() -> None:
    prof = RunOptions(max_accuracy_drop=0.5, batch_sizes=[1, 4], int8_recipe="u8u8", energy="estimate",
                      tdp_watts=15).profile("cpu-onnxruntime")
    assert prof.verify.max_accuracy_drop == 0.5 and tuple(prof.benchmark.batch_sizes) == (1, 4)
    assert prof.quantize.recipe == "u8u8" and prof.benchmark.energy_meter == "estimate"
    assert RunOptions().profile("cpu-onnxruntime").to_dict() == load_profile("cpu-onnxruntime").to_dict()
    with pytest.raises(PipelineError, match="edgekit.RunOptions"):
        RunOptions.of({"seed": 1})  # type: ignore[arg-type]


def _commands(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    found = []
    for name, command in group.commands.items():
        found.append((f"{prefix}{name}", command))
        if isinstance(command, click.Group):
            found += _commands(command, f"{prefix}{name} ")
    return found


def test_every_option_of_every_command_says_what_it_does() -> None:
    from edgekit.cli.main import cli

    silent = [f"{name} {param.opts[0]}" for name, command in _commands(cli) for param in command.params
              if isinstance(param, click.Option) and not (param.help or "").strip()]
    assert not silent, silent


@pytest.mark.parametrize("name", ["compress", "sweep"])
def test_compress_and_sweep_help_is_grouped_in_panels(name: str) -> None:
    code, output = run(name, "--help")
    assert code == 0
    for panel in ("Model", "Data", "Target, quantization, verification", "Pruning", "Distillation",
                  "Benchmark and energy", "Output"):
        assert f"─ {panel} " in output, panel
