"""deploy/run_onnxruntime.py: the standalone runner shipped in bundles and used to time artifacts."""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from edgekit.deploy import DEPLOY_DIR
from edgekit.deploy import run_onnxruntime as runner

SCRIPT = DEPLOY_DIR / "run_onnxruntime.py"


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class FakeSession:
    """Looks like an onnxruntime.InferenceSession; each run advances the fake clock by a set latency."""

    def __init__(self, clock: FakeClock, latencies_s: list[float], shape=("batch", 3)) -> None:
        self.clock = clock
        self.latencies = list(latencies_s)
        self.feeds: list[dict] = []
        self.shape = list(shape)

    def get_inputs(self):
        return [SimpleNamespace(name="input", shape=self.shape, type="tensor(float)")]

    def run(self, outputs, feed):
        self.feeds.append(feed)
        self.clock.now += self.latencies.pop(0) if self.latencies else 0.0
        x = feed["input"]
        return [x.reshape(x.shape[0], -1).sum(axis=1, keepdims=True)]


def run_script(*args: str, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=cwd, timeout=timeout)


# --- pure functions ------------------------------------------------------------------------

def test_summarize_known_values():
    stats = runner.summarize([i / 1000.0 for i in range(1, 101)])  # 1..100 ms
    assert stats["iterations"] == 100
    assert stats["min"] == pytest.approx(1.0)
    assert stats["mean"] == pytest.approx(50.5)
    assert stats["p50"] == pytest.approx(50.5)
    assert stats["p90"] == pytest.approx(90.1)
    assert stats["p99"] == pytest.approx(99.01)
    assert stats["std"] == pytest.approx(float(np.std(np.arange(1, 101))))


def test_summarize_single_value():
    stats = runner.summarize([0.002])
    assert stats["p50"] == stats["p99"] == stats["mean"] == stats["min"] == pytest.approx(2.0)
    assert stats["std"] == 0.0


def test_time_session_with_fake_clock_is_exact():
    clock = FakeClock()
    warm = [0.5, 0.5]  # warm-up runs are slow and must not be timed
    timed = [0.001, 0.002, 0.003, 0.004, 0.010]
    session = FakeSession(clock, warm + timed)
    events = []
    stats = runner.time_session(session, np.ones((2, 3), np.float32), warmup=2, iterations=5,
                                on_progress=lambda *e: events.append(e), clock=clock)
    assert len(session.feeds) == 7
    assert stats["iterations"] == 5
    assert stats["min"] == pytest.approx(1.0)
    assert stats["p50"] == pytest.approx(3.0)
    assert stats["mean"] == pytest.approx(4.0)
    assert stats["p90"] == pytest.approx(np.percentile([1, 2, 3, 4, 10], 90))
    assert events == [("warmup", 1, 2), ("warmup", 2, 2), ("timed", 5, 5)]


def test_time_session_progress_every_ten():
    clock = FakeClock()
    events = []
    runner.time_session(FakeSession(clock, [0.001] * 25), np.ones((1, 3), np.float32), warmup=0, iterations=25,
                        on_progress=lambda *e: events.append(e), clock=clock)
    assert events == [("timed", 10, 25), ("timed", 20, 25), ("timed", 25, 25)]


def test_make_batch_tiles_and_truncates():
    x = np.arange(3, dtype=np.float32)[:, None] * np.ones((1, 2), np.float32)
    batch = runner.make_batch(x, 8)
    assert batch.shape == (8, 2) and batch.flags["C_CONTIGUOUS"]
    np.testing.assert_array_equal(batch[:, 0], [0, 1, 2, 0, 1, 2, 0, 1])
    np.testing.assert_array_equal(runner.make_batch(x, 2)[:, 0], [0, 1])
    np.testing.assert_array_equal(runner.make_batch(x, 3), x)
    np.testing.assert_array_equal(runner.make_batch(x[:1], 4)[:, 0], [0, 0, 0, 0])


def test_parity_function():
    ref = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
    p = runner.parity(ref, ref)
    assert p == {"max_abs": 0.0, "cosine": pytest.approx(1.0), "top1_agreement": 1.0}
    p = runner.parity(np.array([[0.0, 1.0], [0.0, 1.0]], np.float32), ref)
    assert p["top1_agreement"] == 0.5 and p["max_abs"] == 1.0


def test_input_shape_and_fixed_batch_from_session():
    clock = FakeClock()
    dynamic = FakeSession(clock, [], shape=("batch", 3, "h", 5))
    assert runner.fixed_batch(dynamic) is None
    assert runner.input_specs(dynamic) == [("input", [None, 3, None, 5], np.dtype("float32"))]
    assert runner.fixed_batch(FakeSession(clock, [], shape=(4, 3))) == 4


def test_run_batched_chunks_a_dynamic_model():
    session = FakeSession(FakeClock(), [])
    x = np.arange(10 * 3, dtype=np.float32).reshape(10, 3)
    out = runner.run_batched(session, x, batch_size=4)
    assert [f["input"].shape[0] for f in session.feeds] == [4, 4, 2]
    np.testing.assert_allclose(out[:, 0], x.sum(axis=1))


# --- on real ONNX models -------------------------------------------------------------------

@pytest.fixture(scope="module")
def fixed_batch_onnx(tmp_path_factory, digits_model) -> Path:
    import torch

    path = tmp_path_factory.mktemp("fixed") / "digits_b4.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the legacy exporter is the point here
        torch.onnx.export(digits_model, (torch.zeros(4, 1, 8, 8),), str(path), dynamo=False, opset_version=17,
                          input_names=["input"], output_names=["output"])
    return path


def test_run_batched_pads_to_a_fixed_batch(fixed_batch_onnx, digits_onnx, digits_model, eval_arrays):
    import torch

    x = eval_arrays[0][:10]
    session = runner.make_session(fixed_batch_onnx, threads=1)
    assert runner.fixed_batch(session) == 4
    out = runner.run_batched(session, x, batch_size=32)  # the model's batch wins over batch_size
    assert out.shape == (10, 10)
    dynamic = runner.make_session(digits_onnx, threads=1)
    per_sample = np.concatenate([runner.run_batched(dynamic, x[i:i + 1]) for i in range(10)])
    np.testing.assert_allclose(out, per_sample, rtol=1e-4, atol=1e-5)
    with torch.no_grad():
        np.testing.assert_allclose(out, digits_model(torch.from_numpy(x)).numpy(), rtol=1e-4, atol=1e-4)
    # fewer samples than the fixed batch: padded, then cut back
    np.testing.assert_allclose(runner.run_batched(session, x[:1]), per_sample[:1], rtol=1e-4, atol=1e-5)


def test_optimized_model_path_is_written(digits_onnx, tmp_path):
    target = tmp_path / "opt.onnx"
    runner.make_session(digits_onnx, threads=1, optimization="basic", optimized_model_path=target)
    assert target.stat().st_size > 0


def _imported_roots(path):
    roots = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            # the only relative import allowed is the sibling shipped with it (with a plain fallback)
            assert node.level == 0 or [a.name for a in node.names] == ["runner_common"]
            roots.add(node.module.split(".")[0] if node.module else "runner_common")
    return {r for r in roots if r not in sys.stdlib_module_names}


def test_script_imports_only_stdlib_numpy_onnxruntime():
    assert _imported_roots(SCRIPT) == {"onnxruntime", "runner_common"}
    assert _imported_roots(SCRIPT.parent / "runner_common.py") == {"numpy"}


def test_script_runs_standalone_on_a_real_model(digits_onnx, digits_model, eval_arrays, tmp_path):
    import torch

    x = eval_arrays[0][:16]
    with torch.no_grad():
        ref = digits_model(torch.from_numpy(x)).numpy()
    inputs, out = tmp_path / "in.npz", tmp_path / "result.json"
    np.savez(inputs, x=x, ref=ref)
    proc = run_script(str(SCRIPT), "--model", str(digits_onnx), "--input", str(inputs), "--json", str(out),
                      "--batch-sizes", "1,4", "--warmup", "2", "--iterations", "15", "--threads", "1",
                      "--progress-jsonl")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    assert set(result["latency_ms"]) == {"batch_1", "batch_4"}
    for key, batch in (("batch_1", 1), ("batch_4", 4)):
        stats = result["latency_ms"][key]
        assert stats["iterations"] == 15
        assert 0 < stats["min"] <= stats["p50"] <= stats["p90"] <= stats["p99"]
        assert result["throughput_per_s"][key] == pytest.approx(batch * 1000.0 / stats["p50"])  # at the p50
        assert "unstable" in stats and (stats["others_cpu_load"] is None or 0 <= stats["others_cpu_load"] <= 1)
    assert 0 < result["peak_rss_bytes"] < 2**30
    assert result["load_s"] > 0
    assert result["input"] == str(inputs)
    assert result["outputs"]["shape"] == [16, 10]
    assert result["outputs"]["top1"] == ref.argmax(1)[:8].tolist()
    parity = result["parity_vs_reference"]
    assert parity["top1_agreement"] == 1.0 and parity["max_abs"] < 1e-3
    events = [json.loads(line) for line in proc.stderr.splitlines()]
    assert {"phase": "timed", "done": 15, "total": 15, "batch_size": 4} in events
    assert {"phase": "warmup", "done": 2, "total": 2, "batch_size": 1} in events


def test_script_copied_into_a_bundle_uses_its_neighbours(digits_onnx, eval_arrays, tmp_path):
    bundle = tmp_path / "deploy"
    bundle.mkdir()
    shutil.copy2(SCRIPT, bundle / "run.py")
    shutil.copy2(SCRIPT.parent / "runner_common.py", bundle / "runner_common.py")
    shutil.copy2(digits_onnx, bundle / "model.onnx")
    np.savez(bundle / "sample.npz", x=eval_arrays[0][:3])
    proc = run_script("-I", "run.py", "--warmup", "1", "--iterations", "3", cwd=bundle)
    assert proc.returncode == 0, proc.stderr
    assert "sample.npz" in proc.stdout and "peak RSS" in proc.stdout
    assert "p50 ms" in proc.stdout


def test_script_skips_batch_sizes_a_fixed_model_cannot_take(fixed_batch_onnx, tmp_path):
    out = tmp_path / "r.json"
    proc = run_script(str(SCRIPT), "--model", str(fixed_batch_onnx), "--random", "--json", str(out),
                      "--batch-sizes", "1,4,8", "--warmup", "1", "--iterations", "3")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    assert list(result["latency_ms"]) == ["batch_4"]
    assert result["skipped_batch_sizes"] == [1, 8]
    assert result["input"] == "random normal"


# BUG: _load_inputs falls back to random inputs when --input names a file that does not exist
# (`path and Path(path).exists()`), so `run.py --input typo.npz` exits 0 and reports timings and
# outputs on random data ("input": "random normal") instead of failing.

def test_script_fails_on_a_missing_input_file(digits_onnx, tmp_path):
    out = tmp_path / "r.json"
    proc = run_script(str(SCRIPT), "--model", str(digits_onnx), "--input", str(tmp_path / "typo.npz"),
                      "--json", str(out), "--warmup", "1", "--iterations", "2")
    assert proc.returncode != 0
    assert not out.exists()


# --- named (multi-input) feeds ------------------------------------------------------------

def test_feed_helpers_keep_named_inputs_aligned():
    x = {"input_ids": np.arange(6).reshape(3, 2), "attention_mask": np.ones((3, 2), np.int32)}
    assert runner.common.count(x) == 3
    batch = runner.make_batch(x, 5)
    np.testing.assert_array_equal(batch["input_ids"][:, 0], [0, 2, 4, 0, 2])
    assert batch["attention_mask"].shape == (5, 2)
    specs = [("input_ids", [None, None], np.dtype("int64")), ("attention_mask", [None, None], np.dtype("int64"))]
    feed = runner.common.as_feed(x, specs)
    assert {k: v.dtype for k, v in feed.items()} == {"input_ids": np.int64, "attention_mask": np.int64}
    with pytest.raises(SystemExit, match="token_type_ids are not in the data"):
        runner.common.as_feed(x, specs + [("token_type_ids", [None, None], np.dtype("int64"))])
    with pytest.raises(SystemExit, match="the model has 2 inputs"):
        runner.common.as_feed(np.zeros((3, 2)), specs)
    rand = runner.common.random_feed(specs, 4)
    assert rand["input_ids"].shape == (4, 1) and rand["attention_mask"].min() == 1 and rand["input_ids"].max() == 0


def test_run_in_chunks_pads_every_named_input_to_a_fixed_batch():
    seen = []

    def run_chunk(chunk):
        seen.append({k: v.shape[0] for k, v in chunk.items()})
        return chunk["a"] + chunk["b"]

    x = {"a": np.arange(5.0)[:, None], "b": np.ones((5, 1))}
    out = runner.common.run_in_chunks(run_chunk, x, fixed=4)
    assert seen == [{"a": 4, "b": 4}, {"a": 4, "b": 4}]
    np.testing.assert_allclose(out[:, 0], np.arange(5.0) + 1)
