"""Sweep logic without building models: cache keys, Pareto front, the choice, the latency bisection, config."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from edgekit.errors import PipelineError
from edgekit.report.schema import VariantResult
from edgekit.sweep.cache import StageCache, cache_key
from edgekit.sweep.config import LatencyTarget, Objective, SweepConfig, TrialSpec
from edgekit.sweep.pareto import choose, off_front_reason, pareto_front
from edgekit.sweep.search import bisect_ratio

VERSIONS = {"torch": "2.13.0", "onnxruntime": "1.31.1", "edgekit": "0.1.0"}


def key(**changes):
    args = {"parent": "p" * 64, "stage": "prune", "config": {"ratio": 0.5, "round_to": 16},
            "versions": VERSIONS, "data": {"calib": "c" * 64}, "seed": 0, **changes}
    return cache_key(**args)


def test_unchanged_stage_config_hits_the_same_key() -> None:
    assert key() == key(config={"round_to": 16, "ratio": 0.5})  # canonical: key order does not matter


@pytest.mark.parametrize("change", [
    {"config": {"ratio": 0.6, "round_to": 16}},
    {"parent": "q" * 64},
    {"versions": {**VERSIONS, "onnxruntime": "1.32.0"}},
    {"data": {"calib": "d" * 64}},
    {"seed": 1},
    {"stage": "distill"},
])
def test_any_changed_input_misses(change) -> None:
    assert key(**change) != key()


def test_run_location_settings_are_not_part_of_the_key() -> None:
    base = {"ratio": 0.5, "round_to": 16}
    assert key(config={**base, "checkpoint_dir": "/a", "resume": True}) == key(config=base)


def test_the_distillation_key_holds_the_validation_data(tmp_path) -> None:
    """Distillation keeps the epoch best on the validation split: other validation data (or another held-out
    share) is another distilled model, so another cache key."""
    from types import SimpleNamespace

    import numpy as np

    from edgekit.data import Dataset
    from edgekit.distill.config import DistillConfig
    from edgekit.stages.distill import DistillStage
    from edgekit.sweep.trials import DATA_READS, SweepContext, _step

    model = SimpleNamespace(source="pkg.mod:factory", sha256="0" * 64, kind=SimpleNamespace(value="module"),
                            output=None, task=None)
    x = np.zeros((40, 1, 8, 8), np.float32)

    def distill_key(val=None, fraction=0.1):
        cfg = DistillConfig(val_fraction=fraction)
        ctx = SweepContext(model, None, "onnxruntime", None, Dataset(x, np.zeros(40, np.int64)), Dataset(x + 1), None,
                           (1, 1, 8, 8), 0, VERSIONS, tmp_path, None, cfg, val=val)
        return _step(ctx, "distill", DistillStage(cfg, (1, 1, 8, 8)), None, DATA_READS["distill"]).key

    keys = [distill_key(), distill_key(Dataset(x + 2)), distill_key(Dataset(x + 3)), distill_key(fraction=0.2)]
    assert len(set(keys)) == 4 and distill_key(Dataset(x + 2)) == keys[1]


def test_the_chosen_output_and_task_are_in_every_key(tmp_path) -> None:
    """--output picks the compared output (it steers Taylor pruning, distillation and the export) and --task how a
    model is loaded and verified: sweeps differing only in them must not reuse each other's cache. The prune step,
    which runs before any export, is the one whose own config does not name them."""
    import numpy as np

    from edgekit.data import Dataset
    from edgekit.models import LoadedModel, ModelKind
    from edgekit.pruning.config import PruneConfig
    from edgekit.stages.prune import PruneStage
    from edgekit.sweep.trials import DATA_READS, SweepContext, _step

    x = np.zeros((8, 3, 8, 8), np.float32)

    def keys(**model_fields):
        model = LoadedModel(ModelKind.MODULE, "pkg.mod:factory", sha256="0" * 64, **model_fields)
        ctx = SweepContext(model, None, "onnxruntime", Dataset(x), Dataset(x, np.zeros(8, np.int64)), None, None,
                           (1, 3, 8, 8), 0, VERSIONS, tmp_path, PruneConfig(ratio=0.3), None)
        return ctx.input_key, _step(ctx, "prune", PruneStage(PruneConfig(ratio=0.3), (1, 3, 8, 8)), None,
                               DATA_READS["prune"]).key

    plain, logits, pooled, segmentation = (keys(), keys(output="logits"), keys(output="pooler_output"),
                                           keys(task="semantic-segmentation"))
    assert len({plain, logits, pooled, segmentation}) == 4
    assert all(len({k[i] for k in (plain, logits, pooled, segmentation)}) == 4 for i in (0, 1))
    assert keys(output="logits") == logits  # the same choice hits the same entries


def test_a_cache_entry_only_exists_once_complete(tmp_path) -> None:
    cache = StageCache(tmp_path)
    with pytest.raises(RuntimeError), cache.building("k" * 64) as tmp:
        (tmp / "model.onnx").write_text("half")
        raise RuntimeError("killed mid-build")
    assert cache.lookup("k" * 64) is None and not cache.entry("k" * 64).exists()
    with cache.building("k" * 64) as tmp:
        (tmp / "entry.json").write_text(json.dumps({"file": "model.onnx"}))
    assert cache.lookup("k" * 64) == {"file": "model.onnx"}


def variant(name, p50, acc, drop, size=1000, status="accepted", joules=None):
    return VariantResult(name=name, backend="onnxruntime", precision="int8", artifact=f"{name}.onnx", size_bytes=size,
                         status=status, latency_ms={"batch_1": {"p50": p50}}, accuracy=acc, accuracy_drop=drop,
                         energy={"joules_per_inference": joules})


def test_pareto_front_keeps_only_non_dominated_variants() -> None:
    vs = [variant("fast-bad", 1.0, 90, 9), variant("mid", 2.0, 98, 1), variant("slow-good", 4.0, 99, 0),
          variant("dominated", 3.0, 97, 2)]
    assert pareto_front(vs, Objective.LATENCY) == ["fast-bad", "mid", "slow-good"]


def test_pareto_front_is_over_accepted_variants_only_and_holds_the_choice() -> None:
    """A rejected variant (fast but over budget) is not deployable: it is neither on the front nor does it push
    the accepted variants it beats off it; the chosen variant is on the front and nothing needs explaining."""
    vs = [variant("fast-bad", 1.0, 90, 9, status="rejected"), variant("mid", 2.0, 98, 0.8),
          variant("slow-good", 4.0, 99, 0), variant("dominated", 3.0, 97.5, 1.5, status="rejected")]
    front = pareto_front(vs, Objective.LATENCY)
    assert front == ["mid", "slow-good"]
    choice = choose(vs, Objective.LATENCY, 1.0)
    assert choice.chosen == "mid" and choice.chosen in front and choice.rule == "best"
    assert off_front_reason(vs, front, choice, Objective.LATENCY) is None
    assert pareto_front([variant("only-rejected", 1.0, 50, 49, status="rejected")], Objective.SIZE) == []


def test_a_noise_band_choice_off_the_front_is_explained() -> None:
    """The tie rule picks the smaller artifact within 15% of the fastest, which the faster, more accurate one
    dominates on (latency, accuracy): the report must say why the choice is not on the front."""
    vs = [variant("fast", 1.00, 99.0, 0.0, size=5000), variant("small", 1.10, 98.5, 0.5, size=1000),
          variant("slow", 3.0, 99.5, -0.5, size=9000)]
    front = pareto_front(vs, Objective.LATENCY)
    choice = choose(vs, Objective.LATENCY, 1.0)
    assert front == ["fast", "slow"] and choice.chosen == "small" and choice.rule == "noise-band"
    note = off_front_reason(vs, front, choice, Objective.LATENCY)
    assert note.startswith("small is off the Pareto front (fast is at least as good on latency and accuracy)")
    assert "noise-band tie rule" in note and "no measurable difference from the best latency" in note
    assert off_front_reason(vs, front, choose(vs[:1], Objective.LATENCY, 1.0), Objective.LATENCY) is None


def test_the_sweep_report_shows_the_accepted_front_and_why_the_choice_is_off_it() -> None:
    from edgekit.report.schema import Report
    from edgekit.sweep.report import render_sweep_markdown, table_rows

    vs = [variant("fast", 1.00, 99.0, 0.0, size=5000), variant("small", 1.10, 98.5, 0.5, size=1000),
          variant("fast-bad", 0.5, 80.0, 19.0, status="rejected")]
    front, choice = pareto_front(vs, Objective.LATENCY), choose(vs, Objective.LATENCY, 1.0)
    sweep = {"objective": "latency", "max_accuracy_drop": 1.0, "chosen": choice.chosen, "reason": choice.reason,
             "pareto": front, "pareto_note": off_front_reason(vs, front, choice, Objective.LATENCY), "trials": []}
    report = Report("p", "onnxruntime", {}, vs, choice.chosen, choice.reason, {}, {}, sweep=sweep)
    rows = {r["variant"].strip("*"): r for r in table_rows(report)}
    assert rows["fast"]["Pareto"] == "yes" and rows["fast-bad"]["Pareto"] == "-" and rows["small"]["Pareto"] == "-"
    md = "\n".join(render_sweep_markdown(report))
    assert "rejected ones are never on it" in md and "- chosen variant off the front: small is off" in md


def test_choice_is_the_fastest_within_budget() -> None:
    vs = [variant("fast-bad", 1.0, 90, 9, status="rejected"), variant("mid", 2.0, 98, 0.8),
          variant("slow-good", 4.0, 99, 0)]
    choice = choose(vs, Objective.LATENCY, 1.0)
    assert choice.chosen == "mid" and choice.closest is None


def test_latency_ties_within_the_noise_margin_go_to_the_smaller_variant() -> None:
    vs = [variant("a", 1.00, 99, 0, size=5000), variant("b", 1.10, 99, 0, size=1000), variant("c", 2.0, 99, 0, size=10)]
    choice = choose(vs, Objective.LATENCY, 1.0)
    assert choice.chosen == "b" and "within 15%" in choice.reason


def test_latency_ties_follow_the_compress_rule_spread_included() -> None:
    """20% slower at the median is outside the 15% band, but the faster one's p90 is not below the slower one's
    p50: their bulk overlaps, so noise cannot rank them and the smaller wins, as in compress's recommend()."""
    fast, slow = variant("fast", 1.00, 99, 0, size=5000), variant("slow", 1.20, 99, 0, size=1000)
    fast.latency_ms["batch_1"]["p90"], slow.latency_ms["batch_1"]["p90"] = 1.3, 1.25
    assert choose([fast, slow], Objective.LATENCY, 1.0).chosen == "slow"
    fast.latency_ms["batch_1"]["p90"] = 1.05  # a tight spread: now measurably faster
    assert choose([fast, slow], Objective.LATENCY, 1.0).chosen == "fast"


def test_a_pruned_trial_no_faster_than_its_unpruned_twin_never_wins_latency() -> None:
    """Issue 20: in the noise band the smaller file used to win, so a pruned trial that bought no speed was chosen."""
    vs = [variant("fp32", 1.00, 99, 0, size=5000), variant("pruned-0.5-fp32", 1.05, 99, 0, size=1000)]
    for v in vs:
        v.precision = "fp32"
    assert choose(vs, Objective.LATENCY, 1.0).chosen == "fp32"
    assert choose(vs, Objective.SIZE, 1.0).chosen == "pruned-0.5-fp32"
    vs[1].latency_ms["batch_1"].update(p50=0.5, p90=0.55)  # measurably faster: it wins
    assert choose(vs, Objective.LATENCY, 1.0).chosen == "pruned-0.5-fp32"


def test_size_objective_is_exact() -> None:
    vs = [variant("a", 1.0, 99, 0, size=1000), variant("b", 1.0, 99, 0, size=1001)]
    assert choose(vs, Objective.SIZE, 1.0).chosen == "a"
    # an exact tie on size goes to the more accurate variant, the one on the front
    tie = [variant("a", 1.0, 98, 1, size=1000), variant("b", 1.0, 99, 0, size=1000)]
    assert choose(tie, Objective.SIZE, 1.0).chosen == "b" == pareto_front(tie, Objective.SIZE)[0]


def test_no_feasible_variant_names_the_closest_one() -> None:
    vs = [variant("fp32", 3.0, 97, 3.0, status="rejected"), variant("int8", 1.0, 96, 4.0, status="rejected"),
          variant("pruned-0.5-int8", 0.5, 80, 20.0, status="rejected")]
    choice = choose(vs, Objective.LATENCY, 1.0)
    assert choice.chosen is None
    assert choice.closest["name"] == "fp32" and choice.closest["over_budget"] == pytest.approx(2.0)
    assert "closest is fp32 (drop 3.00 points, 2.00 over the budget" in choice.reason


def fake_latency(ratio: float) -> tuple[float, float]:
    """A deterministic runtime: latency falls linearly with the pruning ratio, baseline 10 ms."""
    return 10.0 * (1.0 - 0.8 * ratio), 10.0


def test_bisection_finds_the_smallest_ratio_meeting_the_target() -> None:
    result = bisect_ratio(fake_latency, 0.5, max_prune=0.9, steps=8)
    assert result.met
    exact = 0.625  # 1 - 0.8 r = 0.5
    assert exact <= result.ratio <= exact + 0.9 / 2**8 + 1e-3
    assert all(t["meets"] == (t["latency_ratio"] <= 0.5) for t in result.trace)
    assert result.trace[0]["ratio"] == 0.9 and len(result.trace) <= 9


def test_bisection_reports_an_unreachable_target() -> None:
    result = bisect_ratio(fake_latency, 0.1, max_prune=0.9, steps=5)
    assert not result.met and result.ratio is None
    assert result.closest["ratio"] == 0.9 and len(result.trace) == 1


def test_bisection_uses_measurements_not_a_model(monkeypatch) -> None:
    calls = []

    def measure(ratio):
        calls.append(ratio)
        return (4.0, 10.0) if ratio >= 0.3 else (9.0, 10.0)  # a step, as channel rounding makes it

    result = bisect_ratio(measure, 0.5, max_prune=0.8, steps=6)
    assert result.met and 0.3 <= result.ratio < 0.32 and len(calls) == 7


def test_trial_grid_includes_the_original_and_shares_names() -> None:
    cfg = SweepConfig(prune_ratios=(0.5, 0.3, 0.5), precisions=("fp32", "int8"), distill=True)
    names = [t.name for t in cfg.trials()]
    assert names == ["fp32", "int8", "pruned-0.3-kd-fp32", "pruned-0.3-kd-int8", "pruned-0.5-kd-fp32",
                     "pruned-0.5-kd-int8"]
    assert TrialSpec(0.675, False, "int8").name == "pruned-0.675-int8"


@pytest.mark.parametrize("kwargs, fragment", [
    ({"prune_ratios": (1.2,)}, "ratios must be in [0, 1)"),
    ({"precisions": ("fp16",)}, "Unknown precision"),
    ({"prune_ratios": (0,), "distill": True}, "--distill trains pruned models"),
    ({"workers": 0}, "--workers"),
])
def test_bad_sweep_config_is_refused_with_the_reason(kwargs, fragment) -> None:
    with pytest.raises(PipelineError, match=fragment.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
        SweepConfig(**kwargs)


def test_bad_latency_target_is_refused() -> None:
    with pytest.raises(PipelineError, match="between 0 and 1"):
        LatencyTarget(1.5)


def test_edgekit_sweep_is_callable_and_light() -> None:
    code = ("import sys, edgekit, edgekit.sweep.config; assert callable(edgekit.sweep); "
            "print(sorted(m for m in ('torch', 'onnxruntime', 'ray', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
