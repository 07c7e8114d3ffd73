"""What the host is: the CPU's ISA facts that decide how INT8 runs, recorded in every report.

The facts come from ``/proc/cpuinfo`` (under ``EDGEKIT_SYSFS_ROOT`` when set, so tests run on the
cpuinfo of machines they are not on) and are reduced to one ISA class per machine:

    x86-amx        AMX-INT8 (Sapphire Rapids and newer Xeons); also has AVX-512 VNNI
    x86-vnni       AVX-512 VNNI or AVX-VNNI (Ice Lake+, Zen 4/5, Alder Lake+): u8 x s8 -> int32 dot products
    x86-avx512     AVX-512 without VNNI (Skylake-SP/X)
    x86-avx2       AVX2 without VNNI (Haswell..Coffee Lake, Zen 1-3, many x86 edge boxes)
    x86-64         older x86-64 (SSE4 / AVX): no fast INT8 path at all
    arm64-i8mm     ARMv8.6 int8 matrix multiply (Graviton3, Cortex-A710+, Orin's A78AE has none)
    arm64-dotprod  ARMv8.2 dot product (Cortex-A55/A76/A78, Jetson Orin CPU, Raspberry Pi 5)
    arm64          plain NEON (Cortex-A53/A72: Raspberry Pi 3/4)

Why it matters (FIELD-NOTES, ONNX Runtime's quantization docs): without VNNI, x86 integer kernels
multiply u8 x s8 pairs into int16 (vpmaddubsw) and saturate, so the same INT8 file that is exact on
a VNNI CPU loses points on an AVX2 one. Profiles name the class they target (``[target] isa``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SYSFS_ROOT_ENV = "EDGEKIT_SYSFS_ROOT"
CPUFREQ_MAX = Path("sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq")

# flags worth recording: the ones INT8/BF16 kernels dispatch on (x86 "flags", ARM64 "Features")
X86_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "avx512_bf16",
             "amx_int8", "amx_bf16", "amx_tile")
ARM_FLAGS = ("asimd", "asimddp", "i8mm", "sve", "sve2", "bf16", "fphp", "asimdhp")

X86_CLASSES = ("x86-amx", "x86-vnni", "x86-avx512", "x86-avx2", "x86-64")
ARM_CLASSES = ("arm64-i8mm", "arm64-dotprod", "arm64")
# what a profile may say it targets: a class, a family ("x86-64" = any x86-64 CPU, "arm64" = any ARM64),
# "host" (whatever machine runs compress is the target) or "cuda" (an NVIDIA GPU: the CPU is irrelevant)
TARGET_ISAS = ("host", *X86_CLASSES, *ARM_CLASSES, "cuda")
# classes whose u8 x s8 integer kernels saturate in 16-bit intermediates (no VNNI); "x86-64" as a target means
# "any x86-64 CPU", which includes them
# a target class that names a family of hosts: "x86-vnni" profiles say "VNNI or AMX" (AMX CPUs have VNNI too)
TARGET_FAMILIES = {"x86-64": X86_CLASSES, "arm64": ARM_CLASSES, "x86-vnni": ("x86-vnni", "x86-amx")}
SATURATING_CLASSES = frozenset({"x86-avx512", "x86-avx2", "x86-64"})
# the channel multiple that fills a target's vector lanes or tensor-core tiles (pruning's round_to when a
# profile does not set it): 16 fp32 per AVX-512 register (VNNI and AMX CPUs have AVX-512), 8 per AVX2 register;
# ARM64 runtimes pack channels by 8; tensor cores want multiples of 8 (FP16) to 16 (INT8)
CHANNEL_MULTIPLES = {"x86-amx": 16, "x86-vnni": 16, "x86-avx512": 16, "x86-avx2": 8, "x86-64": 8,
                     "arm64-i8mm": 8, "arm64-dotprod": 8, "arm64": 8, "cuda": 16}


@dataclass(frozen=True)
class HostFacts:
    arch: str  # "x86_64" | "aarch64" | what platform.machine() says
    cpu_model: str
    flags: tuple[str, ...]  # the ISA flags above that this CPU has
    logical_cpus: int
    source: str  # where the facts were read
    # what the hardware-efficiency peak needs (edgekit/efficiency.py): distinct (physical id, core id) pairs, 0 when
    # cpuinfo does not list them; the clock in MHz and where it was read; the vendor; ARM64's "CPU part" (core type)
    physical_cores: int = 0
    clock_mhz: float | None = None
    clock_source: str = ""
    vendor: str = ""
    cpu_part: str = ""

    @property
    def isa(self) -> str:
        """The ISA class (module doc)."""
        has = set(self.flags)
        if self.arch in ("x86_64", "amd64", "i686"):
            if "amx_int8" in has:
                return "x86-amx"
            if has & {"avx512_vnni", "avx_vnni"}:
                return "x86-vnni"
            if "avx512f" in has:
                return "x86-avx512"
            return "x86-avx2" if "avx2" in has else "x86-64"
        if self.arch in ("aarch64", "arm64"):
            if "i8mm" in has:
                return "arm64-i8mm"
            return "arm64-dotprod" if "asimddp" in has else "arm64"
        return "unknown"

    @property
    def u8s8_saturates(self) -> bool:
        """Does this CPU's u8 x s8 integer path saturate (x86 without VNNI)?"""
        return self.isa in SATURATING_CLASSES

    def to_dict(self) -> dict[str, Any]:
        return {"isa": self.isa, "arch": self.arch, "cpu_model": self.cpu_model, "flags": list(self.flags),
                "logical_cpus": self.logical_cpus, "u8s8_saturates": self.u8s8_saturates, "source": self.source,
                "physical_cores": self.physical_cores, "clock_mhz": self.clock_mhz, "clock_source": self.clock_source,
                "vendor": self.vendor, "cpu_part": self.cpu_part}


def _field(line: str) -> tuple[str, str]:
    key, _, value = line.partition(":")
    return key.strip().lower(), value.strip()


def parse_cpuinfo(text: str, machine: str | None = None, source: str = "/proc/cpuinfo") -> HostFacts:
    """HostFacts from the text of /proc/cpuinfo (x86 "flags" or ARM64 "Features" lines)."""
    model, flags, cpus, arm_part, kind = "", set(), 0, "", ""
    mhz, vendor, package, cores = None, "", "", set()
    for line in text.splitlines():
        key, value = _field(line)
        if key == "processor":
            cpus += 1
        elif key == "cpu mhz" and mhz is None:
            with contextlib.suppress(ValueError):
                mhz = float(value)
        elif key in ("vendor_id", "cpu implementer") and not vendor:
            vendor = value
        elif key == "physical id":
            package = value
        elif key == "core id":
            cores.add((package, value))
        elif key in ("model name", "hardware") and not model:
            model = value
        elif key == "cpu part" and not arm_part:
            arm_part = value
        elif key in ("flags", "features") and not flags:
            flags, kind = set(value.split()), key
    if machine is None:  # x86 lists "flags", ARM64 "Features"
        machine = {"flags": "x86_64", "features": "aarch64"}.get(kind) or platform.machine()
    wanted = X86_FLAGS if machine.lower() in ("x86_64", "amd64", "i686") else ARM_FLAGS
    return HostFacts(arch=machine.lower(), cpu_model=model or (f"ARM part {arm_part}" if arm_part else "unknown"),
                     flags=tuple(f for f in wanted if f in flags), logical_cpus=cpus or (os.cpu_count() or 1),
                     source=source, physical_cores=len(cores), clock_mhz=mhz,
                     clock_source=f"'cpu MHz' in {source}: the clock when read; a VM reports its nominal clock and cores may "
                     "boost above it" if mhz else "", vendor=vendor,
                     cpu_part=arm_part)


def max_clock(base: Path) -> float | None:
    """cpu0's highest clock in MHz from sysfs cpufreq (``cpuinfo_max_freq``, kHz); None where the kernel has no
    cpufreq (many VMs)."""
    try:
        return int((base / CPUFREQ_MAX).read_text().strip()) / 1000.0
    except (OSError, ValueError):
        return None


def detect(root: str | Path | None = None) -> HostFacts:
    """This host's facts: ``root``/proc/cpuinfo (root: ``EDGEKIT_SYSFS_ROOT`` or /)."""
    base = Path(root if root is not None else os.environ.get(SYSFS_ROOT_ENV, "/"))
    path = base / "proc" / "cpuinfo"
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return HostFacts(platform.machine().lower(), platform.processor() or "unknown", (), os.cpu_count() or 1,
                         f"{path} unreadable: ISA unknown")
    machine = None if base != Path("/") else platform.machine()
    facts = parse_cpuinfo(text, machine, str(path))
    mhz = max_clock(base)
    if mhz:  # the most the core may run at: the peak derived from it is an upper bound
        facts = dataclasses.replace(facts, clock_mhz=mhz, clock_source=f"{base / CPUFREQ_MAX} (the highest clock)")
    return facts


def target_matches(target_isa: str, host: HostFacts) -> bool:
    """Do numbers measured on ``host`` stand for ``target_isa``? ("host"/"cuda": the question does not arise.)"""
    return isa_matches(target_isa, host.isa)


def isa_matches(target_isa: str, host_isa: str) -> bool:
    """``target_matches`` on the ISA class names (a report's recorded host)."""
    return target_isa in ("", "host", "cuda") or host_isa in TARGET_FAMILIES.get(target_isa, (target_isa,))


def effective_isa(target_isa: str, host: HostFacts) -> str:
    """The ISA class the INT8 file is made for: the profile's, or this host's when the profile says "host"."""
    return host.isa if target_isa == "host" else target_isa


def channel_multiple(target_isa: str, host: HostFacts | None = None) -> int:
    """Pruning's default round_to for a target ISA class ("host": this machine's, detected)."""
    isa = effective_isa(target_isa, host or detect()) if target_isa == "host" else target_isa
    return CHANNEL_MULTIPLES.get(isa, 8)


def mismatch_warning(profile_name: str, target_isa: str, host: HostFacts) -> str | None:
    """The report's warning when the host that measures is not the profile's target (None when it is)."""
    if target_matches(target_isa, host):
        return None
    return (f"This host is {host.isa} ({host.cpu_model}) but profile {profile_name} targets {target_isa}: latency "
            f"and memory are this host's, not the target's; re-run deploy/run.py on the target for its numbers.")
