"""INT8 recipes for QDQ ONNX, chosen per target ISA, and how an INT8 file is checked on this host.

The recipe is the pair of integer types (and weight range) the file is quantized to. Which one is
right depends on the CPU that will run it, not on the one that builds it (benchmarks/RESULTS.md,
"INT8 recipes per ISA"; ONNX Runtime's quantization docs):

- VNNI / AMX x86 and ARM64 accumulate u8 x s8 products in 32 bits: U8 activations / S8 weights
  at full range is exact and fastest.
- x86 without VNNI (AVX2, AVX-512F) multiplies u8 x s8 pairs into int16 (vpmaddubsw) and saturates:
  measured on a Zen 3 host, the digits CNN lost 0.4 points with U8S8 and 5.2 with S8S8 (ONNX Runtime
  runs S8 activations through the same path), none with 7-bit weights (``reduce_range``) or U8U8.
  7-bit weights keep the fast kernels, so U8S8 + reduce_range comes first and U8U8 is the fallback.
- TensorRT takes symmetric S8/S8 only (explicit quantization), whatever the CPU.

The check: an INT8 file is verified by running it. When this host's integer kernels would compute
something the target's do not (an AVX2 host checking a U8S8 file for a VNNI CPU or a GPU), the Q/DQ
graph is run with its quantization emulated in float (ONNX Runtime's ``session.disable_quant_qdq``):
the exact quantization math, independent of this host, and the report says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edgekit.hardware import SATURATING_CLASSES, HostFacts, effective_isa


@dataclass(frozen=True)
class Recipe:
    name: str
    activation_type: str  # "uint8" | "int8"
    weight_type: str  # "uint8" | "int8"
    reduce_range: bool  # 7-bit weights: no int16 saturation on x86 without VNNI
    symmetric_activations: bool
    summary: str

    @property
    def saturates_without_vnni(self) -> bool:
        """U8 x S8 pairs at full range overflow int16 on x86 without VNNI (S8 activations take the same path)."""
        return self.weight_type == "int8" and not self.reduce_range

    @property
    def weight_range(self) -> tuple[int, int]:
        """The symmetric integer range of the weights (QAT trains into the same one)."""
        if self.weight_type == "uint8":
            return (0, 255)
        return (-64, 63) if self.reduce_range else (-127, 127)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "activations": f"{self.activation_type} "
                f"{'symmetric' if self.symmetric_activations else 'asymmetric'} per tensor",
                "weights": f"{self.weight_type} {'7-bit (reduce_range)' if self.reduce_range else '8-bit'} per channel",
                "summary": self.summary}


RECIPES: dict[str, Recipe] = {
    "u8s8": Recipe("u8s8", "uint8", "int8", False, False,
                   "U8 activations / S8 weights: VNNI/AMX and ARM64 dot products, fastest where they exist"),
    "u8s8-rr": Recipe("u8s8-rr", "uint8", "int8", True, False,
                      "U8 activations / 7-bit S8 weights (reduce_range): the fast u8 x s8 kernels without "
                      "int16 saturation on x86 without VNNI"),
    "u8u8": Recipe("u8u8", "uint8", "uint8", False, False,
                   "U8 activations / U8 weights: 16-bit widening kernels, no saturation, slower on AVX2"),
    "s8s8": Recipe("s8s8", "int8", "int8", False, True,
                   "S8 symmetric activations / S8 weights: TensorRT's explicit INT8; saturates on x86 without VNNI"),
}
RECIPE_CHOICES = ("auto", *RECIPES)

# candidates per ISA class, the first one the default; later ones are tried by the accuracy-aware search
LADDERS: dict[str, tuple[str, ...]] = {
    "x86-amx": ("u8s8", "s8s8", "u8u8"),
    "x86-vnni": ("u8s8", "s8s8", "u8u8"),
    "x86-avx512": ("u8s8-rr", "u8u8"),
    "x86-avx2": ("u8s8-rr", "u8u8"),
    "x86-64": ("u8s8-rr", "u8u8"),  # any x86-64 CPU: a file that cannot saturate on the ones without VNNI
    "arm64-i8mm": ("u8s8", "s8s8", "u8u8"),
    "arm64-dotprod": ("u8s8", "s8s8", "u8u8"),
    "arm64": ("u8s8", "u8u8"),
    "cuda": ("s8s8",),
}
WHY = {
    "x86-amx": "AMX/VNNI accumulate u8 x s8 in 32 bits: full-range U8S8 is exact and fastest",
    "x86-vnni": "VNNI accumulates u8 x s8 in 32 bits: full-range U8S8 is exact and fastest",
    "x86-avx512": "AVX-512 without VNNI saturates full-range u8 x s8 in int16: 7-bit weights avoid it",
    "x86-avx2": "AVX2 without VNNI saturates full-range u8 x s8 in int16: 7-bit weights avoid it",
    "x86-64": "any x86-64 CPU, including those without VNNI whose u8 x s8 kernels saturate: 7-bit weights",
    "arm64-i8mm": "ARM64 int8 matrix multiply accumulates in 32 bits: full-range U8S8",
    "arm64-dotprod": "ARM64 dot products accumulate in 32 bits: full-range U8S8",
    "arm64": "ARM64 NEON widens to 16 then 32 bits without saturation: full-range U8S8",
    "cuda": "TensorRT's explicit quantization is symmetric S8/S8",
}


@dataclass(frozen=True)
class RecipePlan:
    isa: str  # the ISA class the file is made for
    ladder: tuple[Recipe, ...]
    why: str

    def to_dict(self) -> dict[str, Any]:
        return {"target_isa": self.isa, "candidates": [r.name for r in self.ladder], "why": self.why}


def plan_recipes(choice: str, target_isa: str, host: HostFacts) -> RecipePlan:
    """The recipes to try, in order: the profile's / command line's choice, or the target ISA's ladder."""
    isa = effective_isa(target_isa, host)
    if choice != "auto":
        return RecipePlan(isa, (RECIPES[choice],), f"{choice} set explicitly ([quantize] recipe / --int8-recipe)")
    ladder = LADDERS.get(isa, LADDERS["x86-64"] if host.arch.startswith("x86") else LADDERS["arm64"])
    return RecipePlan(isa, tuple(RECIPES[n] for n in ladder), WHY.get(isa, "unknown ISA: the portable choice"))


@dataclass(frozen=True)
class CheckMode:
    emulated: bool
    why: str
    warning: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"emulated": self.emulated,
                "mode": "QDQ emulated in float" if self.emulated else "integer kernels of this host", "why": self.why,
                **({"warning": self.warning} if self.warning else {})}


def check_mode(recipe: Recipe, target_isa: str, host: HostFacts) -> CheckMode:
    """Integer kernels of this host when they compute what the target's do; the emulated Q/DQ math otherwise."""
    isa = effective_isa(target_isa, host)
    if isa == "cuda":
        return CheckMode(True, "TensorRT runs the Q/DQ graph on the GPU: this host's ONNX Runtime integer kernels are "
                               "not TensorRT's, so the quantization math is emulated in float (host-independent)")
    host_saturates = host.u8s8_saturates and recipe.saturates_without_vnni
    target_saturates = isa in SATURATING_CLASSES and recipe.saturates_without_vnni
    if host_saturates and not target_saturates:
        return CheckMode(True, f"this host ({host.isa}) has no VNNI and its integer kernels saturate {recipe.name}, "
                               f"the target's ({isa}) do not: the quantization math is emulated in float")
    if target_saturates and not host_saturates:
        return CheckMode(False, f"integer kernels of this host ({host.isa})",
                         f"{recipe.name} saturates on {isa} CPUs (no VNNI) and this host cannot show it: accuracy "
                         "on the target may be lower than measured here")
    return CheckMode(False, f"integer kernels of this host ({host.isa}), as the target ({isa}) runs them")
