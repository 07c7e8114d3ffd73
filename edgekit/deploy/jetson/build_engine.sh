#!/usr/bin/env bash
# Build this bundle's TensorRT engines on this device, into deploy/engines/.
#   ./jetson/build_engine.sh            # every variant in bundle.json
#   ./jetson/build_engine.sh int8       # only the named variant(s)
# edgekit build-engine when edgekit is installed (builds, verifies, benchmarks, writes device/<gpu>/),
# else trt_build.py with TensorRT's Python bindings, else trtexec with the options in bundle.json.
set -euo pipefail
DEPLOY="$(cd "$(dirname "$0")/.." && pwd)"
BUNDLE="$(dirname "$DEPLOY")"
if command -v edgekit >/dev/null 2>&1 && [ "${EDGEKIT_NO_CLI:-0}" != "1" ]; then
  ARGS=()
  for v in "$@"; do ARGS+=(--variant "$v"); done
  exec edgekit build-engine "$BUNDLE" "${ARGS[@]}"
fi
VARIANTS=()
for v in "$@"; do VARIANTS+=(--variant "$v"); done
exec python3 "$DEPLOY/trt_build.py" --bundle "$DEPLOY" "${VARIANTS[@]}"
