"""Files copied into a bundle's deploy/ folder. The runners are standalone scripts (runtime +
numpy only) and are also what edgekit itself uses to time artifacts, so the numbers in the
report come from the same code the device runs."""

from __future__ import annotations

from pathlib import Path

DEPLOY_DIR = Path(__file__).resolve().parent
# which runner each backend uses is its BackendSpec.runner (edgekit.backends.BACKENDS)
