#!/usr/bin/env bash
# Time every engine in deploy/engines/ with run.py (parity vs sample.npz, p50/p90/p99, throughput).
# Without TensorRT's Python bindings, trtexec times them instead (no parity check then).
#   ./jetson/benchmark.sh [--iterations 500 --batch-sizes 1,8 ...]   (extra options go to run.py)
set -euo pipefail
DEPLOY="$(cd "$(dirname "$0")/.." && pwd)"
cd "$DEPLOY"
shopt -s nullglob
ENGINES=(engines/*.plan)
if [ ${#ENGINES[@]} -eq 0 ]; then
  echo "no engines in $DEPLOY/engines: run ./jetson/build_engine.sh first" >&2
  exit 2
fi
if python3 -c "import tensorrt" 2>/dev/null; then
  for engine in "${ENGINES[@]}"; do
    echo "== $engine"
    python3 run.py --model "$engine" "$@"
  done
  exit 0
fi
TRTEXEC="$(command -v trtexec || echo /usr/src/tensorrt/bin/trtexec)"
SHAPE="$(python3 -c 'import json; b=json.load(open("bundle.json")); print(b["input_name"] + ":1x" + "x".join(map(str, b["sample_shape"])))')"
for engine in "${ENGINES[@]}"; do
  echo "== $engine (trtexec: GPU compute time and end-to-end latency; parity not checked)"
  "$TRTEXEC" --loadEngine="$engine" --shapes="$SHAPE" --warmUp=500 --iterations=500 --percentile=50,90,99 \
    | grep -E "Throughput|Latency|GPU Compute Time"
done
