"""Hardware efficiency (edgekit/efficiency.py, report/efficiency.py, bench/efficiency.py) on faked hosts: the peak
table per ISA and precision, cores, clock, the figures in report.json, report.md and the console.

Every host is a recorded /proc/cpuinfo under a fake EDGEKIT_SYSFS_ROOT (with a fake cpufreq clock), never the CPU
that runs the tests, so every verdict means the same on any machine.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgekit.bench.efficiency import artifact_ops
from edgekit.efficiency import compute_precision, cores_used, efficiency, peak, rate
from edgekit.hardware import CPUFREQ_MAX, HostFacts, detect
from edgekit.report.efficiency import efficiency_summary
from edgekit.report.markdown import render_markdown
from edgekit.report.schema import Report, VariantResult

CPUINFO = Path(__file__).parent / "data" / "cpuinfo"


def fake_host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, max_khz: int | None = 3_000_000,
              cpuinfo: str | None = None) -> HostFacts:
    """``name``'s recorded cpuinfo (or ``cpuinfo``) under a fake root, with cpufreq's highest clock ``max_khz``."""
    (tmp_path / "proc").mkdir(parents=True, exist_ok=True)
    (tmp_path / "proc" / "cpuinfo").write_text(cpuinfo or (CPUINFO / f"{name}.txt").read_text())
    if max_khz is not None:
        (tmp_path / CPUFREQ_MAX).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / CPUFREQ_MAX).write_text(f"{max_khz}\n")
    monkeypatch.setenv("EDGEKIT_SYSFS_ROOT", str(tmp_path))
    return detect()


@pytest.mark.parametrize(("name", "precision", "ops_per_cycle", "path"), [
    ("zen3-epyc-avx2", "fp32", 32, "2x 256-bit FMA"),
    ("zen3-epyc-avx2", "int8", 64, "vpmaddubsw+vpmaddwd"),  # AVX2 without VNNI: 2x FP32
    ("haswell-core-avx2", "int8", 64, "vpmaddubsw+vpmaddwd"),
    ("skylake-xeon-avx512", "fp32", 64, "2x 512-bit FMA"),
    ("skylake-xeon-avx512", "int8", 128, "vpmaddubsw+vpmaddwd"),
    ("zen4-epyc-vnni", "fp32", 32, "2x256-bit on AMD"),  # Zen 4 splits 512-bit ops
    ("zen4-epyc-vnni", "int8", 128, "vpdpbusd as 2x256-bit"),
    ("zen4-epyc-vnni", "bf16", 64, "vdpbf16ps"),
    ("alderlake-avxvnni", "int8", 128, "AVX-VNNI"),
    ("spr-xeon-amx", "fp32", 64, "2x 512-bit FMA"),
    ("spr-xeon-amx", "int8", 2048, "AMX-INT8"),  # 8x AVX-512 VNNI's 256, 32x AVX2's 64
    ("spr-xeon-amx", "bf16", 1024, "AMX-BF16"),
    ("graviton3-arm64-i8mm", "fp32", 32, "Neoverse V1"),  # 4 NEON pipes
    ("graviton3-arm64-i8mm", "int8", 256, "SMMLA"),
    ("orin-arm64-dotprod", "fp32", 16, "Cortex-A78AE"),
    ("orin-arm64-dotprod", "int8", 64, "SDOT"),
    ("orin-arm64-dotprod", "fp16", 32, "FMLA 8 half lanes"),
    ("rpi4-arm64", "int8", 32, "SMLAL"),  # no dot product: 2x FP32
])
def test_peak_ops_per_cycle_per_core_follow_the_isa(name, precision, ops_per_cycle, path, tmp_path,
                                                    monkeypatch) -> None:
    host = fake_host(tmp_path, monkeypatch, name)
    r = rate(host, precision)
    assert r is not None and r.ops_per_cycle == ops_per_cycle and path in r.path
    p = peak(host, precision, threads=1)
    assert not isinstance(p, str)
    assert p.gops == pytest.approx(ops_per_cycle * 3.0) and p.cores == 1 and p.clock_ghz == 3.0
    assert f"{ops_per_cycle:g} ops/cycle/core" in p.basis and "cpuinfo_max_freq (the highest clock)" in p.basis


def test_int8_peaks_rank_as_the_instructions_do(tmp_path, monkeypatch) -> None:
    """VNNI is 4x AVX2's INT8 per cycle (one vpdpbusd zmm vs the 3-instruction ymm sequence), AMX 8x VNNI."""
    avx2 = rate(fake_host(tmp_path / "a", monkeypatch, "zen3-epyc-avx2"), "int8")
    ice_lake = HostFacts("x86_64", "Intel Xeon (Ice Lake-SP)", ("avx2", "fma", "avx512f", "avx512_vnni"), 2, "test",
                         vendor="GenuineIntel")
    vnni = rate(ice_lake, "int8")
    amx = rate(fake_host(tmp_path / "c", monkeypatch, "spr-xeon-amx"), "int8")
    assert avx2 and vnni and amx
    assert vnni.ops_per_cycle == 4 * avx2.ops_per_cycle and amx.ops_per_cycle == 8 * vnni.ops_per_cycle


def test_no_path_or_no_clock_is_said_not_guessed(tmp_path, monkeypatch) -> None:
    zen3 = fake_host(tmp_path, monkeypatch, "zen3-epyc-avx2")
    assert rate(zen3, "bf16") is None and "no bf16 arithmetic path" in str(peak(zen3, "bf16"))
    unclocked = fake_host(tmp_path / "x", monkeypatch, "rpi4-arm64", max_khz=None)  # no cpufreq, no cpu MHz
    assert unclocked.clock_mhz is None and "clock" in str(peak(unclocked, "fp32"))
    e = efficiency(1000, {"batch_1": 10.0}, "fp32", unclocked)
    assert e["share_of_peak"] is None and e["peak_gops"] is None and "clock" in e["peak_basis"]
    assert e["gops"] == pytest.approx(2000 * 10 / 1e9)  # what was measured is still reported


def test_cores_are_the_runner_threads_capped_by_physical_cores(tmp_path, monkeypatch) -> None:
    # 4 logical CPUs, 2 physical cores (SMT siblings share core ids), cpuinfo's clock only (no cpufreq)
    smt = "".join(f"processor\t: {i}\nvendor_id\t: GenuineIntel\nmodel name\t: Intel Core\ncpu MHz\t\t: 2500.000\n"
                  f"physical id\t: 0\ncore id\t\t: {i % 2}\nflags\t\t: sse4_2 avx avx2 fma\n\n" for i in range(4))
    host = fake_host(tmp_path, monkeypatch, "", max_khz=None, cpuinfo=smt)
    assert host.logical_cpus == 4 and host.physical_cores == 2 and host.clock_mhz == 2500.0
    assert [cores_used(host, t) for t in (0, 1, 2, 4)] == [2, 1, 2, 2]
    p = peak(host, "fp32", threads=4)
    assert not isinstance(p, str) and p.gops == pytest.approx(32 * 2 * 2.5)
    assert "'cpu MHz'" in p.basis and "capped by the physical cores" in p.basis


def test_efficiency_takes_the_best_batch_and_the_precision_that_computes(tmp_path, monkeypatch) -> None:
    zen3 = fake_host(tmp_path, monkeypatch, "zen3-epyc-avx2", max_khz=2_445_000)
    macs = 1_814_000_000  # ResNet-18 at 224x224
    e = efficiency(macs, {"batch_1": 40.0, "batch_8": 50.6, "batch_16": 49.0}, "int8", zen3, threads=2)
    assert e["ops_per_inference"] == 2 * macs and e["best_batch"] == 8
    assert e["gops"] == pytest.approx(2 * macs * 50.6 / 1e9)
    assert e["peak_gops"] == pytest.approx(64 * 2 * 2.445) and e["share_of_peak"] == pytest.approx(e["gops"] / e["peak_gops"])
    assert round(e["share_of_peak"], 2) == 0.59  # the figure: 183.5 GOP/s of a 313 GOP/s AVX2 INT8 peak
    assert e["note"] is None
    faster = efficiency(macs, {"batch_8": 100.0}, "int8", zen3, threads=2)  # 363 GOP/s: the cores boosted
    assert faster["share_of_peak"] > 1 and "above the derived peak" in faster["note"]
    spr = fake_host(tmp_path / "spr", monkeypatch, "spr-xeon-amx")
    assert compute_precision("fp32", {"precision": "bf16"}) == "bf16"  # OpenVINO ran the FP32 IR in bf16
    assert efficiency(macs, {"batch_1": 1.0}, "fp32", spr, runtime={"precision": "bf16"})["peak_gops"] \
        == pytest.approx(1024 * 2 * 3.0)


def _report(zen3: HostFacts) -> Report:
    def variant(name: str, precision: str, tput: dict[str, float] | None) -> VariantResult:
        v = VariantResult(name, "openvino", precision, f"stages/{name}/model.xml", 100, throughput_by_batch=tput or {})
        v.efficiency = efficiency(1_814_000_000, tput, precision, zen3, threads=2) if tput else None
        return v

    variants = [variant("fp32", "fp32", {"batch_1": 20.0, "batch_8": 22.7}),
                variant("int8", "int8", {"batch_1": 40.0, "batch_8": 50.6}), variant("fp16", "fp16", None)]
    return Report("cpu-openvino", "openvino", {"source": "resnet18.onnx", "macs": 1_814_000_000}, variants, "int8",
                  "fastest", {"runtime": "torch", "accuracy": None, "samples": 8}, {},
                  host=zen3.to_dict(), target_isa="host")


def test_report_md_and_console_show_gops_and_share_of_peak(tmp_path, monkeypatch) -> None:
    zen3 = fake_host(tmp_path, monkeypatch, "zen3-epyc-avx2", max_khz=2_445_000)
    report = _report(zen3)
    md = render_markdown(report)
    section = md.split("## Hardware efficiency", 1)[1].split("\n## ", 1)[0]
    assert "| int8 | int8 (int8) | 3.63 G | 8 | 183.6 | 313.0 | 59% |" in section
    assert "| fp32 | fp32 (fp32) | 3.63 G | 8 | 82.4 | 156.5 | 53% |" in section
    assert "fp16" not in section  # not timed here: no row
    assert "- INT8 peak 313.0 GOP/s = 64 ops/cycle/core" in section and "- FP32 peak 156.5 GOP/s" in section
    assert "above the derived peak" not in section
    summary = " ".join(efficiency_summary(report))
    assert "int8: 183.6 GOP/s at batch 8 = 59% of the INT8 peak (313.0 GOP/s)" in summary
    assert "183.6 GOP/s" in report.summary()
    back = Report.from_dict(json.loads(json.dumps(report.to_dict())))  # report.json round trip
    assert back.variant("int8").efficiency == report.variant("int8").efficiency
    assert "efficiency" not in report.to_dict()  # stored per variant, not twice
    report.variant("int8").efficiency = efficiency(1_814_000_000, {"batch_8": 100.0}, "int8", zen3, threads=2)
    assert "- int8: measured above the derived peak" in render_markdown(report)  # said, not shown as 116% alone
    report.variants = [VariantResult("fp32", "openvino", "fp32", "m.xml", 1)]
    assert "## Hardware efficiency" not in render_markdown(report) and efficiency_summary(report) == []


def test_an_ir_in_a_bundle_takes_its_count_from_report_json(tmp_path) -> None:
    bundle = tmp_path / "bundle"
    (bundle / "stages" / "03-quantize-int8").mkdir(parents=True)
    (bundle / "deploy").mkdir()
    for path in ("stages/03-quantize-int8/model.xml", "deploy/model.xml"):
        (bundle / path).write_text("<net/>")
    (bundle / "manifest.json").write_text(json.dumps({"files": {}}))
    variant = {"name": "int8", "precision": "int8", "artifact": "stages/03-quantize-int8/model.xml",
               "efficiency": {"ops_per_inference": 3_628_000_000}}
    (bundle / "report.json").write_text(json.dumps({"recommended": "int8", "variants": [variant]}))
    assert artifact_ops(bundle / "stages/03-quantize-int8/model.xml") == (1_814_000_000, "int8")
    assert artifact_ops(bundle / "deploy/model.xml") == (1_814_000_000, "int8")  # the recommended variant's copy
    (tmp_path / "loose.xml").write_text("<net/>")
    assert "counted on the ONNX it was compiled from" in str(artifact_ops(tmp_path / "loose.xml"))
