"""Profiles: every shipped file validates, and every kind of mistake names the file and the key."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from edgekit.backends import BACKENDS
from edgekit.errors import ExitCode, ProfileError, ProfileNotFoundError, UnknownProfileError
from edgekit.profile import (
    PRECISIONS,
    Profile,
    builtin_profile_names,
    default_profile_name,
    load_profile,
    parse_profile,
)

PROFILES_DIR = Path(__file__).resolve().parents[2] / "edgekit" / "profiles"

MINIMAL = 'schema_version = 1\nname = "t"\n'


def write(tmp_path: Path, text: str, name: str = "p.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def profile_error(tmp_path: Path, text: str) -> ProfileError:
    """Load ``text`` from a file; the ProfileError must name that file (exit code BAD_PROFILE)."""
    path = write(tmp_path, text)
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    assert str(path) in str(info.value), "the error must name the file"
    assert info.value.exit_code is ExitCode.BAD_PROFILE
    return info.value


# --- the shipped profiles ---------------------------------------------------------------------

def test_builtin_names_are_the_files_in_profiles_dir():
    on_disk = sorted(p.stem for p in PROFILES_DIR.glob("*.toml"))
    assert on_disk, "no profiles shipped"
    assert builtin_profile_names() == on_disk


@pytest.mark.parametrize("name", sorted(p.stem for p in PROFILES_DIR.glob("*.toml")))
def test_every_builtin_profile_loads_and_is_consistent(name):
    profile = load_profile(name)
    assert profile.name == name
    assert profile.target.backend in BACKENDS
    assert set(profile.compile.precisions) <= set(PRECISIONS)
    # the file on disk parses to the same thing as the packaged resource
    from_file = load_profile(PROFILES_DIR / f"{name}.toml")
    assert from_file == profile
    assert from_file.source == str(PROFILES_DIR / f"{name}.toml")


@pytest.mark.parametrize("name", sorted(p.stem for p in PROFILES_DIR.glob("*.toml")))
def test_every_builtin_backend_resolves(name):
    from edgekit.backends import get_backend

    profile = load_profile(name)
    backend = get_backend(profile.target.backend)
    assert backend.name == profile.target.backend


def test_default_profile_name_is_a_builtin_for_this_host():
    # per-CPU choices are tested on recorded cpuinfo in test_hardware.py; here only that the live answer exists
    assert default_profile_name() in builtin_profile_names()

# --- defaults and structure ---------------------------------------------------------------------

def test_minimal_profile_takes_dataclass_defaults(tmp_path):
    profile = load_profile(write(tmp_path, MINIMAL))
    assert profile == Profile(name="t")
    assert profile.benchmark.batch_sizes == (1,)
    assert profile.compile.precisions == ("fp32", "int8")


def test_profile_is_frozen():
    profile = load_profile("cpu-onnxruntime")
    with pytest.raises(dataclasses.FrozenInstanceError):
        profile.name = "other"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        profile.benchmark.iterations = 1  # type: ignore[misc]


def test_lists_become_tuples_and_ints_become_floats(tmp_path):
    text = MINIMAL + "[benchmark]\nbatch_sizes = [1, 8]\n[verify]\nmax_accuracy_drop = 2\n"
    profile = load_profile(write(tmp_path, text))
    assert profile.benchmark.batch_sizes == (1, 8)
    assert isinstance(profile.verify.max_accuracy_drop, float) and profile.verify.max_accuracy_drop == 2.0


def test_to_dict_round_trips_without_source(tmp_path):
    profile = load_profile("cpu-onnxruntime")
    data = profile.to_dict()
    assert "source" not in data
    assert data["target"]["threads"] == profile.target.threads


# --- mistakes ------------------------------------------------------------------------------------

def test_misspelt_key_names_file_key_and_suggestion(tmp_path):
    err = profile_error(tmp_path, MINIMAL + "[benchmark]\nitertions = 10\n")
    assert "benchmark.itertions" in err.message
    assert "unknown key" in err.message
    assert "benchmark.iterations" in err.hint


def test_misspelt_section_suggests_the_section(tmp_path):
    err = profile_error(tmp_path, MINIMAL + "[benchmarks]\niterations = 10\n")
    assert "'benchmarks'" in err.message
    assert "'benchmark'" in err.hint


def test_unknown_key_without_close_match_lists_valid_keys(tmp_path):
    err = profile_error(tmp_path, MINIMAL + "[verify]\nzzzzzz = 1\n")
    assert "verify.zzzzzz" in err.message
    assert "max_accuracy_drop" in err.hint and "min_int8_coverage" in err.hint


@pytest.mark.parametrize("section, line, key, expected", [
    ("benchmark", 'iterations = "many"', "benchmark.iterations", "expected int"),
    ("benchmark", "warmup = true", "benchmark.warmup", "expected int"),
    ("benchmark", "warmup = 2.5", "benchmark.warmup", "expected int"),
    ("verify", 'max_accuracy_drop = "1"', "verify.max_accuracy_drop", "expected float"),
    ("quantize", "per_channel = 1", "quantize.per_channel", "expected bool"),
    ("benchmark", "batch_sizes = 8", "benchmark.batch_sizes", "expected a list"),
    ("benchmark", 'batch_sizes = [1, "8"]', "benchmark.batch_sizes", "expected int"),
    ("target", "backend = 3", "target.backend", "expected str"),
])
def test_wrong_type_names_the_key(tmp_path, section, line, key, expected):
    err = profile_error(tmp_path, MINIMAL + f"[{section}]\n{line}\n")
    assert f"'{key}'" in err.message
    assert expected in err.message


def test_section_that_is_not_a_table(tmp_path):
    err = profile_error(tmp_path, MINIMAL + 'target = "onnxruntime"\n')
    assert "'target'" in err.message and "[table]" in err.message


@pytest.mark.parametrize("section, line, key", [
    ("quantize", 'calibration_method = "kl"', "quantize.calibration_method"),
    ("quantize", 'recipe = "u4s4"', "quantize.recipe"),
    ("target", 'isa = "avx9000"', "target.isa"),
    ("target", 'graph_optimization = "max"', "target.graph_optimization"),
    ("benchmark", 'energy_meter = "joulescope"', "benchmark.energy_meter"),
])
def test_bad_choice_lists_the_choices(tmp_path, section, line, key):
    err = profile_error(tmp_path, MINIMAL + f"[{section}]\n{line}\n")
    assert f"'{key}'" in err.message
    assert "is not one of" in err.message


def test_bad_choice_lists_every_valid_value(tmp_path):
    err = profile_error(tmp_path, MINIMAL + '[quantize]\ncalibration_method = "kl"\n')
    for choice in ("minmax", "entropy", "percentile"):
        assert choice in err.message


def test_unknown_backend(tmp_path):
    err = profile_error(tmp_path, MINIMAL + '[target]\nbackend = "tensorrt-typo"\n')
    assert "'target.backend'" in err.message and "tensorrt-typo" in err.message
    for name in BACKENDS:
        assert name in err.hint


@pytest.mark.parametrize("line", ['precisions = ["int4"]', 'precisions = ["fp32", "bf16"]', "precisions = []"])
def test_bad_precision(tmp_path, line):
    err = profile_error(tmp_path, MINIMAL + f"[compile]\n{line}\n")
    assert "'compile.precisions'" in err.message
    assert "fp32" in err.hint and "int8" in err.hint


@pytest.mark.parametrize("line", ["batch_sizes = []", "batch_sizes = [0]", "batch_sizes = [1, -4]"])
def test_bad_batch_sizes(tmp_path, line):
    err = profile_error(tmp_path, MINIMAL + f"[benchmark]\n{line}\n")
    assert "'benchmark.batch_sizes'" in err.message


@pytest.mark.parametrize("section, line, key", [
    ("benchmark", "iterations = 0", "benchmark.iterations"),
    ("quantize", "calibration_samples = -1", "quantize.calibration_samples"),
    ("verify", "max_samples = 0", "verify.max_samples"),
    ("benchmark", "energy_seconds = 0", "benchmark.energy_seconds"),
    ("benchmark", "energy_trials = 0", "benchmark.energy_trials"),
])
def test_non_positive_counts(tmp_path, section, line, key):
    err = profile_error(tmp_path, MINIMAL + f"[{section}]\n{line}\n")
    assert f"'{key}'" in err.message and "must be > 0" in err.message


def test_missing_name(tmp_path):
    err = profile_error(tmp_path, "schema_version = 1\n")
    assert "'name'" in err.message and "required" in err.message


def test_unsupported_schema_version(tmp_path):
    err = profile_error(tmp_path, 'schema_version = 2\nname = "t"\n')
    assert "schema_version" in err.message and "unsupported version 2" in err.message


def test_toml_syntax_error_names_the_file(tmp_path):
    err = profile_error(tmp_path, MINIMAL + "[benchmark\niterations = 10\n")
    assert "not valid TOML" in err.message
    assert isinstance(err.__cause__, Exception)  # raised `from` the tomllib error


def test_parse_profile_uses_the_given_source_name():
    with pytest.raises(ProfileError, match="my-source.toml"):
        parse_profile(MINIMAL + "[target]\nthreds = 2\n", "my-source.toml")


def test_missing_profile_file(tmp_path):
    with pytest.raises(ProfileNotFoundError, match="Cannot read profile file") as info:
        load_profile(tmp_path / "nope.toml")
    assert info.value.exit_code is ExitCode.NOT_FOUND


def test_unknown_profile_name_lists_names_and_suggests_closest():
    with pytest.raises(UnknownProfileError) as info:
        load_profile("cpu-onnxrutime")
    err = info.value
    assert err.exit_code is ExitCode.UNKNOWN_PROFILE
    assert "'cpu-onnxrutime'" in err.message
    assert "Did you mean 'cpu-onnxruntime'?" in err.hint
    for name in builtin_profile_names():
        assert name in err.hint


def test_unknown_profile_name_without_close_match_still_lists_names():
    with pytest.raises(UnknownProfileError) as info:
        load_profile("zzzz")
    assert "Did you mean" not in info.value.hint
    assert "cpu-onnxruntime" in info.value.hint


# --- replace_section (CLI overrides) --------------------------------------------------------

def test_replace_section_changes_only_that_key():
    profile = load_profile("cpu-onnxruntime")
    changed = profile.replace_section("verify", max_accuracy_drop=2.5)
    assert changed.verify.max_accuracy_drop == 2.5
    assert changed.verify.min_int8_coverage == profile.verify.min_int8_coverage
    assert changed.benchmark == profile.benchmark and changed.compile == profile.compile
    assert profile.verify.max_accuracy_drop == 1.0  # the original is untouched


def test_replace_section_accepts_a_list_for_a_tuple_field():
    changed = load_profile("cpu-onnxruntime").replace_section("benchmark", batch_sizes=[1, 2, 4])
    assert changed.benchmark.batch_sizes == (1, 2, 4)


def test_replace_section_validates_the_new_value():
    profile = load_profile("cpu-onnxruntime")
    with pytest.raises(ProfileError) as info:
        profile.replace_section("benchmark", batch_sizes=[])
    assert "benchmark.batch_sizes" in info.value.message
    with pytest.raises(ProfileError) as info:
        profile.replace_section("verify", max_accuracy_drop="lots")
    assert "verify.max_accuracy_drop" in info.value.message
    with pytest.raises(ProfileError) as info:
        profile.replace_section("benchmark", itertions=5)
    assert "benchmark.itertions" in info.value.message and "benchmark.iterations" in info.value.hint


@pytest.mark.parametrize("line, key", [("energy_idle_seconds = -1", "benchmark.energy_idle_seconds"),
                                       ("energy_tdp_watts = -5.0", "benchmark.energy_tdp_watts")])
def test_negative_energy_settings(tmp_path, line, key):
    err = profile_error(tmp_path, MINIMAL + f"[benchmark]\n{line}\n")
    assert f"'{key}'" in err.message and "must be >= 0" in err.message


@pytest.mark.parametrize(("backend", "recipe"), [("tensorrt", "u8s8"), ("openvino", "u8s8-rr")])
def test_a_recipe_the_backend_does_not_take_is_refused(tmp_path, backend, recipe):
    err = profile_error(tmp_path, MINIMAL + f'[target]\nbackend = "{backend}"\n[quantize]\nrecipe = "{recipe}"\n')
    assert "'quantize.recipe'" in err.message and recipe in err.message and '"auto"' in err.hint


@pytest.mark.parametrize("key", ["activation_type", "weight_type", "symmetric_activations", "symmetric_weights"])
def test_a_replaced_int8_type_key_points_to_the_recipe(tmp_path, key):
    err = profile_error(tmp_path, MINIMAL + f'[quantize]\n{key} = "x"\n')
    assert f"'quantize.{key}'" in err.message and "recipe" in err.hint and "u8s8-rr" in err.hint


# --- the benchmark's stop rule ([benchmark] target_ci, min_iterations, min_seconds, max_seconds) ----------------

def test_stop_rule_fields_parse_with_defaults_in_one_place(tmp_path):
    from edgekit.profile import BenchmarkConfig

    default = load_profile(write(tmp_path, MINIMAL)).benchmark
    assert (default.target_ci, default.min_iterations, default.min_seconds, default.max_seconds) == (
        BenchmarkConfig.target_ci, BenchmarkConfig.min_iterations, BenchmarkConfig.min_seconds,
        BenchmarkConfig.max_seconds)
    b = load_profile(write(tmp_path, MINIMAL + "[benchmark]\ntarget_ci = 0\nmin_iterations = 30\nmin_seconds = 0\n"
                                              "max_seconds = 4\niterations = 20\n")).benchmark
    assert (b.target_ci, b.min_iterations, b.min_seconds, b.max_seconds, b.iterations) == (0.0, 30, 0.0, 4.0, 20)


@pytest.mark.parametrize("line, key, words", [
    ("target_ci = 1.5", "benchmark.target_ci", "[0, 1)"),
    ("target_ci = -0.01", "benchmark.target_ci", "[0, 1)"),
    ("target_ci = nan", "benchmark.target_ci", "[0, 1)"),
    ("min_iterations = 0", "benchmark.min_iterations", "must be > 0"),
    ("max_seconds = 0", "benchmark.max_seconds", "must be > 0"),
    ("min_seconds = -1", "benchmark.min_seconds", "must be >= 0"),
    ("min_seconds = 20", "benchmark.min_seconds", "more than benchmark.max_seconds"),
])
def test_a_stop_rule_that_cannot_work_is_refused(tmp_path, line, key, words):
    err = profile_error(tmp_path, MINIMAL + f"[benchmark]\n{line}\n")
    assert f"'{key}'" in err.message and words in err.message
