"""Sweeps on the real digits CNN with the fast profile: cache reuse, changed configs, resume, budget, Ray."""

from __future__ import annotations

import json

import pytest

import edgekit
from edgekit.sweep import trials as sweep_trials
from edgekit.sweep.config import LatencyTarget, SweepConfig
from htmlcheck import check_page, tables

RATIOS = (0.5,)


def run(demo_assets, fast_profile, out, cache, *, calib_data=None, max_accuracy_drop=None, **config):
    cfg = SweepConfig(**{"prune_ratios": RATIOS, "objective": "size", "cache_dir": cache, **config})
    options = edgekit.RunOptions(weights=demo_assets.weights, max_accuracy_drop=max_accuracy_drop)
    return edgekit.sweep("edgekit.demo:digits_cnn", fast_profile, calib_data=calib_data or str(demo_assets.calib),
                         eval_data=str(demo_assets.eval), out_dir=out, config=cfg, options=options)


@pytest.fixture(scope="module")
def first(demo_assets, fast_profile, tmp_path_factory):
    root = tmp_path_factory.mktemp("sweep")
    report = run(demo_assets, fast_profile, root / "out", root / "cache")
    return root, report


def test_sweep_builds_measures_and_chooses(first) -> None:
    root, report = first
    s = report.sweep
    assert [t["name"] for t in s["trials"]] == ["fp32", "int8", "pruned-0.5-fp32", "pruned-0.5-int8"]
    assert all(v.latency_ms and v.accuracy is not None for v in report.variants)
    assert report.recommended == s["chosen"] and s["chosen"] in s["pareto"]
    chosen = report.variant(report.recommended)
    assert chosen.size_bytes == min(v.size_bytes for v in report.variants if v.status == "accepted")
    # the int8 variants reuse their fp32 twin's export: shared prefixes are not rebuilt
    assert s["cache"]["hits"] == 2 and s["cache"]["misses"] == 5
    out = root / "out"
    assert (out / "deploy" / "model.onnx").is_file() and (out / chosen.artifact).is_file()
    assert {"latency", "accuracy_vs_latency", "size"} <= set(s["plots"]) and (out / s["plots"]["size"]).is_file()
    assert s["plots"] == report.plots  # the sweep renders its page as compress does (report/html.py)
    assert "the dashed step are the Pareto front" in report.plot_captions["accuracy_vs_latency"]
    doc = check_page(out, [v.name for v in report.variants])
    sweep_table = next(rows for header, rows in tables(doc) if header[:2] == ["variant", "prune"])
    assert sorted(r[0] for r in sweep_table) == sorted(v.name for v in report.variants)
    md = (out / "report.md").read_text()
    assert "## Sweep" in md and "| variant | prune |" in md and "![Artifact size per variant](plots/size.png)" in md
    assert json.loads((out / "report.json").read_text())["sweep"]["chosen"] == report.recommended


def test_second_run_hits_every_stage_and_chooses_the_same(first, demo_assets, fast_profile, tmp_path) -> None:
    root, report = first
    again = run(demo_assets, fast_profile, tmp_path / "out", root / "cache")
    assert again.sweep["cache"]["misses"] == 0 and again.sweep["cache"]["hits"] == 4
    assert again.recommended == report.recommended


def test_a_changed_stage_config_misses_only_from_that_stage(first, demo_assets, fast_profile, tmp_path) -> None:
    root, _ = first
    profile = edgekit.load_profile(fast_profile).replace_section("quantize", per_channel=False)
    report = run(demo_assets, profile, tmp_path / "out", root / "cache")
    by_stage = report.sweep["cache"]["by_stage"]  # stage -> [hits, misses]
    assert by_stage["quantize"] == [0, 2]  # both INT8 variants re-quantized
    assert by_stage["export"][1] == 0 and "prune" not in by_stage  # export hits; the pruned export hit stops the walk


def test_interrupted_sweep_resumes_with_the_same_choice(first, demo_assets, fast_profile, tmp_path, monkeypatch) -> None:
    _, uninterrupted = first
    real = sweep_trials.measure_trial
    calls = []

    def flaky(ctx, built, progress=None):
        calls.append(built.spec.name)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(ctx, built, progress)

    monkeypatch.setattr(sweep_trials, "measure_trial", flaky)
    with pytest.raises(KeyboardInterrupt):
        run(demo_assets, fast_profile, tmp_path / "out", tmp_path / "cache")
    assert not (tmp_path / "out").exists()  # nothing half-written
    monkeypatch.setattr(sweep_trials, "measure_trial", real)
    resumed = run(demo_assets, fast_profile, tmp_path / "out", tmp_path / "cache", resume=True)
    assert resumed.sweep["cache"]["trials_from_journal"] == 2
    assert [t["from_journal"] for t in resumed.sweep["trials"]] == [True, True, False, False]
    assert resumed.recommended == uninterrupted.recommended
    sizes = {v.name: v.size_bytes for v in resumed.variants}
    assert sizes == {v.name: v.size_bytes for v in uninterrupted.variants}


def dim_calibration(demo_assets, tmp_path):
    """Calibration at 5% of the real input scale: every INT8 variant clips real inputs and breaks the budget
    (a budget below 0 would do it too, and is refused: it would reject FP32 itself)."""
    import numpy as np

    with np.load(demo_assets.calib) as c:
        np.savez(tmp_path / "dim.npz", x=c["x"] * 0.05, y=c["y"])
    return str(tmp_path / "dim.npz")


def test_no_variant_within_budget_names_the_closest(first, demo_assets, fast_profile, tmp_path) -> None:
    report = run(demo_assets, fast_profile, tmp_path / "out", tmp_path / "cache", max_accuracy_drop=0.5,
                 precisions=("int8",), calib_data=dim_calibration(demo_assets, tmp_path))
    assert report.recommended is None
    closest = report.sweep["closest"]
    assert closest["name"] in {v.name for v in report.variants}
    assert closest["accuracy_drop"] == min(v.accuracy_drop for v in report.variants)
    assert f"the closest is {closest['name']}" in report.recommended_reason
    assert not (tmp_path / "out" / "deploy" / "model.onnx").exists() and (tmp_path / "out" / "report.html").exists()


def test_latency_targeted_pruning_records_its_search(first, demo_assets, fast_profile, tmp_path) -> None:
    root, _ = first
    report = run(demo_assets, fast_profile, tmp_path / "out", root / "cache", prune_ratios=(), precisions=("fp32",),
                 latency_target=LatencyTarget(0.9, steps=1, max_prune=0.6))
    search = report.sweep["latency_search"]
    assert search["trace"][0]["ratio"] == 0.6 and len(search["trace"]) in (1, 2)
    expected = search["ratio"] if search["met"] else 0.6
    assert f"pruned-{expected:g}-fp32" in {t["name"] for t in report.sweep["trials"]}
    assert all(t["baseline_p50_ms"] > 0 for t in search["trace"])


def test_ray_executor_chooses_like_the_local_one(first, demo_assets, fast_profile, tmp_path) -> None:
    pytest.importorskip("ray", reason="ray is not installed (pip install 'edgekit[ray]'); CI installs it via [dev]")
    _, local = first
    report = run(demo_assets, fast_profile, tmp_path / "out", tmp_path / "cache", executor="ray", workers=2)
    assert report.sweep["executor"]["kind"] == "ray"
    assert "holding all" in report.sweep["executor"]["measurement"]
    assert report.recommended == local.recommended
    assert {v.name: (v.status, v.size_bytes) for v in report.variants} == \
        {v.name: (v.status, v.size_bytes) for v in local.variants}
    assert report.sweep["cache"]["misses"] >= 5  # built in the Ray workers, into a fresh cache
