#!/usr/bin/env python3
"""Build a TensorRT engine from an ONNX file: standalone (tensorrt + numpy), shipped in Jetson bundles.

    python trt_build.py model-int8.onnx --precision int8 --out model.plan [--workspace-mb 2048]
        [--dla-core 0] [--sparse-weights] [--batch-sizes 1,8] [--timing-cache timing.cache]
    python trt_build.py --environment          # JetPack/L4T, TensorRT, GPU, power mode as JSON
    python trt_build.py --bundle deploy/ [--variant int8]   # every engine of a bundle (or trtexec without bindings)

edgekit's `build-engine` command and its TensorRT backend call the same functions. TensorRT 10
and 11 differ (11 removed the INT8 calibrator and the weakly typed FP16/INT8 builder flags); the
code detects features with hasattr, never by parsing version strings:

- weakly typed (BuilderFlag.FP16/INT8 exist): the flags let TensorRT pick FP16/INT8 kernels; an
  explicitly quantized (Q/DQ) ONNX gets INT8 where its Q/DQ say so and FP16 elsewhere;
- strongly typed (NetworkDefinitionCreationFlag.STRONGLY_TYPED, the only mode once the flags are
  gone): precisions come from the ONNX types, so FP16 needs an FP16 ONNX (converted here with
  onnxconverter-common, inputs/outputs kept FP32) and INT8 comes from the Q/DQ nodes.

Every engine gets a sidecar ``<engine>.json`` (TensorRT version, compute capability, GPU, options,
ONNX hash): engines only run on the GPU and TensorRT version that built them, and the runner checks
the sidecar first so a mismatch is a clear message instead of a deserialization crash.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

PRECISIONS = ("fp32", "fp16", "int8")
JETPACK_BY_L4T = {"32": "4", "35": "5", "36": "6", "38": "7"}  # L4T major release -> JetPack major


class BuildError(RuntimeError):
    """A TensorRT build that cannot succeed; the message says why and what to do."""


@dataclass(frozen=True)
class BuildOptions:
    precision: str = "fp16"
    workspace_mb: int = 0  # 0 = TensorRT's default (all device memory)
    dla_core: int = -1  # -1 = GPU only
    gpu_fallback: bool = True  # DLA: run layers the DLA cannot on the GPU
    sparse_weights: bool = False  # use 2:4 structured-sparse kernels where the weights allow
    batch_sizes: tuple[int, ...] = (1,)  # optimization profile for a dynamic batch: min 1, opt first, max largest
    typing: str = "auto"  # auto | weak | strong

    def to_dict(self):
        return {**asdict(self), "batch_sizes": list(self.batch_sizes)}


def features(trt):
    """What this TensorRT offers, by attribute (TensorRT 10 has both typing modes; 11 only strong)."""
    flag = getattr(trt, "BuilderFlag", None)
    creation = getattr(trt, "NetworkDefinitionCreationFlag", None)
    return {"weak_typing": hasattr(flag, "FP16") and hasattr(flag, "INT8"),
            "strong_typing": hasattr(creation, "STRONGLY_TYPED"),
            "explicit_batch_flag": hasattr(creation, "EXPLICIT_BATCH"),
            "memory_pool": hasattr(getattr(trt, "MemoryPoolType", None), "WORKSPACE"),
            "sparse_weights": hasattr(flag, "SPARSE_WEIGHTS"),
            "timing_cache": hasattr(getattr(trt, "IBuilderConfig", object), "create_timing_cache"),
            "detailed_profiling": hasattr(getattr(trt, "ProfilingVerbosity", None), "DETAILED")}


def choose_typing(feat, options):
    if options.typing == "weak" and not feat["weak_typing"]:
        raise BuildError("this TensorRT has no weakly typed FP16/INT8 builder flags (TensorRT 11 removed them); "
                         "use --typing strong (or auto)")
    if options.typing == "strong" and not feat["strong_typing"]:
        raise BuildError("this TensorRT cannot build strongly typed networks; use --typing weak (or auto)")
    if options.typing != "auto":
        return options.typing
    if feat["weak_typing"]:
        return "weak"
    if feat["strong_typing"]:
        return "strong"
    raise BuildError("this TensorRT has neither FP16/INT8 builder flags nor strongly typed networks")


def check_options(options, feat, dla_cores):
    if options.precision not in PRECISIONS:
        raise BuildError(f"unknown precision {options.precision!r}; use one of {', '.join(PRECISIONS)}")
    if options.dla_core >= 0:
        if options.dla_core >= dla_cores:
            raise BuildError(f"DLA core {options.dla_core} requested but this device has {dla_cores} DLA core(s) "
                             "(Orin Nano has none; AGX Orin and Orin NX have 2). Set dla_core = -1.")
        if options.precision == "fp32":
            raise BuildError("the DLA runs FP16 or INT8 only; use --precision fp16/int8 or dla_core = -1")
    if options.sparse_weights and not feat["sparse_weights"]:
        raise BuildError("this TensorRT has no SPARSE_WEIGHTS builder flag; drop sparse_weights")


def convert_fp16(onnx_path, out_path):
    """FP16 ONNX for strongly typed builds (inputs/outputs stay FP32; Q/DQ scales untouched)."""
    try:
        import onnx
        from onnxconverter_common import float16
    except ImportError as exc:
        raise BuildError(f"FP16 on a strongly typed TensorRT needs an FP16 ONNX and onnxconverter-common is "
                         f"missing ({exc}); pip install onnx onnxconverter-common") from exc
    import warnings

    model = onnx.load(str(onnx_path))
    with warnings.catch_warnings():  # "weight x truncated to 1e-07": what FP16 means for tiny weights
        warnings.simplefilter("ignore", UserWarning)
        converted = float16.convert_float_to_float16(model, keep_io_types=True,
                                                     op_block_list=["QuantizeLinear", "DequantizeLinear"])
    onnx.save(converted, str(out_path))
    return out_path


def _parse(trt, network, logger, onnx_path):
    parser = trt.OnnxParser(network, logger)
    ok = parser.parse(Path(onnx_path).read_bytes())
    if not ok:
        errors = [str(parser.get_error(i).desc()) for i in range(parser.num_errors)]
        raise BuildError(f"TensorRT's ONNX parser rejected {onnx_path}: " + "; ".join(errors[:5]))
    return parser


def _network_inputs(network):
    return [network.get_input(i) for i in range(network.num_inputs)]


def _add_profile(trt, builder, config, network, batch_sizes):
    """One optimization profile covering every benchmarked batch size (min 1, opt the first, max the largest)."""
    dynamic = [t for t in _network_inputs(network) if any(d < 0 for d in t.shape)]
    if not dynamic:
        return None
    profile = builder.create_optimization_profile()
    shapes = {}
    for tensor in dynamic:
        dims = list(tensor.shape)
        if any(d < 0 for d in dims[1:]):
            raise BuildError(f"input '{tensor.name}' has dynamic non-batch dimensions {dims}; export it with a "
                             "fixed shape apart from the batch")
        rest = dims[1:]
        lo, opt, hi = ([1] + rest, [batch_sizes[0]] + rest, [max(batch_sizes)] + rest)
        profile.set_shape(tensor.name, lo, opt, hi)
        shapes[tensor.name] = {"min": lo, "opt": opt, "max": hi}
    config.add_optimization_profile(profile)
    return shapes


def _configure(trt, builder, config, options, typing, feat):
    flags = []
    if options.workspace_mb > 0:
        if feat["memory_pool"]:
            config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, options.workspace_mb << 20)
        else:
            config.max_workspace_size = options.workspace_mb << 20
    if typing == "weak":
        if options.precision in ("fp16", "int8"):
            config.set_flag(trt.BuilderFlag.FP16)
            flags.append("FP16")
        if options.precision == "int8":
            config.set_flag(trt.BuilderFlag.INT8)
            flags.append("INT8")
    if options.sparse_weights:
        config.set_flag(trt.BuilderFlag.SPARSE_WEIGHTS)
        flags.append("SPARSE_WEIGHTS")
    if options.dla_core >= 0:
        config.default_device_type = trt.DeviceType.DLA
        config.DLA_core = options.dla_core
        if options.gpu_fallback:
            config.set_flag(trt.BuilderFlag.GPU_FALLBACK)
            flags.append("GPU_FALLBACK")
    if feat["detailed_profiling"]:
        config.profiling_verbosity = trt.ProfilingVerbosity.DETAILED  # layer precisions readable by the inspector
    return flags


def _timing_cache(config, path):
    data = Path(path).read_bytes() if path and Path(path).exists() else b""
    cache = config.create_timing_cache(data)
    config.set_timing_cache(cache, False)
    return len(data) > 0


def _save_timing_cache(config, path):
    serialized = config.get_timing_cache().serialize()
    _atomic_write(Path(path), bytes(serialized))


def _atomic_write(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def engine_key(onnx_sha256, trt_version, compute_capability, options):
    """The engine cache key: an engine is reusable only for the same ONNX, TensorRT, GPU and options."""
    payload = json.dumps({"onnx": onnx_sha256, "tensorrt": trt_version, "cc": list(compute_capability),
                          "options": options.to_dict()}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def build_engine(onnx_path, plan_path, options, *, trt=None, cuda=None, timing_cache=None, log=None):
    """Build ``plan_path`` (+ ``plan_path``.json) from ``onnx_path``; returns the sidecar's content."""
    if trt is None:
        import tensorrt as trt
    log = log or (lambda message: None)
    feat = features(trt)
    typing = choose_typing(feat, options)
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    check_options(options, feat, getattr(builder, "num_DLA_cores", 0))
    source = Path(onnx_path)
    with tempfile.TemporaryDirectory(prefix="edgekit-trt-") as tmp:
        if typing == "strong" and options.precision == "fp16":
            log("strongly typed TensorRT: converting the ONNX to FP16 first")
            source = convert_fp16(onnx_path, Path(tmp) / "model-fp16.onnx")
        creation = 0
        if typing == "strong":
            creation |= 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
        elif feat["explicit_batch_flag"]:
            creation |= 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
        network = builder.create_network(creation)
        _parse(trt, network, logger, source)
        config = builder.create_builder_config()
        flags = _configure(trt, builder, config, options, typing, feat)
        shapes = _add_profile(trt, builder, config, network, options.batch_sizes)
        cache_hit = _timing_cache(config, timing_cache) if timing_cache and feat["timing_cache"] else None
        log(f"building {options.precision} engine ({typing}ly typed, flags {flags or 'none'})")
        started = time.perf_counter()
        serialized = builder.build_serialized_network(network, config)
        build_s = time.perf_counter() - started
        if serialized is None:
            raise BuildError(f"TensorRT could not build an engine from {onnx_path} (see its log above); "
                             "try a larger workspace_mb, or another precision")
        if timing_cache and feat["timing_cache"]:
            _save_timing_cache(config, timing_cache)
    plan = Path(plan_path)
    _atomic_write(plan, bytes(serialized))
    meta = {"tensorrt": trt.__version__, **device_facts(cuda), "precision": options.precision, "typing": typing,
            "flags": flags, "options": options.to_dict(), "profile_shapes": shapes, "build_s": round(build_s, 3),
            "timing_cache": None if cache_hit is None else {"path": str(timing_cache), "reused": cache_hit},
            "onnx": {"path": str(onnx_path), "sha256": sha256_file(onnx_path)}, "features": feat}
    meta["key"] = engine_key(meta["onnx"]["sha256"], meta["tensorrt"], meta["compute_capability"], options)
    _atomic_write(sidecar(plan), (json.dumps(meta, indent=2) + "\n").encode())
    return meta


def sidecar(plan_path):
    plan_path = Path(plan_path)
    return plan_path.with_name(plan_path.name + ".json")


def device_facts(cuda=None):
    """GPU name and compute capability through the CUDA runtime (cuda_runtime.py beside this file)."""
    if cuda is None:
        cuda = _cuda_runtime()
    major, minor = cuda.compute_capability(0)
    return {"compute_capability": [major, minor], "gpu": cuda.device_name(0)}


def _cuda_runtime():
    try:
        from . import cuda_runtime
    except ImportError:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import cuda_runtime
    return cuda_runtime.CudaRuntime()


def check_engine_matches(plan_path, trt_version, compute_capability):
    """None when the engine was built by this TensorRT for this GPU, else why it cannot run here."""
    side = sidecar(plan_path)
    if not side.exists():
        return None  # an engine from elsewhere: TensorRT itself will refuse a mismatch
    meta = json.loads(side.read_text())
    problems = []
    if meta.get("tensorrt") != trt_version:
        problems.append(f"built with TensorRT {meta.get('tensorrt')}, this is {trt_version}")
    if list(meta.get("compute_capability", [])) != list(compute_capability):
        problems.append(f"built for compute capability {meta.get('compute_capability')}, this GPU is "
                        f"{list(compute_capability)}")
    if problems:
        return (f"{plan_path} cannot run here: " + "; ".join(problems) +
                ". Engines are tied to the GPU and TensorRT version: rebuild it on this device "
                "(edgekit build-engine BUNDLE, or deploy/jetson/build_engine.sh).")
    return None


# --- the device: JetPack / L4T, power mode, clocks ---------------------------------------------------

def _root():
    return Path(os.environ.get("EDGEKIT_SYSFS_ROOT", "/"))


def _run(command):
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, str(exc)
    return done.returncode, (done.stdout + done.stderr).strip()


def jetson_facts(run=_run):
    """L4T release (-> JetPack major), nvpmodel mode, and whether jetson_clocks pinned the clocks."""
    release = _root() / "etc" / "nv_tegra_release"
    if not release.exists():
        return {"jetson": False}
    text = release.read_text(errors="replace")
    facts = {"jetson": True, "l4t_release": text.splitlines()[0].strip() if text else ""}
    match = re.search(r"R(\d+)\s*\(release\),\s*REVISION:\s*([\d.]+)", text)
    if match:
        facts["l4t"] = f"{match.group(1)}.{match.group(2)}"
        facts["jetpack_major"] = JETPACK_BY_L4T.get(match.group(1), "unknown")
    model = _root() / "proc" / "device-tree" / "model"
    if model.exists():
        facts["model"] = model.read_text(errors="replace").strip("\0 \n")
    code, text = run(["nvpmodel", "-q"])
    facts["nvpmodel"] = _nvpmodel(text) if code == 0 else f"unknown (nvpmodel -q: {text or 'not found'})"
    code, text = run(["jetson_clocks", "--show"])
    facts["jetson_clocks"] = _clocks_pinned(text) if code == 0 else f"unknown (jetson_clocks --show: " \
                                                                    f"{(text or 'not found').splitlines()[-1][:120]})"
    return facts


def _nvpmodel(text):
    match = re.search(r"NV Power Mode:[ \t]*(\S+)[ \t]*(?:\r?\n[ \t]*(\d+))?", text)
    if not match:
        return text.splitlines()[0][:120] if text else "unknown"
    return f"{match.group(1)} (mode {match.group(2)})" if match.group(2) else match.group(1)


def _clocks_pinned(text):
    """jetson_clocks pins each CPU's MinFreq to its MaxFreq; unpinned clocks scale (and latency with them)."""
    cpus = re.findall(r"cpu\d+:.*?MinFreq=(\d+)\s+MaxFreq=(\d+)", text)
    if not cpus:
        return "unknown (no CPU lines in jetson_clocks --show)"
    return "on (clocks pinned to max)" if all(lo == hi for lo, hi in cpus) else "off (clocks scale with load)"


def environment(trt=None, cuda=None, run=_run):
    """Everything a device benchmark must record: TensorRT, GPU, JetPack, power mode, clocks."""
    facts = {"host": platform.node(), "machine": platform.machine(), "python": platform.python_version()}
    try:
        if trt is None:
            import tensorrt as trt
        facts["tensorrt"] = trt.__version__
        facts["tensorrt_features"] = features(trt)
    except ImportError as exc:
        facts["tensorrt"] = f"missing ({exc})"
    try:
        facts.update(device_facts(cuda))
    except Exception as exc:  # no GPU / no libcudart: recorded, not fatal here
        facts["gpu"] = f"unavailable ({exc})"
    facts.update(jetson_facts(run))
    trtexec = find_trtexec()
    facts["trtexec"] = trtexec or "not found"
    return facts


# --- trtexec fallback (no TensorRT Python bindings on the device) --------------------------------------

TRTEXEC_PATHS = ("/usr/src/tensorrt/bin/trtexec", "/usr/local/tensorrt/bin/trtexec")


def find_trtexec():
    found = shutil.which("trtexec")
    return found or next((p for p in TRTEXEC_PATHS if Path(p).exists()), None)


def trtexec_command(trtexec, onnx_path, plan_path, options, input_name, sample_shape, weak_typing=True,
                    timing_cache=None):
    """The trtexec equivalent of build_engine (same precision flags, shapes, workspace, DLA, sparsity)."""
    cmd = [trtexec, f"--onnx={onnx_path}", f"--saveEngine={plan_path}", "--skipInference"]
    if weak_typing:
        cmd += {"fp32": [], "fp16": ["--fp16"], "int8": ["--fp16", "--int8"]}[options.precision]
    else:
        cmd.append("--stronglyTyped")
    if options.workspace_mb > 0:
        cmd.append(f"--memPoolSize=workspace:{options.workspace_mb}M")
    if options.sparse_weights:
        cmd.append("--sparsity=enable")
    if options.dla_core >= 0:
        cmd.append(f"--useDLACore={options.dla_core}")
        if options.gpu_fallback:
            cmd.append("--allowGPUFallback")
    if timing_cache:
        cmd.append(f"--timingCacheFile={timing_cache}")
    dims = "x".join(str(d) for d in sample_shape)
    lo, opt, hi = 1, options.batch_sizes[0], max(options.batch_sizes)
    cmd += [f"--minShapes={input_name}:{lo}x{dims}", f"--optShapes={input_name}:{opt}x{dims}",
            f"--maxShapes={input_name}:{hi}x{dims}"]
    return cmd


TRTEXEC_STAT = re.compile(r"(GPU Compute Time|Latency|H2D Latency|D2H Latency): min = ([\d.]+) ms, max = ([\d.]+) ms, "
                          r"mean = ([\d.]+) ms, median = ([\d.]+) ms, percentile\((\d+)%\) = ([\d.]+) ms"
                          r"(?:, percentile\((\d+)%\) = ([\d.]+) ms)?(?:, percentile\((\d+)%\) = ([\d.]+) ms)?")


def parse_trtexec_times(text):
    """trtexec's performance summary: {"GPU Compute Time": {"min":..,"p50":..,"p90":..,"p99":..}, ...}."""
    stats = {}
    for match in TRTEXEC_STAT.finditer(text):
        groups = match.groups()
        entry = {"min": float(groups[1]), "max": float(groups[2]), "mean": float(groups[3]), "p50": float(groups[4])}
        for pct, value in zip(groups[5::2], groups[6::2]):
            if pct:
                entry[f"p{pct}"] = float(value)
        stats[groups[0]] = entry
    match = re.search(r"Throughput: ([\d.]+) qps", text)
    if match:
        stats["throughput_qps"] = float(match.group(1))
    return stats


# --- a bundle's deploy/ folder (bundle.json): what deploy/jetson/build_engine.sh runs ----------------

def bundle_variants(deploy, names=()):
    info = json.loads((Path(deploy) / "bundle.json").read_text())
    chosen = [v for v in info["variants"] if not names or v["name"] in names]
    unknown = set(names) - {v["name"] for v in info["variants"]}
    if unknown:
        raise BuildError(f"no variant(s) {sorted(unknown)} in bundle.json; have {[v['name'] for v in info['variants']]}")
    return info, chosen


def trtexec_has_weak_typing(trtexec, run=_run):
    code, text = run([trtexec, "--help"])
    return code == 0 and "--int8" in text


def build_bundle(deploy, names=(), log=print, run=_run):
    """Build every (or the named) variant's engine into deploy/engines/: TensorRT's Python API when the
    bindings import, else trtexec with the options recorded in bundle.json."""
    deploy = Path(deploy)
    info, chosen = bundle_variants(deploy, names)
    (deploy / "engines").mkdir(exist_ok=True)
    try:
        import tensorrt  # noqa: F401
        python_api = True
    except ImportError:
        python_api = False
    trtexec = None if python_api else find_trtexec()
    if not python_api and not trtexec:
        raise BuildError("neither the TensorRT Python bindings nor trtexec are on this machine: install JetPack's "
                         "TensorRT (sudo apt install nvidia-tensorrt python3-libnvinfer) or pip install tensorrt")
    built = []
    for v in chosen:
        engine = deploy / v["engine"]
        if python_api:
            build = {k: val for k, val in info["build"].items() if k != "precision"}
            options = BuildOptions(**{**build, "precision": v["precision"], "batch_sizes": tuple(build["batch_sizes"])})
            meta = build_engine(deploy / v["onnx"], engine, options, timing_cache=deploy / "engines" / "timing.cache",
                                log=log)
            log(f"{v['name']}: {engine} ({meta['typing']}ly typed, {meta['build_s']:.1f} s)")
        else:
            args = v["trtexec"] if trtexec_has_weak_typing(trtexec, run) else v["trtexec_strongly_typed"]
            log(f"{v['name']}: trtexec {' '.join(args)}")
            code = subprocess.run([trtexec, *args], cwd=deploy, check=False).returncode
            if code != 0:
                raise BuildError(f"trtexec failed for {v['name']} (exit {code}); its log is above")
        built.append(str(engine))
    return built


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("onnx", nargs="?")
    parser.add_argument("--out", help="engine file to write (default: beside the ONNX, .plan)")
    parser.add_argument("--precision", choices=PRECISIONS, default="fp16")
    parser.add_argument("--workspace-mb", type=int, default=0)
    parser.add_argument("--dla-core", type=int, default=-1)
    parser.add_argument("--no-gpu-fallback", action="store_true")
    parser.add_argument("--sparse-weights", action="store_true")
    parser.add_argument("--batch-sizes", default="1")
    parser.add_argument("--typing", choices=("auto", "weak", "strong"), default="auto")
    parser.add_argument("--timing-cache")
    parser.add_argument("--environment", action="store_true", help="print the device facts as JSON and exit")
    parser.add_argument("--bundle", help="a bundle's deploy/ folder: build its variants' engines (bundle.json)")
    parser.add_argument("--variant", action="append", default=[], help="with --bundle: only this variant (repeatable)")
    args = parser.parse_args(argv)
    if args.environment:
        print(json.dumps(environment(), indent=2))
        return 0
    if args.bundle:
        try:
            build_bundle(args.bundle, tuple(args.variant), log=lambda m: print(m, file=sys.stderr))
        except BuildError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        return 0
    if not args.onnx:
        parser.error("give an ONNX file (or --environment)")
    options = BuildOptions(args.precision, args.workspace_mb, args.dla_core, not args.no_gpu_fallback,
                           args.sparse_weights, tuple(int(b) for b in args.batch_sizes.split(",")), args.typing)
    out = args.out or str(Path(args.onnx).with_suffix(".plan"))
    try:
        meta = build_engine(args.onnx, out, options, timing_cache=args.timing_cache,
                            log=lambda m: print(m, file=sys.stderr))
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {out} ({meta['precision']}, {meta['typing']}ly typed, TensorRT {meta['tensorrt']}, "
          f"{meta['gpu']} sm_{''.join(map(str, meta['compute_capability']))}, built in {meta['build_s']:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
