"""Which architecture families edgekit prunes: each tiny model of benchmarks/coverage/families.py through
edgekit's structured pruning (the same `edgekit.pruning.run.prune_module` a compress run calls).

    python -m benchmarks coverage [--families vit,swin] [--ratio 0.3] [--round-to 8] [--out benchmarks/RESULTS.md]
    python -m benchmarks coverage --compress onnxruntime,openvino   # + edgekit.compress --prune R with INT8 per backend

Per family: pass (the pruned model runs, same output shape, rebuilt from its factory + architecture.json +
state_dict with identical outputs; MACs and parameters left), refused (edgekit's PruneError: the layer and the
reason) or crash (anything else: an internal error, a defect). With --compress, each family that prunes also goes
through one `edgekit.compress(..., prune=ratio)` per backend (FP32 + INT8, batch 1, a few timed calls, parity
measured but not gated: random weights), and the table says whether its pruned-int8 variant was built. Writes only the section between
<!-- BEGIN coverage --> and <!-- END coverage --> of RESULTS.md; exit 1 when a family crashed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

from benchmarks.shared.results_md import write_block

RESULTS = Path(__file__).resolve().parents[1] / "RESULTS.md"


@dataclass
class Outcome:
    family: str
    verdict: str  # pass | refused | crash
    detail: str
    macs: float | None = None
    params: float | None = None
    heads: str = ""
    compressed: dict[str, str] | None = None  # backend -> "pruned-int8 built" or the error


PROFILE = """\
schema_version = 1
name = "coverage-{backend}"
description = "FP32 + INT8, batch 1, a few timed calls; parity measured, not gated (random weights)"

[target]
backend = "{backend}"
threads = 1

[quantize]
calibration_samples = 16

[compile]
precisions = ["fp32", "int8"]

[verify]
min_cosine = -1.0
min_top1_agreement = 0.0

[benchmark]
batch_sizes = [1]
warmup = 1
iterations = 3
target_ci = 0
"""


def compress_family(build, backend: str, ratio: float, root: Path) -> str:
    """One edgekit.compress of the family with pruning and INT8 on ``backend``: what came of its pruned-int8."""
    import numpy as np

    import edgekit
    from benchmarks.coverage.families import IMAGE_SIZE
    from edgekit.errors import EdgekitError

    (root / "profile.toml").write_text(PROFILE.format(backend=backend))
    x = np.random.default_rng(0).standard_normal((16, 3, IMAGE_SIZE, IMAGE_SIZE)).astype(np.float32)
    np.savez(root / "calib.npz", x=x)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            report = edgekit.compress(build(), str(root / "profile.toml"), out_dir=root / "out",
                                      calib_data=str(root / "calib.npz"), prune=edgekit.prune_config(ratio=ratio),
                                      progress=False)
    except EdgekitError as exc:
        return f"refused: {str(exc).splitlines()[0][:200]}"
    except Exception as exc:  # noqa: BLE001 - the finding: an internal error
        return f"crash: {type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
    built = {v.name: v for v in report.variants}
    variant = built.get("pruned-int8")
    return "pruned-int8 built" if variant and variant.artifact else f"no pruned-int8 ({', '.join(built)})"


def prune_family(family: str, build, ratio: float, round_to: int) -> Outcome:
    """One family through pruning, the forward check and the spec round trip."""
    import torch

    from benchmarks.coverage.families import example
    from edgekit.errors import PipelineError
    from edgekit.outputs import primary
    from edgekit.pruning.config import PruneConfig
    from edgekit.pruning.run import prune_module
    from edgekit.pruning.spec import load_pruned, save_pruned

    model, x = build(), example()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = prune_module(model, x, PruneConfig(ratio=ratio, round_to=round_to))
            out = primary(result.model(x))
            with tempfile.TemporaryDirectory() as tmp:
                paths = save_pruned(result.model, Path(tmp))
                rebuilt = load_pruned(build, paths["architecture"], paths["state_dict"])
                same = torch.allclose(primary(rebuilt(x)), out, atol=1e-5)
    except PipelineError as exc:
        return Outcome(family, "refused", str(exc).replace("\n", " "))
    except Exception as exc:  # noqa: BLE001 - the finding: an internal error
        return Outcome(family, "crash", f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
    if not same or out.shape != primary(model(x)).shape:
        return Outcome(family, "crash", "the rebuilt model's outputs differ" if not same else "output shape changed")
    heads = [f"{a}->{b.num_attention_heads}" for a, b in
             zip((m.num_attention_heads for m in model.modules() if _is_attention(m)),
                 (m for m in result.model.modules() if _is_attention(m)))]
    ratios = result.summary["ratios"]
    return Outcome(family, "pass", "", ratios["macs"], ratios["params"], ", ".join(dict.fromkeys(heads)))


def _is_attention(module) -> bool:
    from edgekit.pruning.structured import projections

    return isinstance(getattr(module, "num_attention_heads", None), int) and bool(projections(module))


def table(outcomes: list[Outcome], args: argparse.Namespace, wall: float) -> str:
    import platform

    import torch
    import torch_pruning
    import transformers

    from edgekit.hardware import detect

    host = detect()
    passed = sum(o.verdict == "pass" for o in outcomes)
    lines = ["## Structured pruning coverage: architecture families (transformers configs, tiny, random weights)", "",
             (f"Produced by `python -m benchmarks coverage --ratio {args.ratio} --round-to {args.round_to}"
              f"{f' --compress {args.compress}' if args.compress else ''}` in "
             f"{wall:.0f} s on {host.cpu_model} ({host.isa}), transformers {transformers.__version__}, torch "
             f"{torch.__version__}, Torch-Pruning {torch_pruning.__version__}, Python {platform.python_version()}. "
             "Each model is built from its config (depth and width shrunk, 32x32 input, "
             "`benchmarks/coverage/families.py`) and pruned by `edgekit.pruning.run.prune_module` (structured, "
             f"L2, ratio {args.ratio}, round_to {args.round_to} as compress on x86-avx2). pass = the pruned model "
             "runs, its output shape is unchanged, and it is rebuilt from the factory + architecture.json + "
             "state_dict with identical outputs. MACs/params: the share left (counted by edgekit's forward hooks on "
             "Conv/Linear). Heads: attention heads per block before -> after. No timing is reported (structure only); "
              "compress columns: whether `edgekit.compress` built the pruned-int8 variant (FP32 + INT8, batch 1, "
              "parity measured but not gated)."),
             "", (f"**{passed} of {len(outcomes)} families pruned**; "
                  f"{sum(o.verdict == 'refused' for o in outcomes)} refused with the layer and the reason; "
                  f"{sum(o.verdict == 'crash' for o in outcomes)} internal errors."), "",
             "| family | result | MACs left | params left | heads | refusal / error |"
             + "".join(f" compress {b} |" for b in args.backends), "|---|---|---|---|---|---|" + "---|" * len(args.backends)]
    for o in outcomes:
        lines.append(f"| {o.family} | {o.verdict} | {'' if o.macs is None else f'{o.macs:.2f}'} | "
                     f"{'' if o.params is None else f'{o.params:.2f}'} | {o.heads} | {o.detail.replace('|', '/')} |"
                     + "".join(f" {(o.compressed or {}).get(b, '').replace('|', '/')} |" for b in args.backends))
    for b in args.backends:
        built = sum((o.compressed or {}).get(b) == "pruned-int8 built" for o in outcomes)
        lines.append(f"\ncompress on {b} (prune {args.ratio} + INT8): pruned-int8 built for {built} of {len(outcomes)} "
                     "families.")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    from benchmarks.coverage.families import families

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--families", default="", help="comma-separated subset (default: all)")
    ap.add_argument("--ratio", type=float, default=0.3)
    ap.add_argument("--round-to", type=int, default=8, help="channel multiple (8: compress's value on x86-avx2)")
    ap.add_argument("--compress", default="", help="comma-separated backends to also run edgekit.compress on")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    args.backends = [b for b in args.compress.split(",") if b]
    builders = families()
    chosen = [f for f in args.families.split(",") if f] or list(builders)
    unknown = [f for f in chosen if f not in builders]
    if unknown:
        print(f"unknown family {', '.join(unknown)}; known: {', '.join(builders)}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    outcomes = []
    for family in chosen:
        outcomes.append(prune_family(family, builders[family], args.ratio, args.round_to))
        o = outcomes[-1]
        if o.verdict == "pass" and args.backends:
            o.compressed = {}
            for backend in args.backends:
                with tempfile.TemporaryDirectory() as tmp:
                    o.compressed[backend] = compress_family(builders[family], backend, args.ratio, Path(tmp))
                print(f"{family} compress {backend}: {o.compressed[backend]}", file=sys.stderr)
        print(f"{family}: {o.verdict} {o.detail[:200]}", file=sys.stderr)
    section = table(outcomes, args, time.perf_counter() - started)
    write_block(args.out, "coverage", section)
    print(section)
    return 1 if any(o.verdict == "crash" for o in outcomes) else 0
