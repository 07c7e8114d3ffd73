"""The measurement protocol (idle / active windows, trials, medians, warnings), the estimate, the
settings and the meter table, with a fake meter whose windows are known exactly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from edgekit.energy import AUTO_ORDER, METERS, auto_order, detect, get_meter
from edgekit.energy.base import EnergyResult, MeterContext, MeterInfo, MeterKind, MeterUnavailable
from edgekit.energy.protocol import EnergyPlan, EnergySession, EnergySettings, plan_energy, window_seconds, with_energy
from edgekit.energy.summary import estimate, unavailable
from edgekit.errors import ProfileError
from edgekit.profile import ENERGY_METERS, load_profile

from .energy_fakes import FakeNvml, intel_laptop, orin_nano_jp6


class FakeMeter:
    """Window k has average power powers[k] over exactly 1 s; can fail on a given start/stop call."""

    def __init__(self, powers: list[float], *, kind: MeterKind = MeterKind.COUNTER, fail_on: int | None = None,
                 details: dict[str, Any] | None = None, warnings: tuple[str, ...] = ()) -> None:
        self.info = MeterInfo("fake", "a test", "everything", ("all",), "all", "exact", 0.05, kind, details or {})
        self.powers, self.fail_on, self.warnings = list(powers), fail_on, warnings
        self.calls: list[str] = []

    def _call(self, name: str) -> None:
        self.calls.append(name)
        if self.fail_on == len(self.calls):
            raise MeterUnavailable(f"fake: {name} failed", "unplug and replug")

    def start(self) -> None:
        self._call("start")

    def stop(self) -> EnergyResult:
        self._call("stop")
        power = self.powers.pop(0)
        return EnergyResult(self.info, {"all": power}, power, 1.0, 200, self.warnings)


def drive(session: EnergySession, windows: list[tuple[int, float]]) -> list[str]:
    """Play the runner's side of the handshake; returns the parent's replies."""
    replies: list[str] = []
    done = 0
    for trial, (inferences, seconds) in enumerate(windows):
        session.on_event({"phase": "energy_idle", "next": "active", "trial": trial}, replies.append)
        if replies[-1] != "go":
            break
        session.on_event({"phase": "energy_start", "trial": trial, "batch_size": 1}, replies.append)
        session.on_event({"phase": "energy_end", "trial": trial, "inferences": inferences, "seconds": seconds,
                          "runs": inferences, "batch_size": 1}, replies.append)
        done += 1
    session.on_event({"phase": "energy_idle", "next": "done", "trial": done}, replies.append)
    return replies


SETTINGS = EnergySettings(meter="fake", seconds=1.0, trials=3, idle_seconds=0.5)


def session_for(meter: FakeMeter, settings: EnergySettings = SETTINGS) -> tuple[EnergySession, list[float]]:
    sleeps: list[float] = []
    return EnergySession(meter, settings, sleep=sleeps.append), sleeps


def test_three_trials_between_idle_windows() -> None:
    # windows in order: idle, active, idle, active, idle, active, idle
    meter = FakeMeter([2.0, 10.0, 2.0, 10.0, 2.0, 10.0, 2.0])
    session, sleeps = session_for(meter)
    assert session.runner_args() == ["--energy-seconds", "1.0", "--energy-trials", "3", "--energy-handshake"]
    assert drive(session, [(1000, 1.0)] * 3) == ["go"] * 4
    assert sleeps == [0.5] * 4 and meter.calls == ["start", "stop"] * 7
    report = session.report()
    assert report["status"] == "measured" and report["meter"] == "fake" and report["covers"] == "everything"
    assert report["joules_per_inference"] == pytest.approx(0.01)  # 10 W x 1 s / 1000
    assert report["joules_per_inference_idle_subtracted"] == pytest.approx(0.008)
    assert report["average_power_w"] == 10.0 and report["idle_power_w"] == 2.0
    assert report["joules_per_inference_by_domain"] == {"all": pytest.approx(0.01)}
    assert report["inferences"] == 3000 and report["batch_size"] == 1 and len(report["trials"]) == 3
    assert report["warnings"] == []
    assert report["reason"].startswith("median of 3 trial(s) of 1 s back-to-back inference at batch 1, between idle")


def test_the_runners_clock_sets_the_time_and_medians_resist_an_outlier() -> None:
    meter = FakeMeter([1.0, 5.0, 1.0, 9.0, 1.0, 5.0, 1.0])
    session, _ = session_for(meter)
    drive(session, [(100, 2.0), (100, 2.0), (50, 1.0)])
    report = session.report()
    per_trial = [t["joules_per_inference"] for t in report["trials"]]
    assert per_trial == pytest.approx([0.1, 0.18, 0.1])
    assert report["joules_per_inference"] == pytest.approx(0.1)
    assert any("trials differ by 80%" in w for w in report["warnings"])


def test_idle_drift_and_power_below_idle_are_flagged() -> None:
    meter = FakeMeter([2.0, 2.1, 2.0, 2.1, 2.0, 1.9, 3.0], warnings=("meter says hi",))
    session, _ = session_for(meter)
    drive(session, [(10, 1.0)] * 3)
    warnings = session.report()["warnings"]
    assert warnings[0] == "meter says hi"  # the meter's own warnings, once
    assert any("idle power drifted +50%" in w for w in warnings)
    assert any("not above the idle baseline" in w for w in warnings)


def test_idle_baseline_is_the_mean_of_the_windows_around_each_trial() -> None:
    meter = FakeMeter([2.0, 10.0, 4.0])
    session, _ = session_for(meter, EnergySettings(meter="fake", seconds=1.0, trials=1, idle_seconds=1.0))
    drive(session, [(1, 1.0)])
    assert session.report()["trials"][0]["idle_power_w"] == 3.0


def test_no_idle_baseline_when_idle_seconds_is_zero() -> None:
    meter = FakeMeter([10.0])
    session, sleeps = session_for(meter, EnergySettings(meter="fake", seconds=1.0, trials=1, idle_seconds=0.0))
    drive(session, [(100, 1.0)])
    report = session.report()
    assert sleeps == [] and report["idle_power_w"] is None
    assert report["joules_per_inference"] == pytest.approx(0.1)
    assert report["joules_per_inference_idle_subtracted"] is None
    assert "no idle baseline" in report["reason"]


def test_jetson_clocks_off_is_a_warning() -> None:
    meter = FakeMeter([10.0], details={"jetson_clocks": {"state": "off"}})
    session, _ = session_for(meter, EnergySettings(meter="fake", trials=1, idle_seconds=0.0))
    drive(session, [(100, 1.0)])
    assert any("jetson_clocks is off" in w for w in session.report()["warnings"])


@pytest.mark.parametrize("fail_on, replies", [(1, ["stop", "stop"]),  # the first idle start
                                              (4, ["go", "stop", "stop"]),  # the first active window's stop
                                              (6, ["go", "stop", "stop"])])  # the second idle's stop
def test_a_meter_failing_mid_protocol_stops_the_windows_and_says_why(fail_on: int, replies: list[str]) -> None:
    session, _ = session_for(FakeMeter([2.0, 10.0] * 4, fail_on=fail_on))
    assert drive(session, [(10, 1.0)] * 3) == replies
    report = session.report()
    assert report["status"] == "unavailable" and report["joules_per_inference"] is None
    assert report["reason"].startswith("fake: ") and report["hint"] == "unplug and replug"


def test_close_stops_a_meter_left_running_by_a_dead_runner() -> None:
    meter = FakeMeter([2.0, 10.0])
    session, _ = session_for(meter)
    session.on_event({"phase": "energy_idle", "next": "active", "trial": 0}, lambda answer: None)
    assert meter.calls == ["start", "stop", "start"]
    session.close()
    assert meter.calls[-1] == "stop"
    session.close()  # idempotent
    assert meter.calls.count("stop") == 2


def test_close_when_the_meter_fails_too() -> None:
    meter = FakeMeter([2.0, 10.0], fail_on=4)
    session, _ = session_for(meter)
    session.on_event({"phase": "energy_idle", "next": "active", "trial": 0}, lambda answer: None)
    session.close()  # logged, not raised: the runner's own error is the one to report
    assert meter.calls == ["start", "stop", "start", "stop"]


def test_other_energy_events_and_a_quiet_close_do_nothing() -> None:
    meter = FakeMeter([])
    session, _ = session_for(meter)
    session.on_event({"phase": "energy_progress", "done": 3}, lambda answer: pytest.fail("no reply expected"))
    session.close()
    assert meter.calls == []


def test_no_window_ran() -> None:
    session, _ = session_for(FakeMeter([]))
    assert session.report() == unavailable("the runner ran no energy window (a runner without --energy-seconds?)",
                                           meter="fake")


def test_progress_is_reported_once_started() -> None:
    calls: list[tuple[str, ...]] = []

    class Recorder:
        def start(self, key: str, description: str, total: int | None = None) -> None:
            calls.append(("start", key, str(total)))

        def update(self, key: str, completed: int, total: int | None = None, description: str | None = None) -> None:
            calls.append(("update", key, str(description)))

        def finish(self, key: str) -> None:
            calls.append(("finish", key))

    session = EnergySession(FakeMeter([2.0, 10.0, 2.0]), EnergySettings(trials=1, seconds=1.0, idle_seconds=1.0),
                            sleep=lambda s: None, progress=Recorder(), key="energy-int8")
    drive(session, [(5, 1.0)])
    session.close()
    assert calls[0] == ("start", "energy-int8", "3")
    assert ("update", "energy-int8", "energy-int8 (fake): trial 1/1") in calls and calls[-1] == ("finish", "energy-int8")


def test_window_seconds_keep_100_samples_for_polled_meters() -> None:
    assert window_seconds(MeterKind.COUNTER, 0.05, 1.0) == 1.0
    assert window_seconds(MeterKind.POWER, 0.02, 10.0) == 10.0
    assert window_seconds(MeterKind.POWER, 0.1, 10.0) == pytest.approx(12.0)  # tegrastats: 100 x 100 ms + margin
    assert window_seconds(MeterKind.POWER, 0.1, 0.0) == 0.0  # no idle baseline stays none
    session = EnergySession(FakeMeter([], kind=MeterKind.POWER), EnergySettings(seconds=1.0, idle_seconds=0.5))
    assert session.window_s == session.idle_s == pytest.approx(6.0)


def test_estimate_only_in_its_own_field() -> None:
    report = estimate(15.0, {"batch_4": {"mean": 2.0}, "batch_1": {"mean": 1.0}})
    assert report["status"] == "estimate" and report["joules_per_inference"] is None
    assert report["estimated_joules_per_inference_from_tdp"] == pytest.approx(15.0 * 0.002 / 4)
    assert report["batch_size"] == 4 and report["reason"].startswith("NOT MEASURED")
    assert estimate(15.0, {})["status"] == "unavailable"


def test_settings_from_profiles_and_overrides() -> None:
    profile = load_profile("cpu-onnxruntime")
    assert EnergySettings.from_profile(profile) == EnergySettings(meter="none", device="cpu")
    changed = with_energy(profile, meter="estimate", seconds=3, tdp_watts=12)
    assert EnergySettings.from_profile(changed).tdp_watts == 12.0
    assert changed.benchmark.energy_seconds == 3.0
    assert with_energy(profile) is profile
    with pytest.raises(ProfileError, match="needs the device's TDP"):
        with_energy(profile, meter="estimate")
    with pytest.raises(ProfileError, match="benchmark.energy_meter"):
        with_energy(profile, meter="joulemeter")


def test_plan_for_each_kind_of_setting(tmp_path: Path) -> None:
    none = plan_energy(EnergySettings(meter="none"))
    assert none.session is None and none.report({})["reason"].startswith("not measured")
    est = plan_energy(EnergySettings(meter="estimate", tdp_watts=10.0))
    assert est.report({"latency_ms": {"batch_1": {"mean": 1.0}}})["estimated_joules_per_inference_from_tdp"] == 0.01
    missing = plan_energy(EnergySettings(meter="auto"), ctx=MeterContext(root=tmp_path))
    report = missing.report({})
    assert report["status"] == "unavailable" and set(report["tried"]) == {"jetson", "tegrastats", "rapl"}
    intel_laptop(tmp_path)
    found = plan_energy(EnergySettings(meter="rapl"), ctx=MeterContext(root=tmp_path))
    assert isinstance(found, EnergyPlan) and found.session is not None
    assert found.session.meter.info.name == "rapl"


def test_registry_matches_the_profile_choices() -> None:
    assert set(ENERGY_METERS) == set(METERS) | {"none", "auto", "estimate"}
    import importlib

    for target in METERS.values():
        module, _, attr = target.partition(":")
        assert callable(getattr(importlib.import_module(module), attr))
    assert all(set(order) <= set(METERS) for order in AUTO_ORDER.values())
    assert auto_order("cuda:1") == AUTO_ORDER["cuda"] and auto_order("cpu") == AUTO_ORDER["cpu"]
    with pytest.raises(MeterUnavailable, match="Unknown energy meter 'joulemeter'"):
        get_meter("joulemeter", MeterContext())


def test_auto_picks_the_meter_of_this_machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no tegrastats
    jetson, laptop = tmp_path / "jetson", tmp_path / "laptop"
    orin_nano_jp6(jetson)
    intel_laptop(laptop)
    assert get_meter("auto", MeterContext(root=jetson)).info.name == "jetson"
    assert get_meter("auto", MeterContext(root=jetson, device="cuda:0")).info.name == "jetson"
    assert detect(MeterContext(root=laptop)).info.name == "rapl"
    assert detect(MeterContext(root=laptop, device="cuda:0", nvml=FakeNvml())).info.name == "nvml"
    with pytest.raises(MeterUnavailable) as caught:
        detect(MeterContext(root=tmp_path / "empty", device="cuda"))
    assert list(caught.value.tried) == ["jetson", "tegrastats", "nvml"]
    assert "no energy meter found" in caught.value.message and "--tdp-watts" in caught.value.hint
