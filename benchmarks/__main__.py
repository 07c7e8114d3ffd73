"""``python -m benchmarks SUITE [options]``: run one suite (each writes its own block of benchmarks/RESULTS.md)."""

from __future__ import annotations

import importlib
import sys

# suite -> (module with main(argv), what it measures)
SUITES: dict[str, tuple[str, str]] = {
    "ort": ("benchmarks.ort.run", "ResNet-18 / MobileNetV2: torch eager vs edgekit ONNX Runtime FP32/INT8 vs by hand"),
    "pruning": ("benchmarks.pruning.run", "structured and unstructured pruning: measured speed-ups vs the dense twin"),
    "prune-defaults": ("benchmarks.prune_defaults.run", "--prune R --distill with defaults only: asked vs achieved, accuracy, speed"),
    "openvino": ("benchmarks.openvino.run", "OpenVINO: edgekit vs nncf.quantize + benchmark_app by hand"),
    "minilm-openvino": ("benchmarks.minilm.run", "all-MiniLM-L6-v2 INT8 on OpenVINO through edgekit.compress"),
    "distill": ("benchmarks.distill.run", "accuracy recovered by distillation after pruning (digits, seeds)"),
    "qat": ("benchmarks.qat.run", "PTQ vs quantization-aware distillation"),
    "sweep": ("benchmarks.sweep.run", "edgekit sweep: local, resumed, Ray, latency-targeted"),
    "tensorrt-quant": ("benchmarks.tensorrt.run", "which INT8 ONNX TensorRT's rules accept, parity (CPU evidence)"),
    "int8-recipes": ("benchmarks.int8.run", "INT8 recipes per ISA: accuracy and latency on this host"),
    "coverage": ("benchmarks.coverage.run", "structured pruning per architecture family (transformers configs)"),
    "compress-time": ("benchmarks.compress_time.run", "edgekit compress wall time vs quantizing + timing by hand"),
    "efficiency": ("benchmarks.efficiency.run", "ResNet-18 FP32/INT8 on OpenVINO: GOP/s vs the host's peak, per-layer"),
}


def usage() -> str:
    width = max(map(len, SUITES))
    return "usage: python -m benchmarks SUITE [options]\n\nsuites:\n" + "\n".join(
        f"  {name:<{width}}  {what}" for name, (_, what) in SUITES.items())


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0
    if argv[0] not in SUITES:
        print(f"unknown suite {argv[0]!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(SUITES[argv[0]][0])
    sys.argv = [f"python -m benchmarks {argv[0]}", *argv[1:]]
    return int(module.main(argv[1:]) or 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
