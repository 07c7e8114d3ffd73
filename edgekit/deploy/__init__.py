"""Files copied into a bundle's deploy/ folder. The runners are standalone scripts (runtime +
numpy only) and are also what edgekit itself uses to time artifacts, so the numbers in the
report come from the same code the device runs."""

from __future__ import annotations

from pathlib import Path

DEPLOY_DIR = Path(__file__).resolve().parent

# backend name -> runner script in this folder (copied into the bundle as deploy/run.py)
RUNNERS: dict[str, str] = {"onnxruntime": "run_onnxruntime.py", "openvino": "run_openvino.py",
                           "tensorrt": "run_tensorrt.py"}
