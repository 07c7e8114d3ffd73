"""How close to the hardware an artifact runs: achieved GOP/s against the host's peak for its precision.

ops per inference = 2 x the MACs counted on the artifact's ONNX graph (``summary.summarize_onnx``, the one MAC
counter; a pruned variant counts its own, smaller graph). Achieved GOP/s = ops x items/s at the variant's best
measured batch (items/s = batch / p50). Peak GOP/s = ops/cycle/core (the table below, from the detected ISA)
x cores used x clock. Every figure here is derived from facts a test can fake (``hardware.parse_cpuinfo``,
``EDGEKIT_SYSFS_ROOT``), never from the CPU that runs the tests.

Ops/cycle/core, one op = one multiply or one add (a MAC is 2), the best instruction sequence the ISA offers, all
vector pipes busy (a ceiling, not what a kernel reaches):

x86 FP32
  2 x 256-bit FMA pipes (AVX2+FMA: Haswell..., Zen 2/3)    2 x 8 lanes x 2 = 32   (Zen 1: 2 x 128-bit, 16)
  2 x 512-bit FMA (Intel AVX-512: Skylake-SP Gold 6/Platinum, Ice Lake-SP, SPR)   64   (one-FMA SKUs: 32)
  AMD AVX-512 (Zen 4 splits a 512-bit op into two 256-bit halves)                 32   (Zen 5 server: 64)
  AVX without FMA: one 8-lane mul + one 8-lane add                                16
  SSE: 4-lane mul + add                                                            8
x86 INT8 (u8 x s8, int32 accumulation)
  AMX-INT8: TDPBUSD, 16x16x64 = 16,384 MACs per tile op, one per 16 cycles = 1,024 MACs      2048  (Intel's figure)
  AVX-512 VNNI (Intel): vpdpbusd zmm = 64 MACs, 2 per cycle                      256
  AVX-512 VNNI (AMD Zen 4: two 256-bit halves) / AVX-VNNI ymm: 32 MACs, 2 per cycle           128
  AVX-512 without VNNI: vpmaddubsw + vpmaddwd (+ vpaddd on a third port) = 64 MACs per 2
    multiply uops, 2 multiply ports                                               128
  AVX2 without VNNI: the same 3-instruction sequence on ymm = 32 MACs per 2 multiply uops      64
    (2x FP32: oneDNN's "AVX2 INT8 about 2x FP32"; vpmaddubsw saturates in int16, hardware.py)
  SSE4 / AVX1 (no 256-bit integer ops): pmaddubsw + pmaddwd on xmm               32
x86 BF16
  AMX-BF16: TDPBF16PS, 16x16x32 = 8,192 MACs per 16 cycles                      1024  (Intel's figure)
  AVX512_BF16: vdpbf16ps zmm = 32 MACs, 2 per cycle (Intel; Zen 4 halves it)   128 / 64
ARM64 (128-bit NEON/ASIMD; P = vector pipes of the core, from "CPU part": 4 on Neoverse V1/V2 and Cortex-X,
  1 on Cortex-A53/A55, 2 on the rest (A72..A78AE, N1/N2, A710) and on parts not in ARM_PIPES, an assumption)
  FP32: FMLA 4 lanes x 2 = 8 P;  FP16 (asimdhp): 16 P;  BF16 (bf16, BFMMLA 2x4x2 = 16 MACs): 32 P
  INT8 i8mm: SMMLA 2x8x2 = 32 MACs = 64 P;  dotprod: SDOT 16 MACs = 32 P
  INT8 plain NEON: SMLAL/SMLAL2, 8 MACs each = 16 P (2x FP32; the widening adds cost more)

Uncertain, and said in the basis text: Intel SKUs with one 512-bit FMA unit (half the AVX-512 rates), Zen 1's
128-bit pipes, Zen 5's full 512-bit datapath, Cortex-A53's 64-bit NEON datapath; the vendor tells Intel from AMD,
the generation is not read. Cores used = the runner's threads (the profile's ``[target] threads``; 0 = the
runtime's default, one per core) capped by the physical cores cpuinfo lists (the logical CPUs when it lists
none): SMT siblings share one core's pipes. Clock: sysfs ``cpuinfo_max_freq`` when the kernel has cpufreq (the
highest clock, so the share is a lower bound), else cpuinfo's ``cpu MHz`` (on a VM usually the nominal clock;
an all-core boost above it would make the real peak higher).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edgekit.hardware import HostFacts

# vector pipes of ARM cores by "CPU part" (ARM's part numbers); others: 2, said in the basis
ARM_PIPES = {"0xd03": 1, "0xd05": 1, "0xd40": 4, "0xd4f": 4, "0xd44": 4, "0xd48": 4, "0xd4e": 4}
ARM_NAMES = {"0xd03": "Cortex-A53", "0xd05": "Cortex-A55", "0xd08": "Cortex-A72", "0xd0b": "Cortex-A76",
             "0xd0c": "Neoverse N1", "0xd40": "Neoverse V1", "0xd41": "Cortex-A78", "0xd42": "Cortex-A78AE",
             "0xd44": "Cortex-X1", "0xd47": "Cortex-A710", "0xd48": "Cortex-X2", "0xd49": "Neoverse N2",
             "0xd4e": "Cortex-X3", "0xd4f": "Neoverse V2"}
# a variant's precision, or the float precision the runtime reported running (OpenVINO: f32 / bf16 / f16)
# said beside a share over 100%: the derivation, not the measurement, is what fell short
ABOVE_PEAK = ("measured above the derived peak: the cores ran faster than the clock the peak assumes (a VM's cpuinfo "
              "reports its nominal clock and it has no cpufreq) or this CPU does more per cycle than the table says")
PRECISION_NAMES = {"fp32": "fp32", "f32": "fp32", "bf16": "bf16", "fp16": "fp16", "f16": "fp16", "int8": "int8"}


@dataclass(frozen=True)
class Rate:
    """The peak of one (ISA, precision) per core and cycle, the instructions behind it and what is uncertain."""

    ops_per_cycle: float
    path: str  # e.g. "AVX2 vpmaddubsw+vpmaddwd, 2 multiply ports"
    uncertain: str = ""


def _x86_rate(host: HostFacts, precision: str) -> Rate | None:
    has, amd = set(host.flags), "amd" in f"{host.vendor} {host.cpu_model}".lower()
    avx512 = "avx512f" in has
    half = "AMD runs 512-bit ops as two 256-bit halves (Zen 4; Zen 5 server parts do not: 2x)" if amd else \
        "Intel SKUs with one 512-bit FMA unit (Xeon Bronze/Silver, some Gold 5xxx) reach half"
    if precision == "fp32":
        if avx512:
            return Rate(32, "AVX-512 FMA as 2x256-bit on AMD", half) if amd else Rate(64, "2x 512-bit FMA", half)
        if {"avx2", "fma"} <= has:
            return Rate(32, "2x 256-bit FMA pipes", "Zen 1 has 2x 128-bit pipes: 16")
        return Rate(16, "AVX 8-lane mul + add") if "avx" in has else Rate(8, "SSE 4-lane mul + add")
    if precision == "int8":
        if "amx_int8" in has:
            return Rate(2048, "AMX-INT8 TDPBUSD, 1,024 MACs/cycle (Intel's figure)")
        if "avx512_vnni" in has:
            return (Rate(128, "AVX-512 VNNI vpdpbusd as 2x256-bit", half) if amd else
                    Rate(256, "AVX-512 VNNI vpdpbusd zmm, 2 per cycle", half))
        if "avx_vnni" in has:
            return Rate(128, "AVX-VNNI vpdpbusd ymm, 2 per cycle")
        if avx512:
            return Rate(128, "AVX-512 vpmaddubsw+vpmaddwd(+vpaddd), 2 multiply ports", half)
        if "avx2" in has:
            return Rate(64, "AVX2 vpmaddubsw+vpmaddwd(+vpaddd), 2 multiply ports",
                        "assumes both multiply uops issue on 2 ports every cycle")
        return Rate(32, "SSE pmaddubsw+pmaddwd on 128-bit")
    if precision == "bf16":
        if "amx_bf16" in has:
            return Rate(1024, "AMX-BF16 TDPBF16PS, 512 MACs/cycle (Intel's figure)")
        if "avx512_bf16" in has:
            return Rate(64, "AVX512_BF16 vdpbf16ps as 2x256-bit", half) if amd else \
                Rate(128, "AVX512_BF16 vdpbf16ps zmm, 2 per cycle", half)
    return None


def _arm_rate(host: HostFacts, precision: str) -> Rate | None:
    has = set(host.flags)
    pipes = ARM_PIPES.get(host.cpu_part.lower(), 2)
    core = ARM_NAMES.get(host.cpu_part.lower())
    where = f"{pipes} NEON pipe(s) of {core}" if core else f"{pipes} NEON pipes"
    unsure = "" if core else f"CPU part {host.cpu_part or 'unknown'}: 2 pipes assumed (1 on A53/A55, 4 on V1/V2/X)"
    if core == "Cortex-A53":
        unsure = "its NEON datapath is 64 bits wide for some ops: possibly half"
    per_pipe = {"fp32": (8, "FMLA 4 lanes"), "fp16": (16, "FMLA 8 half lanes") if "asimdhp" in has else None,
                "bf16": (32, "BFMMLA 16 MACs") if "bf16" in has else None,
                "int8": ((64, "SMMLA 32 MACs (i8mm)") if "i8mm" in has else
                         (32, "SDOT 16 MACs (dotprod)") if "asimddp" in has else
                         (16, "SMLAL/SMLAL2 8 MACs, no dot product"))}.get(precision)
    if per_pipe is None:
        return None
    ops, instruction = per_pipe
    return Rate(ops * pipes, f"{instruction} x {where}", unsure)


def rate(host: HostFacts, precision: str) -> Rate | None:
    """Peak ops per cycle per core of ``host`` at ``precision`` (fp32, bf16, fp16, int8); None: no such path."""
    precision = PRECISION_NAMES.get(precision, precision)
    if host.arch in ("x86_64", "amd64", "i686"):
        return _x86_rate(host, precision)
    if host.arch in ("aarch64", "arm64"):
        return _arm_rate(host, precision)
    return None


def cores_used(host: HostFacts, threads: int = 0) -> int:
    """The cores the runner keeps busy: its threads (0 = the runtime's default, one per core) capped by the
    physical cores (SMT siblings share a core's pipes); the logical CPUs when cpuinfo lists no cores."""
    physical = host.physical_cores or host.logical_cpus
    return min(threads, physical) if threads > 0 else physical


@dataclass(frozen=True)
class Peak:
    gops: float
    ops_per_cycle: float
    cores: int
    clock_ghz: float
    basis: str  # how it was derived, in one sentence


def peak(host: HostFacts, precision: str, threads: int = 0) -> Peak | str:
    """The host's peak GOP/s at ``precision`` with the runner's ``threads``; a string says why there is none."""
    r = rate(host, precision)
    if r is None:
        return f"no {precision} arithmetic path known for {host.isa} ({host.cpu_model})"
    if not host.clock_mhz:
        return f"the clock of {host.cpu_model} is unknown (no cpufreq, no 'cpu MHz' in cpuinfo)"
    cores, ghz = cores_used(host, threads), host.clock_mhz / 1000.0
    counted = "physical cores" if host.physical_cores else "logical CPUs (cpuinfo lists no cores)"
    basis = (f"{PRECISION_NAMES.get(precision, precision).upper()} peak {r.ops_per_cycle * cores * ghz:.1f} GOP/s = "
             f"{r.ops_per_cycle:g} ops/cycle/core ({host.isa}: {r.path}) x {cores} core(s) (threads "
             f"{threads or 'default'}, capped by the {counted}) x {ghz:.3f} GHz ({host.clock_source})"
             + (f"; uncertain: {r.uncertain}" if r.uncertain else ""))
    return Peak(r.ops_per_cycle * cores * ghz, r.ops_per_cycle, cores, ghz, basis)


def compute_precision(precision: str, runtime: dict[str, Any] | None = None) -> str:
    """The precision whose peak applies: INT8 for an INT8 variant; for a float one, what the runtime says it ran
    (OpenVINO on an AMX host runs an FP32 IR in bf16 unless told otherwise)."""
    if precision == "int8":
        return "int8"
    ran = PRECISION_NAMES.get(str((runtime or {}).get("precision", "")).lower())
    return ran or PRECISION_NAMES.get(precision, precision)


def efficiency(macs: int, throughput_by_batch: dict[str, float], precision: str, host: HostFacts,
               threads: int = 0, runtime: dict[str, Any] | None = None) -> dict[str, Any]:
    """report.json's ``efficiency`` of one variant: ops per inference, the best measured batch, achieved GOP/s
    there, the peak for the precision it computes in, the share and how the peak was derived."""
    ops = 2 * int(macs)
    best = max(throughput_by_batch, key=throughput_by_batch.__getitem__) if throughput_by_batch else None
    gops = ops * throughput_by_batch[best] / 1e9 if best else None
    computed = compute_precision(precision, runtime)
    p = peak(host, computed, threads)
    found = isinstance(p, Peak)
    above = found and gops is not None and gops > p.gops
    return {"ops_per_inference": ops, "best_batch": int(best.split("_")[1]) if best else None, "gops": gops,
            "precision": computed, "peak_gops": p.gops if found else None,
            "share_of_peak": gops / p.gops if found and gops is not None and p.gops else None,
            "peak_basis": p.basis if found else str(p), "ops_per_cycle_per_core": p.ops_per_cycle if found else None,
            "cores": p.cores if found else None, "clock_ghz": p.clock_ghz if found else None,
            "note": ABOVE_PEAK if above else None}
