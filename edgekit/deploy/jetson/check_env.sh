#!/usr/bin/env bash
# What this device is: JetPack/L4T, TensorRT, GPU, nvpmodel power mode, jetson_clocks. Numbers from
# two devices (or one device in two power modes) are only comparable when these match.
set -euo pipefail
DEPLOY="$(cd "$(dirname "$0")/.." && pwd)"
if python3 -c "import tensorrt" 2>/dev/null; then
  exec python3 "$DEPLOY/trt_build.py" --environment
fi
echo "TensorRT Python bindings: missing (JetPack: sudo apt install python3-libnvinfer)"
if [ -f /etc/nv_tegra_release ]; then head -n 1 /etc/nv_tegra_release; else echo "not a Jetson (no /etc/nv_tegra_release)"; fi
dpkg-query -W -f='${Package} ${Version}\n' 'libnvinfer[0-9]*' 2>/dev/null || true
if command -v nvpmodel >/dev/null 2>&1; then nvpmodel -q; else echo "nvpmodel: not found"; fi
if command -v jetson_clocks >/dev/null 2>&1; then jetson_clocks --show 2>&1 | head -n 8; else echo "jetson_clocks: not found"; fi
TRTEXEC="$(command -v trtexec || true)"
[ -z "$TRTEXEC" ] && [ -x /usr/src/tensorrt/bin/trtexec ] && TRTEXEC=/usr/src/tensorrt/bin/trtexec
echo "trtexec: ${TRTEXEC:-not found}"
