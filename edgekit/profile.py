"""Hardware profiles: flat, strict TOML files loaded into frozen dataclasses.

No inheritance and no includes: shared defaults live in the dataclass fields below, so a
profile file only states what differs for its target. Unknown keys are rejected with the
closest valid key, because a misspelt key silently falling back to a default is the worst
kind of profile bug (the run "works" with settings nobody asked for).
"""

from __future__ import annotations

import difflib
import math
import tomllib
import types
import typing
from dataclasses import MISSING, asdict, dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any

from edgekit.backends.int8 import RECIPE_CHOICES
from edgekit.errors import ProfileError, ProfileNotFoundError, UnknownProfileError
from edgekit.hardware import TARGET_ISAS, HostFacts

SCHEMA_VERSION = 1
PRECISIONS = ("fp32", "fp16", "int8")
CALIBRATION_METHODS = ("minmax", "entropy", "percentile")
GRAPH_OPTIMIZATION = ("disable", "basic", "extended", "all")
# "none" and "estimate" are not meters; the others resolve in edgekit.energy.METERS (a test checks both ways)
ENERGY_METERS = ("none", "auto", "rapl", "jetson", "tegrastats", "nvml", "estimate")


@dataclass(frozen=True)
class TargetConfig:
    backend: str = "onnxruntime"
    device: str = "cpu"
    # the CPU class the artifacts are for (edgekit.hardware): "host" = the machine that runs compress, "x86-64" =
    # any x86-64 CPU, "x86-vnni", "x86-avx2", "arm64-dotprod", ... ; "cuda" for TensorRT. Picks the INT8 recipe, and
    # the report says when the host that measures is not the target
    isa: str = "host"
    # 0 lets the runtime pick; edge boxes are usually benchmarked with a pinned count
    threads: int = 0
    graph_optimization: str = "all"  # onnxruntime
    performance_hint: str = "latency"  # openvino: latency | throughput
    streams: int = 0  # openvino: 0 = what the hint picks
    # openvino: precision of float layers when benchmarking; "auto" lets the plugin choose (bf16
    # on AVX-512 BF16 / AMX CPUs). Parity checks always pin f32 whatever this says.
    inference_precision: str = "auto"
    # tensorrt: DLA core for the engine (-1 = GPU only; Orin Nano has no DLA, AGX Orin / Orin NX have 2)
    dla_core: int = -1
    gpu_fallback: bool = True  # tensorrt + DLA: layers the DLA cannot run go to the GPU
    # tensorrt/Jetson: the nvpmodel power mode the numbers are meant for (recorded; build-engine warns on a mismatch)
    power_mode: str = ""


@dataclass(frozen=True)
class QuantizeConfig:
    calibration_samples: int = 256
    calibration_method: str = "minmax"
    per_channel: bool = True
    # onnxruntime/tensorrt: the integer types of the QDQ file (edgekit.backends.int8.RECIPES): "auto" = the target
    # ISA's choice (U8S8 with VNNI/ARM64, U8S8 with 7-bit weights without VNNI, S8S8 for TensorRT)
    recipe: str = "auto"
    exclude_op_types: tuple[str, ...] = ()
    ignored_names: tuple[str, ...] = ()  # node names left in float (NNCF's ignored scope; nodes_to_exclude for ORT/TRT)
    preset: str = "performance"  # openvino/NNCF: performance (symmetric) | mixed (asymmetric activations)
    model_type: str = ""  # openvino/NNCF: "" | "transformer" (BERT-like models)
    overflow_fix: str = "first_layer_only"  # openvino/NNCF: enable | first_layer_only | disable (see profiles)
    # when the first INT8 attempt breaks the budget: onnxruntime/tensorrt try the next recipe, calibration method,
    # then keep the most sensitive layers in float (edgekit.backends.int8_search); openvino runs
    # nncf.quantize_with_accuracy_control (with labelled eval data)
    accuracy_control: bool = True


@dataclass(frozen=True)
class PruneDefaults:
    """How pruning behaves on this target when the user asks for it (--prune / --target-macs)."""

    round_to: int = 0  # keep channel counts multiples of this (SIMD / tensor-core widths); 0: from [target] isa
    importance: str = "l2"
    scope: str = "uniform"
    steps: int = 1
    max_channel_ratio: float = 0.9
    max_layer_sparsity: float = 0.95
    recalibrate_bn: bool = True


@dataclass(frozen=True)
class CompileConfig:
    precisions: tuple[str, ...] = ("fp32", "int8")
    opset: int = 17
    fp16_weights: bool = False  # openvino: store IR weights as FP16 (half the file; compute unchanged)
    workspace_mb: int = 0  # tensorrt: builder workspace limit (0 = TensorRT's default)
    sparse_weights: bool = False  # tensorrt: 2:4 sparse kernels (Ampere+ / Orin) where the weights are 2:4
    typing: str = "auto"  # tensorrt: auto | weak (FP16/INT8 flags, TensorRT <= 10) | strong (TensorRT >= 10, only in 11)


@dataclass(frozen=True)
class BenchmarkConfig:
    batch_sizes: tuple[int, ...] = (1,)
    warmup: int = 20
    # timed calls per batch size stop once the median's 95% confidence interval is within +- target_ci of it
    # (deploy/runner_common.stop_reason), after at least min_iterations calls and min_seconds, at the latest after
    # iterations calls or max_seconds; target_ci = 0 always times `iterations` calls. 3% is well inside the 15% noise
    # band comparisons use (report/speed.py); 50 calls keep p90 meaningful (p99 of 50 is near the slowest call);
    # min_iterations above iterations is capped at it
    iterations: int = 200
    min_iterations: int = 50
    target_ci: float = 0.03
    min_seconds: float = 0.5
    max_seconds: float = 10.0
    async_requests: int = 0  # openvino throughput run: parallel infer requests (0 = the plugin's optimum)
    # "none" by default: measuring costs trials x (energy_seconds + energy_idle_seconds) per artifact
    energy_meter: str = "none"
    energy_seconds: float = 10.0  # per active window (polled meters: at least 100 samples' worth)
    energy_trials: int = 3
    energy_idle_seconds: float = 5.0  # idle baseline before and after each window; 0 = no baseline
    energy_tdp_watts: float = 0.0  # only for energy_meter = "estimate"
    energy_include_dram: bool = False  # RAPL: add the DRAM zones to the total


@dataclass(frozen=True)
class VerifyConfig:
    max_accuracy_drop: float = 1.0  # points of top-1 accuracy
    # share of conv/matmul/gemm nodes that must run as integer kernels in the optimised graph
    min_int8_coverage: float = 0.8
    max_samples: int = 1024
    # without labels: floor on the mean cosine between a variant's outputs and the original's, the guard against
    # a broken quantization (all-MiniLM-L6-v2 under ORT's static INT8: 0.46); with labels the accuracy budget rules
    min_cosine: float = 0.9
    # without labels, for class-score outputs (N x C): floor on the share of inputs whose top-1 class matches the
    # original's. Each disagreement can cost at most one correct answer, so 0.99 bounds the drop by the default
    # 1-point max_accuracy_drop (the bound the INT8 search selects on); cosine alone passed INT8 files that
    # disagreed on 22-30% of real photos at cosine 0.905
    min_top1_agreement: float = 0.99
    # without labels, for semantic segmentation (N x C x H x W logits): floor on the share of pixels whose argmax class
    # matches the original's. Each disagreeing pixel costs at most one correct pixel, so 0.98 keeps the pixel-accuracy
    # drop near 2 points, approximately: agreement is counted at the output's resolution over every pixel, accuracy
    # after upsampling to the labels over the non-255 pixels, so it is no strict bound; lower than the top-1 floor
    # because quantization noise flips pixels on class boundaries, where
    # two logits nearly tie, and a map has far more such near-ties than a classifier's one answer per image
    min_pixel_agreement: float = 0.98


@dataclass(frozen=True)
class Profile:
    name: str
    description: str = ""
    schema_version: int = SCHEMA_VERSION
    target: TargetConfig = field(default_factory=TargetConfig)
    quantize: QuantizeConfig = field(default_factory=QuantizeConfig)
    prune: PruneDefaults = field(default_factory=PruneDefaults)
    compile: CompileConfig = field(default_factory=CompileConfig)
    benchmark: BenchmarkConfig = field(default_factory=BenchmarkConfig)
    verify: VerifyConfig = field(default_factory=VerifyConfig)
    source: str = field(default="", compare=False)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("source")
        return data

    def to_toml(self) -> str:
        """The profile as a TOML file with every default filled in, loadable with load_profile (keys that are
        not set, None, are written as comments: TOML has no null)."""
        data = self.to_dict()
        lines = [f"# {self.name}: {self.source or 'built in code'}"]
        lines += [f"{k} = {_toml_value(v)}" for k, v in data.items() if not isinstance(v, dict)]
        for section, values in ((k, v) for k, v in data.items() if isinstance(v, dict)):
            lines += ["", f"[{section}]"]
            lines += [f"# {k} = (not set)" if v is None else f"{k} = {_toml_value(v)}" for k, v in values.items()]
        return "\n".join(lines) + "\n"

    def replace_section(self, section: str, **changes: Any) -> Profile:
        """A copy with some keys of one section changed (CLI overrides); values are validated."""
        merged = {**asdict(getattr(self, section)), **changes}
        data = {**self.to_dict(), section: merged}
        return _build(Profile, data, self.source or self.name, "")


def _toml_value(value: Any) -> str:
    import json

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(str(value))  # a TOML basic string: the same escapes as JSON


_CHOICES: dict[str, tuple[str, ...]] = {
    "target.graph_optimization": GRAPH_OPTIMIZATION,
    "quantize.calibration_method": CALIBRATION_METHODS,
    "quantize.recipe": RECIPE_CHOICES,
    "target.isa": TARGET_ISAS,
    "benchmark.energy_meter": ENERGY_METERS,
    "prune.importance": ("l1", "l2", "group_norm", "taylor"),
    "prune.scope": ("uniform", "global"),
    "target.performance_hint": ("latency", "throughput"),
    "target.inference_precision": ("auto", "f32", "bf16", "f16"),
    "quantize.preset": ("performance", "mixed"),
    "quantize.model_type": ("", "transformer"),
    "quantize.overflow_fix": ("enable", "first_layer_only", "disable"),
    "compile.typing": ("auto", "weak", "strong"),
}
# keys that earlier profiles had, and what took their place
_RECIPE_FIX = ('The INT8 integer types are one [quantize] recipe now: "auto" (the target ISA\'s choice), "u8s8", '
               '"u8s8-rr" (7-bit weights), "u8u8" or "s8s8"; delete this key.')
REPLACED = {f"quantize.{key}": _RECIPE_FIX
            for key in ("activation_type", "weight_type", "symmetric_activations", "symmetric_weights")}
# verification thresholds: a NaN compares False with everything and would silently switch the guard off
_FINITE_RANGES = {"verify.max_accuracy_drop": (0.0, 100.0), "verify.min_int8_coverage": (0.0, 1.0),
                  "verify.min_cosine": (-1.0, 1.0), "verify.min_top1_agreement": (0.0, 1.0),
                  "verify.min_pixel_agreement": (0.0, 1.0)}
_POSITIVE = {"quantize.calibration_samples", "benchmark.iterations", "compile.opset", "verify.max_samples",
             "benchmark.energy_seconds", "benchmark.energy_trials", "benchmark.min_iterations",
             "benchmark.max_seconds",
             "prune.steps"}


def _fail(source: str, key: str, problem: str, fix: str) -> ProfileError:
    where = f"key '{key}' in {source}" if key else source
    return ProfileError(f"Invalid profile: {where}: {problem}.", fix)


def _coerce(value: Any, annotation: Any, source: str, key: str) -> Any:
    origin = typing.get_origin(annotation)
    if origin is tuple:
        item_type = typing.get_args(annotation)[0]
        if not isinstance(value, (list, tuple)):
            raise _fail(source, key, f"expected a list, got {value!r}", f"Write it as {key.split('.')[-1]} = [...].")
        return tuple(_coerce(v, item_type, source, key) for v in value)
    if annotation is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if annotation is int and isinstance(value, bool) or not isinstance(value, annotation):
        raise _fail(source, key, f"expected {annotation.__name__}, got {value!r}", "Fix the value's type.")
    return value


def _check_value(key: str, value: Any, source: str) -> None:
    choices = _CHOICES.get(key)
    if choices and value not in choices:
        raise _fail(source, key, f"{value!r} is not one of {', '.join(choices)}", "Use one of those values.")
    if key in _FINITE_RANGES:
        low, high = _FINITE_RANGES[key]
        if not (math.isfinite(value) and low <= value <= high):
            raise _fail(source, key, f"must be a finite number in [{low:g}, {high:g}], got {value}",
                        "A NaN or out-of-range value would switch the check off or reject everything.")
    if key in _POSITIVE and value <= 0:
        raise _fail(source, key, f"must be > 0, got {value}", "Use a positive number.")
    if key == "target.dla_core" and value < -1:
        raise _fail(source, key, f"must be -1 (no DLA) or a core index, got {value}", "Use -1, 0 or 1.")
    if key == "benchmark.target_ci" and not (math.isfinite(value) and 0.0 <= value < 1.0):
        raise _fail(source, key, f"must be a share in [0, 1), got {value}",
                    "For example 0.03 (stop at +-3% on the median), or 0 to always time `iterations` calls.")
    if key in ("benchmark.energy_idle_seconds", "benchmark.energy_tdp_watts", "compile.workspace_mb",
               "prune.round_to", "benchmark.min_seconds") and value < 0:
        raise _fail(source, key, f"must be >= 0, got {value}", "Use 0 or a positive number.")
    if key == "compile.precisions":
        bad = [p for p in value if p not in PRECISIONS]
        if bad or not value:
            raise _fail(source, key, f"unknown precision(s) {bad or value!r}", f"Use some of {', '.join(PRECISIONS)}.")
    if key == "benchmark.batch_sizes" and (not value or min(value) < 1):
        raise _fail(source, key, f"batch sizes must be >= 1, got {list(value)}", "For example batch_sizes = [1, 8].")
    if key == "target.backend":
        from edgekit.backends import BACKENDS

        if value not in BACKENDS:
            raise _fail(source, key, f"unknown backend {value!r}", f"Use one of {', '.join(sorted(BACKENDS))}.")


def _build(cls: type, data: dict[str, Any], source: str, prefix: str) -> Any:
    hints = typing.get_type_hints(cls)
    valid = {f.name: f for f in fields(cls) if f.name != "source"}
    for key in data:
        if key not in valid:
            close = difflib.get_close_matches(key, list(valid), n=1)
            fix = f"Did you mean '{prefix}{close[0]}'?" if close else f"Valid keys here: {', '.join(valid)}."
            fix = REPLACED.get(prefix + key, fix)
            raise _fail(source, prefix + key, "unknown key", fix)
    kwargs: dict[str, Any] = {}
    for name, spec in valid.items():
        key = prefix + name
        annotation = hints[name]
        if name not in data:
            if spec.default is MISSING and spec.default_factory is MISSING:
                raise _fail(source, key, "required key is missing", f"Add {name} = ... to the file.")
            continue
        value = data[name]
        if isinstance(annotation, type) and hasattr(annotation, "__dataclass_fields__"):
            if not isinstance(value, dict):
                raise _fail(source, key, "expected a [table]", f"Write it as a [{name}] section.")
            kwargs[name] = _build(annotation, value, source, f"{key}.")
            continue
        if isinstance(annotation, types.UnionType):
            annotation = typing.get_args(annotation)[0]
        kwargs[name] = _coerce(value, annotation, source, key)
        _check_value(key, kwargs[name], source)
    if cls is Profile:
        kwargs["source"] = source
        if kwargs.get("schema_version", SCHEMA_VERSION) != SCHEMA_VERSION:
            raise _fail(source, "schema_version", f"unsupported version {kwargs['schema_version']}",
                        f"this edgekit reads schema_version = {SCHEMA_VERSION}.")
        _check_recipe(kwargs, source)
    built = cls(**kwargs)
    if cls is BenchmarkConfig:
        _check_stop_rule(built, source)
    return built


def _check_stop_rule(b: BenchmarkConfig, source: str) -> None:
    """The stop rule's time minimum must fit under its cap, else it silently stops meaning anything (a
    min_iterations above iterations is simply capped: a profile that asks for 10 calls gets 10)."""
    if b.min_seconds > b.max_seconds:
        raise _fail(source, "benchmark.min_seconds", f"{b.min_seconds:g} s is more than benchmark.max_seconds "
                    f"{b.max_seconds:g} s, the most time spent timing one batch size",
                    "Lower min_seconds or raise max_seconds.")


def _check_recipe(sections: dict[str, Any], source: str) -> None:
    from edgekit.backends import BACKENDS

    target, quantize = sections.get("target", TargetConfig()), sections.get("quantize", QuantizeConfig())
    spec = BACKENDS[target.backend]
    if quantize.recipe not in spec.int8_recipes:
        raise _fail(source, "quantize.recipe", f"the {spec.runtime_name} backend takes INT8 recipe(s) "
                    f"{', '.join(spec.int8_recipes)}, not {quantize.recipe!r}",
                    f'Use recipe = "{spec.int8_recipes[0]}" in a {target.backend} profile.')


def builtin_profile_names() -> list[str]:
    root = resources.files("edgekit.profiles")
    return sorted(p.name[: -len(".toml")] for p in root.iterdir() if p.name.endswith(".toml"))


def parse_profile(text: str, source: str) -> Profile:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"Invalid profile: {source} is not valid TOML ({exc}).",
                           "Fix the syntax; see edgekit/profiles/*.toml (or `edgekit profiles show NAME`) for examples.") from exc
    return profile_from_dict(data, source)


def profile_from_dict(data: dict[str, Any], source: str) -> Profile:
    """A profile from its dict form (``Profile.to_dict()``, e.g. a bundle's deploy/profile.json), checked as strictly as a file."""
    return _build(Profile, data, source, "")


def load_profile(name_or_path: str | Path) -> Profile:
    """Load a built-in profile by name, or a profile file by path."""
    text_name = str(name_or_path)
    path = Path(text_name)
    if text_name.endswith(".toml") or path.exists():
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ProfileNotFoundError(f"Cannot read profile file {path}: {exc.strerror}.",
                               "Check the path, or pass a built-in profile name (edgekit profiles list).") from exc
        return parse_profile(text, str(path))
    names = builtin_profile_names()
    if text_name not in names:
        close = difflib.get_close_matches(text_name, names, n=1)
        guess = f"Did you mean '{close[0]}'? " if close else ""
        raise UnknownProfileError(f"Unknown profile '{text_name}'.", f"{guess}Valid profiles: {', '.join(names)}.")
    resource = resources.files("edgekit.profiles").joinpath(f"{text_name}.toml")
    return parse_profile(resource.read_text(encoding="utf-8"), f"{text_name}.toml (built-in)")


def default_profile_name(host: HostFacts | None = None) -> str:
    """The profile for this host when the user names none: ONNX Runtime for its CPU class."""
    if host is None:
        from edgekit.hardware import detect

        host = detect()
    if host.isa.startswith("arm64") or host.arch in ("aarch64", "arm64"):
        return "arm64-onnxruntime"
    if host.isa in ("x86-vnni", "x86-amx"):
        return "cpu-onnxruntime-vnni"
    return "cpu-onnxruntime"
