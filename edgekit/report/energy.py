"""The `energy` field as text: the number first, then what measured it and what that covers."""

from __future__ import annotations

from typing import Any


def _mj(joules: float | None) -> str:
    """Joules in the unit that keeps 4 significant digits readable: J, mJ or µJ."""
    if joules is None:
        return "n/a"
    scale, unit = next(((s, u) for s, u in ((1.0, "J"), (1e-3, "mJ")) if abs(joules) >= s), (1e-6, "µJ"))
    return f"{joules / scale:.4g} {unit}"


def energy_cell(energy: dict[str, Any]) -> str:
    """One table cell: measured mJ/inference, an estimate marked as such, or n/a."""
    status = energy.get("status")
    if status == "measured":
        return _mj(energy.get("joules_per_inference"))
    if status == "estimate":
        return f"~{_mj(energy.get('estimated_joules_per_inference_from_tdp'))} (TDP est.)"
    return "n/a"


def energy_lines(energy: dict[str, Any]) -> list[str]:
    """A few sentences: figure, idle-subtracted figure, power, meter and coverage, warnings."""
    status = energy.get("status", "unavailable")
    if status == "estimate":
        return [f"energy: ESTIMATE {energy_cell(energy)} per inference: {energy.get('reason', '')}"]
    if status != "measured":
        tried = energy.get("tried") or {}
        reason = "no meter found for this machine" if tried else energy.get("reason") or "no reason recorded"
        meter = f" ({energy['meter']})" if energy.get("meter") else ""
        lines = [f"energy: unavailable{meter}: {reason}"]
        lines += [f"  {why}" for why in tried.values()]
        return lines + ([f"  {energy['hint']}"] if energy.get("hint") else [])
    idle = energy.get("idle_power_w")
    net = energy.get("joules_per_inference_idle_subtracted")
    lines = [f"energy: {_mj(energy.get('joules_per_inference'))} per inference (total), "
             f"{_mj(net)} idle-subtracted; {energy.get('average_power_w', 0):.3f} W while inferring"
             + (f", {idle:.3f} W idle" if idle is not None else "")
             + f" (batch {energy.get('batch_size')}, {energy.get('inferences')} inferences)",
             f"meter: {energy.get('meter')} ({energy.get('source')}), total = {energy.get('total_from')}; "
             f"covers {energy.get('covers')}",
             f"protocol: {energy.get('reason')}"]
    platform = energy.get("platform")
    if platform:
        mode = platform.get("power_mode", {})
        lines.append(f"device: {platform.get('model')}, power mode {mode.get('name') or mode.get('id')}, "
                     f"jetson_clocks {platform.get('jetson_clocks', {}).get('state')}")
    lines += [f"energy warning: {w}" for w in energy.get("warnings", [])]
    return lines


def energy_summary(variants: list[Any]) -> list[str]:
    """The terminal's energy lines for a compress run: one per variant, the meter once; nothing when the
    profile asked for no measurement (energy_meter = "none")."""
    energies = [(v.name, v.energy) for v in variants if v.energy and v.energy.get("meter") != "none"]
    measured = [(name, e) for name, e in energies if e.get("status") == "measured"]
    lines = []
    if measured:
        first = measured[0][1]
        lines.append(f"Energy per inference, {first.get('meter')} ({first.get('total_from')}): " + ", ".join(
            f"{name} {energy_cell(e)} ({_mj(e.get('joules_per_inference_idle_subtracted'))} idle-subtracted)"
            for name, e in measured))
    others: dict[str, list[str]] = {}
    for name, e in energies:
        if e.get("status") != "measured":  # estimates and unavailable: grouped, the reason is usually shared
            others.setdefault(energy_lines(e)[0].removeprefix("energy: "), []).append(name)
    lines += [f"Energy {', '.join(names)}: {text}" for text, names in others.items()]
    return lines
