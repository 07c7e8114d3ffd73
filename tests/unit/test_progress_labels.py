"""Progress bars name the variant or trial and the step, never a cache folder's hash (issue 16 item 9)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from edgekit.bench import latency
from edgekit.pipeline import verify
from edgekit.profile import load_profile
from edgekit.report.schema import VariantResult


class Recorder:
    def __init__(self) -> None:
        self.started: list[str] = []

    def start(self, key: str, description: str, total: int | None = None) -> None:
        self.started.append(description)

    def update(self, *args: object, **kwargs: object) -> None:
        pass

    def finish(self, key: str) -> None:
        pass


def test_the_benchmark_bar_names_the_variant_not_the_cache_folder(monkeypatch, tmp_path: Path) -> None:
    def no_runner(*args: object, **kwargs: object) -> None:
        raise RuntimeError("not run")

    monkeypatch.setattr(latency.subprocess, "Popen", no_runner)
    settings = latency.BenchSettings((1,), 1, 1)
    model = tmp_path / "3f9a2c71d0e4b5a6" / "model.onnx"  # a sweep cache entry
    bar = Recorder()
    with pytest.raises(RuntimeError):
        latency.run_benchmark("onnxruntime", model, None, settings, progress=bar, label="p0.3-int8")
    with pytest.raises(RuntimeError):
        latency.run_benchmark("onnxruntime", model, None, settings, progress=bar)
    assert bar.started == ["benchmark p0.3-int8", "benchmark 3f9a2c71d0e4b5a6/model.onnx"]


def test_every_benchmark_is_labelled_with_its_variant(monkeypatch) -> None:
    seen = {}

    def fake_benchmark(*args: object, **kwargs: object) -> dict:
        seen.update(kwargs)
        return {"latency_ms": {}, "throughput_per_s": {}}

    monkeypatch.setattr(verify, "run_benchmark", fake_benchmark)
    result = VariantResult(name="p0.3-int8", backend="onnxruntime", precision="int8", artifact="", size_bytes=0)
    reference = SimpleNamespace(inputs=SimpleNamespace(head=lambda n: None))
    verify.benchmark_into(result, Path("cache/3f9a/model.onnx"), reference, SimpleNamespace(name="onnxruntime"),
                          load_profile("cpu-onnxruntime"), Recorder())
    assert seen["label"] == "p0.3-int8" and seen["key"] == "bench-p0.3-int8"
