"""One sweep trial: build its artifact through the cached stage chain, verify it, then time it.

Building (``build_trial``) and timing (``measure_trial``) are separate functions because they
have different resource needs: builds may run side by side, a measurement must own its cores
(see executor.py). Both executors call exactly these two functions.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgekit.artifact import Artifact, Format
from edgekit.data import Dataset
from edgekit.pipeline.verify import Reference
from edgekit.models import LoadedModel
from edgekit.profile import Profile
from edgekit.progress import NullProgress, Progress
from edgekit.pruning.config import PruneConfig
from edgekit.distill.config import DistillConfig
from edgekit.report.schema import VariantResult
from edgekit.sweep.cache import ENTRY_FILE, CacheEvent, StageCache, array_sha256, cache_key, canonical
from edgekit.sweep.config import TrialSpec


@dataclass
class SweepContext:
    """Everything a trial needs; pickled once per Ray job (ray.put), so it holds data, not sessions."""

    model: LoadedModel
    profile: Profile
    backend_name: str
    calib: Dataset | None
    evald: Dataset
    train: Dataset | None
    reference: Reference
    input_shape: tuple[int, ...]
    seed: int
    versions: dict[str, str]
    cache_root: Path
    prune_base: PruneConfig | None
    distill: DistillConfig | None
    val: Dataset | None = None  # distillation's validation data (None: held out of train)
    input_key: str = ""
    data_keys: dict[str, str | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # the root of every step's key: the model, and which of its outputs is compared (--output; it also steers
        # Taylor pruning, distillation and the export) and the task it was loaded and verified for (--task); these
        # two only when set, so keys made without them stay valid
        chosen = {name: getattr(self.model, name) for name in ("output", "task") if getattr(self.model, name)}
        self.input_key = self.input_key or cache_key(
            parent="", stage="input", config={"source": self.model.source, "sha256": self.model.sha256,
                                              "kind": self.model.kind.value, **chosen}, versions={})
        self.data_keys = self.data_keys or {
            "calib": None if self.calib is None else array_sha256(self.calib.x, self.calib.y),
            "eval": array_sha256(self.evald.x, self.evald.y),
            "train": None if self.train is None else array_sha256(self.train.x, self.train.y),
            "val": None if self.val is None else array_sha256(self.val.x, self.val.y)}


_BACKENDS: dict[str, Any] = {}


def backend_for(name: str) -> Any:
    from edgekit.backends import get_backend

    if name not in _BACKENDS:
        _BACKENDS[name] = get_backend(name)
    return _BACKENDS[name]


@dataclass(frozen=True)
class StepDef:
    id: str
    stage: Any
    parent: StepDef | None
    key: str


def _step(ctx: SweepContext, step_id: str, stage: Any, parent: StepDef | None, data: tuple[str, ...] = ()) -> StepDef:
    key = cache_key(parent=parent.key if parent else ctx.input_key, stage=stage.name, config=stage.config_dict(),
                    versions=ctx.versions, data={d: ctx.data_keys[d] for d in data}, seed=ctx.seed)
    return StepDef(step_id, stage, parent, key)


# what each stage reads besides its input artifact: part of its cache key (distillation selects its epoch on
# "val", or on a held-out share of "train"; "eval" is only logged in its summary)
DATA_READS = {"prune": ("calib",), "distill": ("train", "val", "eval"), "quantize": ("calib",)}


def trial_chain(ctx: SweepContext, spec: TrialSpec) -> list[StepDef]:
    """The stages of one trial, root first, from the one plan builder (pipeline/plan.py) compress uses; trials that
    share a prefix share its keys (and its work). Step ids carry the trial's ratio (and -kd), for the cache log."""
    from edgekit.pipeline.plan import build_plan
    from edgekit.stages.export import ExportConfig

    native = backend_for(ctx.backend_name).native_format
    fmt = Format.TORCH if ctx.model.is_torch else Format.ONNX
    export = (ExportConfig(tuple(ctx.input_shape), ctx.profile.compile.opset, output=ctx.model.output)
              if ctx.model.is_torch else None)
    prune = distill = None
    suffix = ""
    if spec.prune > 0:
        if ctx.prune_base is None:
            raise AssertionError("sweep() builds prune_base whenever a ratio > 0 is asked for")  # pragma: no cover
        prune = dataclasses.replace(ctx.prune_base, ratio=spec.prune, target_macs=None, target_params=None)
        suffix = f"-{spec.prune:.2f}" + ("-kd" if spec.distill else "")
        distill = ctx.distill if spec.distill else None
    plan = build_plan(fmt, (spec.precision,), ctx.backend_name, export, prune=prune, native=native, distill=distill)
    steps: list[StepDef] = []
    for step in plan.chain(("pruned-" if prune else "") + spec.precision):
        stage, reads = step.stage, DATA_READS.get(step.stage.name, ())
        if stage.name == "quantize":
            # accuracy-controlled quantization (every backend) also reads the budget and whether eval has labels
            controlled = ctx.profile.quantize.accuracy_control
            stage = _QuantizeKeyed(stage, ctx.profile, controlled)
            reads = ("calib", "eval") if controlled else reads
        steps.append(_step(ctx, f"{step.id}{suffix}", stage, steps[-1] if steps else None, reads))
    return steps


class _QuantizeKeyed:
    """QuantizeStage whose key also holds what it reads: the profile's [quantize] section, the target ISA and this
    host's (they pick the recipe and how it is checked), and, for accuracy-controlled quantization, the budget."""

    def __init__(self, stage: Any, profile: Profile, accuracy_controlled: bool) -> None:
        self.stage, self.profile, self.controlled = stage, profile, accuracy_controlled
        self.name = stage.name
        self.consumes, self.produces = stage.consumes, stage.produces

    def config_dict(self) -> dict[str, Any]:
        from edgekit.hardware import detect

        return {**self.stage.config_dict(), "format": self.produces.value,
                "quantize": dataclasses.asdict(self.profile.quantize), "target_isa": self.profile.target.isa,
                "host_isa": detect().isa,
                **({"verify": dataclasses.asdict(self.profile.verify)} if self.controlled else {})}

    def run(self, artifact: Artifact, ctx: Any, stage_dir: Path) -> Artifact:
        return self.stage.run(artifact, ctx, stage_dir)


def _source(ctx: SweepContext) -> Artifact:
    m = ctx.model
    if m.is_torch:
        return Artifact(Format.TORCH, None, {"module": m.module, "sha256": m.sha256, "kind": m.kind.value,
                                             "exported_program": m.exported_program})
    return Artifact(Format.ONNX, m.onnx_path)


def _load(ctx: SweepContext, cache: StageCache, entry: dict[str, Any], key: str) -> Artifact:
    path = cache.entry(key) / entry["file"]
    fmt = Format(entry["format"])
    meta = dict(entry.get("meta") or {})
    if fmt is Format.TORCH:  # a pruned / distilled module: rebuilt from the original's class, no pickle
        import torch

        from edgekit.pruning.spec import rebuild

        model = rebuild(copy.deepcopy(ctx.model.module), json.loads((path.parent / "architecture.json").read_text()))
        model.load_state_dict(torch.load(str(path), map_location="cpu", weights_only=True), strict=True)
        meta["module"] = model.eval()
    return Artifact(fmt, path, meta)


def _run_context(ctx: SweepContext) -> Any:
    from edgekit.stages.base import RunContext

    return RunContext(ctx.profile, backend_for(ctx.backend_name), ctx.calib, ctx.evald, ctx.seed, NullProgress(),
                      train=ctx.train, val=ctx.val, teacher=ctx.model.module, output=ctx.model.output,
                      task=getattr(ctx.model, "task", None))


def resolve(ctx: SweepContext, cache: StageCache, step: StepDef, events: list[CacheEvent]) -> Artifact:
    """The step's artifact: from the cache, or built (its missing ancestors first) and stored."""
    entry = cache.lookup(step.key)
    if entry is None:
        with cache.lock(step.key):
            entry = cache.lookup(step.key)  # another worker may have built it while we waited
            if entry is None:
                return _build(ctx, cache, step, events)
    events.append(CacheEvent(step.id, step.key, True))
    return _load(ctx, cache, entry, step.key)


def _build(ctx: SweepContext, cache: StageCache, step: StepDef, events: list[CacheEvent]) -> Artifact:
    import torch

    source = _source(ctx) if step.parent is None else resolve(ctx, cache, step.parent, events)
    torch.manual_seed(ctx.seed)  # a stage's result must not depend on which trial (or worker) built it first
    started = time.perf_counter()
    with cache.building(step.key) as tmp:
        out = step.stage.run(source, _run_context(ctx), tmp)
        wall = time.perf_counter() - started
        meta = {k: v for k, v in out.meta.items() if k not in ("module", "exported_program")}
        entry = {"step": step.id, "stage": step.stage.name, "format": out.format.value,
                 "file": str(out.path.relative_to(tmp)), "meta": json.loads(canonical(meta)),
                 "config": json.loads(canonical(step.stage.config_dict())), "versions": ctx.versions,
                 "parent": step.parent.key if step.parent else ctx.input_key, "wall_s": round(wall, 3)}
        (tmp / ENTRY_FILE).write_text(json.dumps(entry, indent=1) + "\n", encoding="utf-8")
    events.append(CacheEvent(step.id, step.key, False, wall))
    return Artifact(out.format, cache.entry(step.key) / entry["file"], out.meta)


@dataclass
class BuiltTrial:
    spec: TrialSpec
    key: str  # the leaf artifact's cache key
    artifact: str  # absolute path of the artifact in the cache
    result: VariantResult  # verified, not yet timed
    events: list[CacheEvent]
    build_s: float


def build_trial(ctx: SweepContext, spec: TrialSpec) -> BuiltTrial:
    """Build (or fetch) the trial's artifact and verify it against the original (parity, accuracy, INT8)."""
    from edgekit.pipeline.verify import verify_variant

    from edgekit.pruning.effect import NO_EFFECT, NothingPrunedError

    started = time.perf_counter()
    cache = StageCache(ctx.cache_root)
    events: list[CacheEvent] = []
    leaf = trial_chain(ctx, spec)[-1]
    try:
        artifact = resolve(ctx, cache, leaf, events)
    except NothingPrunedError as exc:  # the original again: marked, never timed as a different model
        result = VariantResult(spec.name, ctx.backend_name, spec.precision, artifact="", size_bytes=0,
                               status=NO_EFFECT, reason=exc.message)
        return BuiltTrial(spec, leaf.key, "", result, events, time.perf_counter() - started)
    result = verify_variant(spec.name, spec.precision, artifact, cache.root, ctx.reference,
                            backend_for(ctx.backend_name), ctx.profile)
    if spec.prune > 0 and "pruning" in artifact.meta:
        result.runtime["pruned"] = {k: artifact.meta["pruning"].get(k) for k in ("ratios", "totals_after")}
    return BuiltTrial(spec, leaf.key, str(artifact.path), result, events, time.perf_counter() - started)


def measure_trial(ctx: SweepContext, built: BuiltTrial, progress: Progress | None = None) -> VariantResult:
    """Time the built artifact with the bundle's own runner in a fresh process (bench/latency.py)."""
    from edgekit.pipeline.verify import benchmark_into
    from edgekit.pruning.effect import NO_EFFECT

    result = copy.deepcopy(built.result)
    if result.status == NO_EFFECT:
        return result
    benchmark_into(result, Path(built.artifact), ctx.reference, backend_for(ctx.backend_name), ctx.profile,
                   progress or NullProgress())
    return result


def journal_key(ctx: SweepContext, built_key: str) -> str:
    """A measured trial: its artifact plus everything the verification and the timing read."""
    p = ctx.profile
    return cache_key(parent=built_key, stage="measure",
                     config={"target": dataclasses.asdict(p.target), "benchmark": dataclasses.asdict(p.benchmark),
                             "verify": dataclasses.asdict(p.verify)},
                     versions=ctx.versions, data={"eval": ctx.data_keys["eval"],
                                                  "reference": array_sha256(ctx.reference.outputs)})


def leaf_key(ctx: SweepContext, spec: TrialSpec) -> str:
    return trial_chain(ctx, spec)[-1].key
