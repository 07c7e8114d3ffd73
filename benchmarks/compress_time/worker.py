"""One route in a fresh process, as a user would run it: ``edgekit.compress``, or the same artifacts by hand (export,
quantize, a 200-iteration timing loop of each). Writes what it measured inside the process as JSON.

    python -m benchmarks.compress_time.worker {edgekit,by-hand} BACKEND PROFILE WORK_DIR OUT_JSON BATCH_SIZES FLOOR
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

INPUT_SHAPE = (1, 3, 224, 224)
WARMUP, ITERATIONS = 20, 200  # the by-hand timing loop: benchmark_app's and the profiles' classic counts


def _model(work: Path):
    import torch

    from benchmarks.compress_time.model import efficientnet_lite0

    model = efficientnet_lite0()
    model.load_state_dict(torch.load(work / "model.pt", weights_only=True))
    return model.eval()


# An untrained net's 1000 logits lie close together, so INT8 noise flips ~10% of its top-1s (cosine stays ~0.97) and
# the default floor (0.99) would send compress into its whole accuracy-aware search, which quantizing by hand never
# runs: the routes would not build the same artifacts. A trained net passes on the first attempt; so does this one at
# 0.8. To see what the search costs on this net, run the suite with --agreement-floor 0.99.
AGREEMENT_FLOOR = 0.8


def edgekit_route(backend: str, profile: str, work: Path, batch_sizes: tuple[int, ...], floor: float) -> dict:
    import edgekit
    from edgekit.profile import load_profile

    out = work / f"edgekit-{backend}"
    chosen = load_profile(profile).replace_section("verify", min_top1_agreement=floor)
    report = edgekit.compress(_model(work), chosen, calib_data=str(work / "calib.npz"), out_dir=str(out),
                              options=edgekit.RunOptions(force=True, input_shape=INPUT_SHAPE, batch_sizes=batch_sizes),
                              progress=False)
    return {"timings": report.timings, "status": {v.name: v.status for v in report.variants},
            "p50_ms": {v.name: v.latency_ms.get("batch_1", {}).get("p50") for v in report.variants},
            "search_attempts": {v.name: len(((v.quantization or {}).get("search") or {}).get("attempts", []))
                                for v in report.variants if v.quantization}}


def _loop(run) -> float:
    """The timing loop anyone writes: warm-up, then ITERATIONS timed calls; the median in ms."""
    for _ in range(WARMUP):
        run()
    seconds = []
    for _ in range(ITERATIONS):
        start = time.perf_counter()
        run()
        seconds.append(time.perf_counter() - start)
    return float(np.median(seconds) * 1000.0)


def by_hand_route(backend: str, threads: int, work: Path) -> dict:
    """torch.onnx.export, then quantize_static (ONNX Runtime) or convert_model + nncf.quantize (OpenVINO), then one
    200-iteration timing loop of the FP32 and the INT8 artifact at batch 1."""
    import torch

    steps: dict[str, float] = {}
    out = work / f"by-hand-{backend}"
    out.mkdir(parents=True, exist_ok=True)
    x = np.load(work / "calib.npz")["x"]
    start = time.perf_counter()
    fp32 = out / "model.onnx"
    torch.onnx.export(_model(work), (torch.from_numpy(x[:1]),), str(fp32), opset_version=17, dynamo=False,
                      input_names=["input"], output_names=["output"], dynamic_axes={"input": {0: "batch"}})
    steps["export"] = time.perf_counter() - start
    start = time.perf_counter()
    if backend == "onnxruntime":
        from benchmarks.shared.peer import quantize_by_hand

        int8 = quantize_by_hand(fp32, work / "calib.npz", out)
    else:
        import openvino as ov

        from benchmarks.openvino.prepare import quantize_by_hand

        ov.save_model(ov.convert_model(str(fp32)), str(out / "model_fp32.xml"), compress_to_fp16=False)
        fp32 = out / "model_fp32.xml"
        int8 = quantize_by_hand(out / "model.onnx", work / "calib.npz", out)
    steps["quantize"] = time.perf_counter() - start
    start = time.perf_counter()
    p50 = {name: _loop(_runner(backend, path, threads, x[:1])) for name, path in (("fp32", fp32), ("int8", int8))}
    steps["timing"] = time.perf_counter() - start
    return {"steps": steps, "p50_ms": p50}


def _runner(backend: str, path: Path, threads: int, x: np.ndarray):
    if backend == "onnxruntime":
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        return lambda: session.run(None, {name: x})
    import openvino as ov

    request = ov.Core().compile_model(str(path), "CPU", {"PERFORMANCE_HINT": "LATENCY"}).create_infer_request()
    return lambda: request.infer([x])


def main(argv: list[str]) -> int:
    route, backend, profile, work, out = argv[0], argv[1], argv[2], Path(argv[3]), Path(argv[4])
    batch_sizes = tuple(int(b) for b in argv[5].split(","))
    started = time.perf_counter()
    if route == "edgekit":
        result = edgekit_route(backend, profile, work, batch_sizes, float(argv[6]))
    else:
        from edgekit.profile import load_profile

        result = by_hand_route(backend, load_profile(profile).target.threads, work)
    result["route_s"] = time.perf_counter() - started
    out.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
