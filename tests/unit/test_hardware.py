"""Host ISA facts and the INT8 choices made from them, on the recorded /proc/cpuinfo of machines we are not on.

Every verdict here comes from a fake cpuinfo file, never from the CPU that runs the tests, so the suite
means the same on an AVX2-only host and on an AVX-512 VNNI one.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from edgekit.backends.int8 import LADDERS, RECIPES, check_mode, plan_recipes
from edgekit.hardware import TARGET_ISAS, detect, mismatch_warning, parse_cpuinfo, target_matches
from edgekit.profile import builtin_profile_names, default_profile_name, load_profile

CPUINFO = Path(__file__).parent / "data" / "cpuinfo"


def host(name: str):
    return parse_cpuinfo((CPUINFO / f"{name}.txt").read_text(), source=name)


@pytest.mark.parametrize(("name", "isa", "saturates"), [
    ("zen3-epyc-avx2", "x86-avx2", True),
    ("haswell-core-avx2", "x86-avx2", True),
    ("skylake-xeon-avx512", "x86-avx512", True),
    ("zen4-epyc-vnni", "x86-vnni", False),
    ("alderlake-avxvnni", "x86-vnni", False),
    ("spr-xeon-amx", "x86-amx", False),
    ("graviton3-arm64-i8mm", "arm64-i8mm", False),
    ("orin-arm64-dotprod", "arm64-dotprod", False),
    ("rpi4-arm64", "arm64", False),
])
def test_isa_class_of_recorded_cpus(name: str, isa: str, saturates: bool) -> None:
    facts = host(name)
    assert facts.isa == isa and facts.u8s8_saturates is saturates
    assert facts.logical_cpus >= 1 and facts.cpu_model != "unknown"
    assert facts.to_dict()["isa"] == isa and set(facts.flags) <= set(facts.to_dict()["flags"])


def test_detect_reads_cpuinfo_under_the_fake_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc" / "cpuinfo").write_text((CPUINFO / "spr-xeon-amx.txt").read_text())
    monkeypatch.setenv("EDGEKIT_SYSFS_ROOT", str(tmp_path))
    facts = detect()
    assert facts.isa == "x86-amx" and "amx_int8" in facts.flags and facts.source.endswith("proc/cpuinfo")
    monkeypatch.setenv("EDGEKIT_SYSFS_ROOT", str(tmp_path / "nowhere"))
    assert "unreadable" in detect().source  # no cpuinfo: facts say so instead of guessing


@pytest.mark.parametrize(("name", "profile"), [
    ("zen3-epyc-avx2", "cpu-onnxruntime"), ("skylake-xeon-avx512", "cpu-onnxruntime"),
    ("zen4-epyc-vnni", "cpu-onnxruntime-vnni"), ("spr-xeon-amx", "cpu-onnxruntime-vnni"),
    ("alderlake-avxvnni", "cpu-onnxruntime-vnni"), ("rpi4-arm64", "arm64-onnxruntime"),
    ("graviton3-arm64-i8mm", "arm64-onnxruntime"),
])
def test_default_profile_matches_the_host(name: str, profile: str) -> None:
    chosen = default_profile_name(host(name))
    assert chosen == profile and chosen in builtin_profile_names()
    assert target_matches(load_profile(chosen).target.isa, host(name))


@pytest.mark.parametrize(("target", "name", "first"), [
    ("x86-vnni", "zen3-epyc-avx2", "u8s8"),  # the target decides, not the build host
    ("x86-avx2", "zen4-epyc-vnni", "u8s8-rr"),
    ("x86-64", "zen4-epyc-vnni", "u8s8-rr"),  # portable: must not saturate on CPUs without VNNI
    ("host", "zen3-epyc-avx2", "u8s8-rr"),
    ("host", "zen4-epyc-vnni", "u8s8"),
    ("host", "spr-xeon-amx", "u8s8"),
    ("host", "skylake-xeon-avx512", "u8s8-rr"),
    ("arm64", "zen3-epyc-avx2", "u8s8"),
    ("cuda", "zen3-epyc-avx2", "s8s8"),
])
def test_recipe_follows_the_target_isa(target: str, name: str, first: str) -> None:
    plan = plan_recipes("auto", target, host(name))
    assert plan.ladder[0].name == first and plan.why
    # no candidate for a CPU without VNNI may saturate there
    if plan.isa in ("x86-avx2", "x86-avx512", "x86-64"):
        assert not any(r.saturates_without_vnni for r in plan.ladder)


def test_an_explicit_recipe_is_the_only_candidate() -> None:
    plan = plan_recipes("u8u8", "x86-vnni", host("zen4-epyc-vnni"))
    assert [r.name for r in plan.ladder] == ["u8u8"] and "explicitly" in plan.why


def test_every_ladder_names_real_recipes_and_every_target_has_one() -> None:
    assert {n for ladder in LADDERS.values() for n in ladder} <= set(RECIPES)
    assert set(TARGET_ISAS) - {"host"} <= set(LADDERS)


@pytest.mark.parametrize(("recipe", "target", "name", "emulated", "warns"), [
    ("u8s8", "x86-vnni", "zen3-epyc-avx2", True, False),  # this host would saturate, the target does not
    ("u8s8", "x86-vnni", "zen4-epyc-vnni", False, False),
    ("u8s8-rr", "x86-64", "zen3-epyc-avx2", False, False),
    ("u8u8", "x86-vnni", "zen3-epyc-avx2", False, False),
    ("s8s8", "cuda", "zen4-epyc-vnni", True, False),  # TensorRT: always the emulated math
    ("s8s8", "cuda", "zen3-epyc-avx2", True, False),
    ("u8s8", "x86-avx2", "zen4-epyc-vnni", False, True),  # the target saturates and this host cannot show it
    ("u8s8", "arm64", "zen3-epyc-avx2", True, False),
])
def test_check_mode(recipe: str, target: str, name: str, emulated: bool, warns: bool) -> None:
    mode = check_mode(RECIPES[recipe], target, host(name))
    assert mode.emulated is emulated and bool(mode.warning) is warns
    assert mode.to_dict()["mode"] == ("QDQ emulated in float" if emulated else "integer kernels of this host")


def test_mismatch_is_said_only_when_the_host_is_not_the_target() -> None:
    assert mismatch_warning("x86-openvino", "x86-vnni", host("zen4-epyc-vnni")) is None
    assert mismatch_warning("cpu-onnxruntime", "x86-64", host("zen3-epyc-avx2")) is None
    text = mismatch_warning("x86-openvino", "x86-vnni", host("zen3-epyc-avx2"))
    assert text and "x86-avx2" in text and "targets x86-vnni" in text
    assert mismatch_warning("arm64-onnxruntime", "arm64", host("zen3-epyc-avx2"))


@pytest.mark.parametrize(("isa", "multiple"), [("x86-avx2", 8), ("x86-64", 8), ("x86-avx512", 16),
                                               ("x86-vnni", 16), ("x86-amx", 16), ("arm64", 8),
                                               ("arm64-i8mm", 8), ("cuda", 16)])
def test_pruning_rounds_channels_to_the_target_isas_vector_width(isa, multiple) -> None:
    from edgekit.hardware import channel_multiple

    assert channel_multiple(isa) == multiple


def test_a_profile_without_round_to_rounds_for_its_target_and_host_follows_the_host(tmp_path) -> None:
    from edgekit.api import prune_config
    from edgekit.hardware import channel_multiple, parse_cpuinfo

    assert prune_config("cpu-onnxruntime", ratio=0.5).round_to == 8  # portable x86-64: AVX2-wide
    assert prune_config("cpu-onnxruntime-vnni", ratio=0.5).round_to == 16
    assert prune_config("cpu-onnxruntime", ratio=0.5, round_to=4).round_to == 4  # the option wins
    zen4 = parse_cpuinfo("flags\t\t: avx2 fma avx512f avx512bw avx512_vnni\n", machine="x86_64")
    zen3 = parse_cpuinfo("flags\t\t: avx2 fma\n", machine="x86_64")
    assert (channel_multiple("host", zen4), channel_multiple("host", zen3)) == (16, 8)
