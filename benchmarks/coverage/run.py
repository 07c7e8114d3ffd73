"""The coverage matrix: each architecture family of benchmarks/coverage/families.py (tiny models, random weights)
through export, INT8, structured pruning and distillation in edgekit.

    python -m benchmarks coverage [--families vit,swin] [--ratio 0.3] [--round-to 8] [--out benchmarks/RESULTS.md]
    python -m benchmarks coverage --compress onnxruntime,openvino   # + the compress columns per backend

Per family: structured pruning (the same `edgekit.pruning.run.prune_module` a compress run calls): pass (the pruned
model runs, same output shape, rebuilt from its factory + architecture.json + state_dict with identical outputs; MACs
and parameters left), refused (edgekit's PruneError: the layer and the reason) or crash (anything else: an internal
error, a defect). With --compress, one `edgekit.compress(..., prune=ratio)` per backend (FP32 + INT8, batch 1, a few
timed calls, parity gates off: random weights) gives the columns export (the FP32 artifact built, its parity with the
original cosine >= 0.9999 on every backend), INT8 (the unpruned int8 variant built and accepted: its INT8 kernels
run) and prune + INT8 (the pruned-int8 variant, likewise); on the first backend the run also distils the pruned model
from the original (`distill_config(epochs=2)`, random training inputs): the distillation column. A family that does
not prune runs compress without --prune. Writes only the section between <!-- BEGIN coverage --> and
<!-- END coverage --> of RESULTS.md; exit 1 when a cell crashed.
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
README = Path(__file__).resolve().parents[2] / "README.md"


@dataclass
class Outcome:
    family: str
    verdict: str  # pass | refused | crash
    detail: str
    macs: float | None = None
    params: float | None = None
    heads: str = ""
    compressed: dict[str, dict[str, str]] | None = None  # backend -> column -> cell ("pass", "refused: ...", ...)


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

# the export column: an FP32 artifact computes what the original does (cosine; or, for outputs that vanish, like the
# tiny random MobileNets' ~1e-34 logits whose cosine is noise, the absolute difference)
FP32_MIN_COSINE = 0.9999
FP32_MAX_ABS = 1e-6
COLUMNS = ("export", "int8", "pruned-int8", "distill")


def _variant_cell(variant) -> str:
    if variant is None or not variant.artifact:
        return "not built"
    return "pass" if variant.status == "accepted" else f"{variant.status}: {variant.reason.splitlines()[0][:160]}"


def _error_cell(exc: BaseException) -> str:
    from edgekit.errors import EdgekitError

    text = str(exc).splitlines()[0][:200] if str(exc) else ""
    return f"refused: {text}" if isinstance(exc, EdgekitError) else f"crash: {type(exc).__name__}: {text}"


def compress_family(build, backend: str, ratio: float | None, root: Path, *, distill: bool = False) -> dict[str, str]:
    """One edgekit.compress of the family on ``backend`` (with pruning at ``ratio`` unless None, and distillation of
    the pruned model when ``distill``): column -> cell. A run that fails with distillation is run again without it,
    so the failure lands in the distillation column alone."""
    import numpy as np

    import edgekit
    from benchmarks.coverage.families import IMAGE_SIZE

    (root / "profile.toml").write_text(PROFILE.format(backend=backend))
    x = np.random.default_rng(0).standard_normal((16, 3, IMAGE_SIZE, IMAGE_SIZE)).astype(np.float32)
    np.savez(root / "calib.npz", x=x)
    np.savez(root / "train.npz", x=np.random.default_rng(1).standard_normal((32, 3, IMAGE_SIZE, IMAGE_SIZE))
             .astype(np.float32))
    distilling = distill and ratio is not None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            report = edgekit.compress(
                build(), str(root / "profile.toml"), out_dir=root / f"out-{int(distilling)}",
                calib_data=str(root / "calib.npz"), progress=False,
                prune=edgekit.prune_config(ratio=ratio) if ratio is not None else None,
                **({"distill": edgekit.distill_config(epochs=2, batch_size=16), "train_data": str(root / "train.npz")}
                   if distilling else {}))
    except Exception as exc:  # noqa: BLE001 - the finding: a refusal (EdgekitError) or an internal error
        if distilling:
            cells = compress_family(build, backend, ratio, root)
            return {**cells, "distill": _error_cell(exc)}
        return dict.fromkeys(COLUMNS[:3], _error_cell(exc))
    built = {v.name: v for v in report.variants}
    fp32 = built.get("fp32")
    cells = {"export": _variant_cell(fp32), "int8": _variant_cell(built.get("int8")),
             "pruned-int8": _variant_cell(built.get("pruned-int8")) if ratio is not None else ""}
    cosine, max_abs = fp32.parity.get("cosine", 0.0) if fp32 else 0.0, fp32.parity.get("max_abs", 1.0) if fp32 else 1.0
    if cells["export"] == "pass" and cosine < FP32_MIN_COSINE and max_abs > FP32_MAX_ABS:
        cells["export"] = f"parity: cosine {cosine:.5f} < {FP32_MIN_COSINE}, max abs diff {max_abs:.2g}"
    if distilling:
        d = report.distillation
        cells["distill"] = f"pass ({d['epochs_run']} epochs, {d['steps']} steps)" if d else "not run"
    return cells


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


def _short(cell: str) -> str:
    if not cell:
        return "-"
    word = cell.split(":")[0].split(" (")[0]
    return f"**{word}**" if word == "crash" else word


def matrix(outcomes: list[Outcome], args: argparse.Namespace) -> list[str]:
    """The coverage table, one row per family (short verdicts), the per-column pass counts and the notes (every
    cell that did not pass, in full). Shared by RESULTS.md and the README."""
    columns = [("export", "export", None)]
    columns += [(f"INT8 {b}", "int8", b) for b in args.backends]
    columns += [(f"structured pruning {args.ratio:g}", "prune", None)]
    columns += [(f"prune + INT8 {b}", "pruned-int8", b) for b in args.backends]
    columns += [("distillation", "distill", args.backends[0])] if args.backends else []

    def cell(o: Outcome, key: str, backend: str | None) -> str:
        if key == "prune":
            return "pass" if o.verdict == "pass" else f"{o.verdict}: {o.detail}"
        by = o.compressed or {}
        if key in ("pruned-int8", "distill") and by and o.verdict != "pass":
            return "refused: structured pruning did not complete (its column says why)"
        if key == "export":  # the FP32 artifact on every backend
            failed = [f"{by[b]['export']} [{b}]" for b in args.backends if by.get(b, {}).get("export") != "pass"]
            return ("pass" if not failed else failed[0]) if by else ""
        return by.get(backend, {}).get(key, "")

    lines = ["| family | " + " | ".join(c[0] for c in columns) + " | MACs left | params left | heads |",
             "|---|" + "---|" * (len(columns) + 3)]
    notes: list[str] = []
    for o in outcomes:
        cells = [cell(o, key, b) for _, key, b in columns]
        lines.append(f"| {o.family} | " + " | ".join(_short(c) for c in cells) + f" | "
                     f"{'' if o.macs is None else f'{o.macs:.2f}'} | {'' if o.params is None else f'{o.params:.2f}'} | "
                     f"{o.heads} |")
        seen: dict[str, list[str]] = {}
        for (title, _, _), c in zip(columns, cells):
            if c and not c.startswith("pass") and not c.startswith("refused: structured pruning did not"):
                seen.setdefault(c, []).append(title)
        notes += [f"- {o.family}, {' / '.join(titles)}: {text.replace('|', '/')}" for text, titles in seen.items()]
    counts = []
    for title, key, b in columns:
        done = [cell(o, key, b) for o in outcomes]
        counts.append(f"{title} {sum(c.startswith('pass') for c in done)}/{sum(bool(c) for c in done)}")
    lines += ["", "Passed per column: " + "; ".join(counts) + "."]
    if notes:
        lines += ["", "Every cell that did not pass:", "", *notes]
    return lines


def table(outcomes: list[Outcome], args: argparse.Namespace, wall: float) -> str:
    import platform

    import torch
    import torch_pruning
    import transformers

    from edgekit.hardware import detect

    host = detect()
    crashed = sum(o.verdict == "crash" or any(c.startswith("crash") for b in (o.compressed or {}).values()
                                               for c in b.values()) for o in outcomes)
    lines = ["## Coverage matrix: architecture families (transformers configs, tiny, random weights)", "",
             (f"Produced by `python -m benchmarks coverage --ratio {args.ratio} --round-to {args.round_to}"
              f"{f' --compress {args.compress}' if args.compress else ''}` in "
              f"{wall:.0f} s on {host.cpu_model} ({host.isa}), transformers {transformers.__version__}, torch "
              f"{torch.__version__}, Torch-Pruning {torch_pruning.__version__}, Python {platform.python_version()}. "
              "Each model is built from its config (depth and width shrunk, 32x32 input, random weights, "
              "`benchmarks/coverage/families.py`). **structured pruning**: `edgekit.pruning.run.prune_module` "
              f"(L2, ratio {args.ratio}, round_to {args.round_to} as compress on x86-avx2); pass = the pruned model "
              "runs, its output shape is unchanged, and it is rebuilt from the factory + architecture.json + "
              "state_dict with identical outputs. The other columns come from one `edgekit.compress(model, "
              "prune=prune_config(ratio))` per backend (FP32 + INT8, batch 1, parity measured but gates off: random "
              "weights; a family that does not prune runs without `prune`): **export** = the FP32 artifact built on "
              f"every backend with cosine >= {FP32_MIN_COSINE} to the original (or max abs diff <= {FP32_MAX_ABS:g}: the "
              "tiny random MobileNets' logits vanish, ~1e-34, so for them every column says only that it builds and "
              "runs); **INT8** / **prune + INT8** = the "
              "int8 / pruned-int8 variant built and accepted (its INT8 kernels run); **distillation** = on the "
              f"{args.backends[0] if args.backends else ''} run, the pruned model distilled from the original for 2 "
              "epochs on 32 random inputs before export (`distill_config(epochs=2)`), completing. MACs/params: the "
              "share left after pruning (edgekit's forward hooks on Conv/Linear). Heads: attention heads per block "
              "before -> after. No timing is reported."),
             "", (f"**{len(outcomes)} families; {crashed} with an internal error (crash).**"), "",
             *matrix(outcomes, args)]
    return "\n".join(lines) + "\n"


README_BLOCK = "coverage"


def readme_section(outcomes: list[Outcome], args: argparse.Namespace) -> str:
    """The matrix as the README shows it (the README's own <!-- BEGIN coverage --> block)."""
    return "\n".join([
        (f"Produced by `python -m benchmarks coverage --compress {args.compress}` on an x86-avx2 CPU; every model is "
         "a tiny configuration of its transformers architecture with random weights (32x32 inputs), so the table "
         "says what builds and runs, not how accurate or fast it is. Method and versions: "
         "[benchmarks/RESULTS.md](benchmarks/RESULTS.md#coverage-matrix-architecture-families-transformers-configs-tiny-random-weights)."),
        "", *matrix(outcomes, args)]) + "\n"


def main(argv: list[str] | None = None) -> int:
    from benchmarks.coverage.families import families

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--families", default="", help="comma-separated subset (default: all)")
    ap.add_argument("--ratio", type=float, default=0.3)
    ap.add_argument("--round-to", type=int, default=8, help="channel multiple (8: compress's value on x86-avx2)")
    ap.add_argument("--compress", default="", help="comma-separated backends to also run edgekit.compress on")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--readme", type=Path, default=README,
                    help="README whose <!-- BEGIN coverage --> block gets the matrix (a full run with --compress only)")
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
        print(f"{family}: {o.verdict} {o.detail[:200]}", file=sys.stderr)
        if args.backends:
            o.compressed = {}
            for i, backend in enumerate(args.backends):
                with tempfile.TemporaryDirectory() as tmp:
                    o.compressed[backend] = compress_family(builders[family], backend,
                                                            args.ratio if o.verdict == "pass" else None, Path(tmp),
                                                            distill=i == 0)
                print(f"{family} compress {backend}: {o.compressed[backend]}", file=sys.stderr)
    section = table(outcomes, args, time.perf_counter() - started)
    write_block(args.out, "coverage", section)
    full = args.backends and not args.families
    if full and args.readme.exists() and f"<!-- BEGIN {README_BLOCK} -->" in args.readme.read_text():
        write_block(args.readme, README_BLOCK, readme_section(outcomes, args))
    print(section)
    crashed = any(o.verdict == "crash" or any(c.startswith("crash") for b in (o.compressed or {}).values()
                                              for c in b.values()) for o in outcomes)
    return 1 if crashed else 0
