"""The energy field as text: report.md lines, the table cell, and the terminal summary of a compress run."""

from __future__ import annotations

from types import SimpleNamespace

from edgekit.energy.summary import estimate, unavailable
from edgekit.report.energy import energy_cell, energy_lines, energy_summary

MEASURED = {
    "status": "measured", "reason": "median of 3 trial(s)", "meter": "jetson", "source": "INA3221 hwmon",
    "covers": "VDD_IN: the module", "total_from": "VDD_IN (module input rail)", "joules_per_inference": 0.0123,
    "joules_per_inference_idle_subtracted": None, "average_power_w": 7.5, "idle_power_w": None, "batch_size": 1,
    "inferences": 900, "warnings": ["jetson_clocks is off"],
    "platform": {"model": "NVIDIA Jetson Orin Nano Developer Kit", "power_mode": {"id": 0, "name": "15W"},
                 "jetson_clocks": {"state": "off"}},
}


def test_units_and_cells() -> None:
    assert energy_cell(MEASURED) == "12.3 mJ"
    assert energy_cell({**MEASURED, "joules_per_inference": 2.5}) == "2.5 J"
    assert energy_cell({**MEASURED, "joules_per_inference": 4.2e-5}) == "42 µJ"
    assert energy_cell({**MEASURED, "joules_per_inference": None}) == "n/a"
    assert energy_cell(estimate(10.0, {"batch_1": {"mean": 1.0}})) == "~10 mJ (TDP est.)"
    assert energy_cell(unavailable("no meter")) == "n/a"


def test_measured_lines_name_the_meter_the_coverage_and_the_device() -> None:
    lines = energy_lines(MEASURED)
    assert lines[0].startswith("energy: 12.3 mJ per inference (total), n/a idle-subtracted; 7.500 W while inferring")
    assert "idle" not in lines[0].split(";")[1].replace("idle-subtracted", "")  # no idle figure without a baseline
    assert lines[1].startswith("meter: jetson (INA3221 hwmon), total = VDD_IN (module input rail); covers VDD_IN")
    assert "device: NVIDIA Jetson Orin Nano Developer Kit, power mode 15W, jetson_clocks off" in lines
    assert lines[-1] == "energy warning: jetson_clocks is off"


def test_unavailable_and_estimate_lines() -> None:
    assert energy_lines(unavailable("no powercap", "load the driver", "rapl")) == [
        "energy: unavailable (rapl): no powercap", "  load the driver"]
    assert energy_lines({"status": "unavailable"}) == ["energy: unavailable: no reason recorded"]
    tried = energy_lines(unavailable("x", "", "auto", {"jetson": "jetson: no", "rapl": "rapl: no"}))
    assert tried == ["energy: unavailable (auto): no meter found for this machine", "  jetson: no", "  rapl: no"]
    assert energy_lines(estimate(5.0, {"batch_1": {"mean": 2.0}}))[0].startswith("energy: ESTIMATE ~10 mJ")


def test_summary_of_a_compress_run() -> None:
    def variant(name: str, energy: dict) -> SimpleNamespace:
        return SimpleNamespace(name=name, energy=energy)

    assert energy_summary([variant("fp32", unavailable("not measured", meter="none"))]) == []
    lines = energy_summary([variant("fp32", MEASURED), variant("int8", {**MEASURED, "joules_per_inference": 0.006,
                                                                        "joules_per_inference_idle_subtracted": 0.002})])
    assert lines == ["Energy per inference, jetson (VDD_IN (module input rail)): fp32 12.3 mJ (n/a idle-subtracted), "
                     "int8 6 mJ (2 mJ idle-subtracted)"]
    gone = unavailable("no meter", meter="auto")
    assert energy_summary([variant("fp32", gone), variant("int8", gone)]) == [
        "Energy fp32, int8: unavailable (auto): no meter"]
