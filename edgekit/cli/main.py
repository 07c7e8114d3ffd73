"""`edgekit` command group. Heavy modules are imported inside commands so --help stays fast."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import rich_click as click

from edgekit import __version__
from edgekit.cli.distill import DISTILL_PARAMS, distill_options, pop_distill
from edgekit.cli.energy import energy_options
from edgekit.cli.errors import handle_errors
from edgekit.cli.options import INTS, option_panels
from edgekit.cli.prune import PRUNE_PARAMS, pop_prune, prune_options
from edgekit.cli.run_options import (BENCH_PARAMS, CHECK_PARAMS, DATA_PARAMS, MODEL_PARAMS, OUTPUT_PARAMS,
                                     output_option, pop_run_options, run_options, task_option)
from edgekit.cli.sweep import sweep as sweep_command
from edgekit.errors import ExitCode
from edgekit.report.speed import DEFAULT_OBJECTIVE, OBJECTIVES

DEMO_MODEL = "edgekit.demo:digits_cnn"

click.rich_click.TEXT_PARAGRAPH_LINEBREAKS = "\n\n"  # keep the docstrings' paragraphs apart in --help


def _is_demo_bundle(path: Path) -> bool:
    try:
        manifest = json.loads((path / "manifest.json").read_text())
    except (OSError, ValueError):
        return False
    return manifest.get("input_model", {}).get("source") == DEMO_MODEL


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="edgekit")
@click.option("--debug", is_flag=True, help="Show tracebacks on errors.")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug logs).")
def cli(debug: bool, verbose: int) -> None:
    """Compress a trained PyTorch model for an edge target and prove the result with measured numbers.

    \b
    edgekit demo         # the whole pipeline on a built-in digits CNN
    edgekit compress model.pt2 --calib-data c.npz --eval-data e.npz --out b
    edgekit verify b     # the bundle's files and parity, before deploying
    """
    level = logging.DEBUG if verbose > 1 or debug else logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


def _run_compress(model: Any, out: Path, **kwargs: Any) -> Any:
    from edgekit.api import compress
    from edgekit.cli.ui import RichProgress, print_report
    from edgekit.distill.distributed import is_main_process

    if not is_main_process():  # under torchrun rank 0 alone draws progress and prints the report
        return compress(model, out_dir=out, progress=False, **kwargs)
    with RichProgress() as progress:
        report = compress(model, out_dir=out, progress=progress, **kwargs)
    print_report(report)
    return report


def _exit_for(report: Any) -> None:
    """A rejected variant is a failed verification: the exit code says so even though a bundle was written."""
    if report.rejected:
        click.echo(f"{len(report.rejected)} variant(s) rejected by verification (see report.md); "
                   f"exit code {int(ExitCode.VERIFICATION_FAILED)}.", err=True)
        raise SystemExit(int(ExitCode.VERIFICATION_FAILED))


@cli.command()
@click.argument("model")
@click.option("--profile", "-p", help="Profile name or TOML file (default: this host's, see `edgekit profiles list`).")
@click.option("--calib-data", help="Calibration data: .npz (x[, y]; a multi-input ONNX model: one array per input, named after it), image folder, or module:callable.")
@click.option("--eval-data", help="Evaluation data with labels (y) for the accuracy budget; same forms.")
@click.option("--out", "-o", type=click.Path(path_type=Path), required=True, help="Output bundle directory.")
@run_options
@prune_options
@distill_options
@click.option("--objective", type=click.Choice(OBJECTIVES), default=DEFAULT_OBJECTIVE, show_default=True,
              help="What the recommended variant is best at: p50 latency, items/s, artifact size or joules per "
                   "inference (needs --energy); ties within the timing noise go to the smaller artifact.")
@option_panels(("Model", MODEL_PARAMS), ("Data", ("calib_data", "eval_data", *DATA_PARAMS)),
               ("Target, quantization, verification", ("profile", *CHECK_PARAMS)), ("Pruning", PRUNE_PARAMS),
               ("Distillation", DISTILL_PARAMS), ("Benchmark and energy", (*BENCH_PARAMS, "objective")),
               ("Output", ("out", *OUTPUT_PARAMS)))
@handle_errors
def compress(model: str, profile: str | None, out: Path, **kwargs: Any) -> None:
    """Export, [prune,] quantize (INT8), verify and benchmark MODEL; write a deployable bundle to --out.

    MODEL: a torch.export .pt2, TorchScript file, .onnx file, or package.module:factory with --weights
    (pruning needs the factory form or a Python module: traced graphs have no layers to remove).

    \b
    edgekit compress model.pt2 --calib-data c.npz --eval-data e.npz --out b
    edgekit compress pkg.mod:net --weights w.pt ... --prune 0.5
    edgekit compress pkg.mod:net --weights w.pt ... --prune 0.6 \\
        --distill --train-data train.npz --epochs 20
    edgekit compress model.onnx -p x86-openvino --calib-data c.npz --out b
    """
    options = pop_run_options(kwargs)
    prune = pop_prune(kwargs, profile)
    kwargs.update(pop_distill(kwargs))
    report = _run_compress(model, out, profile=profile, prune=prune, options=options, **kwargs)
    _exit_for(report)


@cli.command()
@click.option("--out", "-o", type=click.Path(path_type=Path), default=Path("edgekit-demo"), show_default=True,
              help="Bundle directory (a previous demo bundle there is replaced; anything else is left alone).")
@click.option("--profile", "-p", help="Profile (default: this host's).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the teacher's training and the run.")
@handle_errors
def demo(out: Path, profile: str | None, seed: int) -> None:
    """Train a small CNN on scikit-learn's digits (cached) and run the whole pipeline on it."""
    from edgekit.demo import prepare_demo
    from edgekit.errors import OutputExistsError

    if out.exists() and not _is_demo_bundle(out):
        raise OutputExistsError(f"{out} exists and was not made by `edgekit demo`; it is left untouched.",
                                "Pass another --out.")
    assets = prepare_demo(seed)
    source = "cached" if assets.cached else "trained"
    click.echo(f"Digits CNN teacher {source}: {assets.test_accuracy:.2f}% on 540 held-out digits "
               f"({assets.weights.parent})", err=True)
    from edgekit.pipeline.options import RunOptions

    report = _run_compress(DEMO_MODEL, out, profile=profile, calib_data=str(assets.calib), eval_data=str(assets.eval),
                           options=RunOptions(weights=assets.weights, seed=seed, force=True))
    _exit_for(report)


@cli.command()
@click.argument("artifact", type=click.Path(path_type=Path))
@click.option("--profile", "-p", help="Profile whose runtime settings to use (default: this host's).")
@click.option("--data", help="Inputs (.npz with x) to time on (default: random inputs).")
@click.option("--batch-sizes", type=INTS, help="Batch sizes, e.g. 1,8.")
@click.option("--json", "json_out", type=click.Path(path_type=Path), help="Also write the result as JSON here.")
@energy_options
@handle_errors
def bench(artifact: Path, profile: str | None, data: str | None, batch_sizes: Any, json_out: Path | None,
          energy: str | None, tdp_watts: float | None, energy_seconds: float | None) -> None:
    """Benchmark one ONNX artifact (latency percentiles, throughput, peak RSS, GOP/s and % of this host's peak;
    energy with --energy)."""
    from edgekit.api import benchmark
    from edgekit.cli.ui import RichProgress, key_value_table, out
    from edgekit.report.efficiency import efficiency_cells
    from edgekit.report.energy import energy_lines

    with RichProgress() as progress:
        result = benchmark(artifact, profile, data=data, batch_sizes=batch_sizes, energy=energy,
                           energy_seconds=energy_seconds, tdp_watts=tdp_watts, progress=progress)
    rows = {f"{b} p50 / p90 / p99 ms": f"{s['p50']:.3f} / {s['p90']:.3f} / {s['p99']:.3f}"
            for b, s in result["latency_ms"].items()}
    rows.update({f"{b} items/s": f"{v:.1f}" for b, v in result["throughput_per_s"].items()})
    rows["load s"] = f"{result['load_s']:.3f}"
    rows["peak RSS MiB"] = f"{(result.get('peak_rss_bytes') or 0) / 2**20:.1f}"
    rows["inputs"] = "random" if result["random_inputs"] else str(data)
    e = result["efficiency"]
    if "unavailable" in e:
        rows["GOP/s, % of peak"] = f"n/a: {e['unavailable']}"
    else:
        rows.update({"computes in": e["precision"], **efficiency_cells(e)})
    out.print(key_value_table(f"{artifact} · {result['profile']}", rows))
    if "peak_basis" in e:
        out.print(f"peak: {e['peak_basis']}", markup=False, highlight=False)
    for line in energy_lines(result["energy"]):
        out.print(line, markup=False, highlight=False)
    if json_out:
        json_out.write_text(json.dumps(result, indent=2))


@cli.command()
@click.argument("model")
@click.option("--input-shape", type=INTS, help="Input shape for torch models, e.g. 1,3,224,224.")
@click.option("--weights", type=click.Path(path_type=Path), help="state_dict for a module:factory MODEL.")
@click.option("--trust-pickle", is_flag=True, help="Allow loading a whole pickled nn.Module.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
@click.option("--tensorrt-rules", is_flag=True,
              help="Check an ONNX file against TensorRT's explicit-quantization rules (exit 9 if it breaks them).")
@output_option
@task_option
@handle_errors
def inspect(model: str, input_shape: Any, weights: Path | None, trust_pickle: bool, as_json: bool,
            tensorrt_rules: bool, output: str | None, task: str | None) -> None:
    """Parameters, MACs, layer table and input/output shapes of MODEL."""
    from edgekit.api import inspect_model

    if tensorrt_rules:
        _tensorrt_rules(model, as_json)
        return

    summary = inspect_model(model, input_shape=input_shape, weights=weights, trust_pickle=trust_pickle,
                            output=output, task=task)
    if as_json:
        click.echo(json.dumps(summary.to_dict(with_layers=True), indent=2))
        return
    from rich.table import Table

    from edgekit.cli.ui import key_value_table, out

    out.print(key_value_table(str(model), {"parameters": f"{summary.params:,}", "MACs / sample": f"{summary.macs:,}",
                                           "inputs": summary.inputs, "outputs": summary.outputs, "opset": summary.opset}))
    table = Table(title="layers (conv / gemm / matmul)", title_justify="left")
    # module: the name --prune-layer / --prune-ignore / --hint take; the ONNX node only where it differs
    for header in ("module", "ONNX node", "op", "weight", "output", "params", "MACs"):
        table.add_column(header, justify="right" if header in ("params", "MACs") else "left")
    for layer in summary.layers:
        table.add_row(layer.module or layer.name, "" if layer.module in ("", layer.name) else layer.name, layer.op,
                      str(list(layer.weight_shape)), str(list(layer.output_shape)), f"{layer.params:,}",
                      f"{layer.macs:,}")
    out.print(table)


def _tensorrt_rules(model: str, as_json: bool) -> None:
    from edgekit.api import tensorrt_rules
    from edgekit.errors import VerificationError
    from edgekit.backends.tensorrt.rules import describe_violations

    result = tensorrt_rules(model)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
        if not result.ok:
            raise SystemExit(int(ExitCode.VERIFICATION_FAILED))
        return
    click.echo(result.summary())
    if not result.ok:
        raise VerificationError(f"{model} breaks TensorRT's explicit-quantization rules, so TensorRT would reject "
                                f"it or not run it as INT8: {describe_violations(result)}",
                                "Or let edgekit quantize it: edgekit compress MODEL --profile jetson-orin-nano ...")


@cli.command()
@click.argument("bundle", type=click.Path(path_type=Path))
@handle_errors
def verify(bundle: Path) -> None:
    """Check BUNDLE against its manifest.json and re-run the deployed model's parity on deploy/sample.npz.

    Every listed file's sha256 (changed, missing), files it does not list (TensorRT engines and reports written
    on the device aside) and, when all match, deploy/run.py --check. Exit 0 when intact, 9 when anything differs.
    """
    from edgekit.cli.ui import bundle_check_table, out
    from edgekit.pipeline.verify_bundle import verify_bundle

    check = verify_bundle(bundle)
    out.print(bundle_check_table(check))
    check.raise_for_problems()
    click.echo(f"{bundle}: intact (every file matches manifest.json; parity {check.parity['status']}).")


@cli.command("build-engine")
@click.argument("bundle", type=click.Path(path_type=Path))
@click.option("--variant", "variants", multiple=True, help="Only this variant (repeatable; default: all in bundle.json).")
@click.option("--force", is_flag=True, help="Replace this device's existing report in BUNDLE/device/.")
@handle_errors
def build_engine(bundle: Path, variants: tuple[str, ...], force: bool) -> None:
    """On the Jetson/GPU: build the TensorRT engines of BUNDLE, verify them against the original and benchmark them."""
    from edgekit.api import build_engine as build
    from edgekit.cli.ui import RichProgress, print_report

    with RichProgress() as progress:
        report = build(bundle, variants=variants, force=force, progress=progress)
    print_report(report)
    _exit_for(report)


@cli.command()
@click.argument("model")
@click.option("--out", "-o", type=click.Path(path_type=Path), required=True, help="Output .onnx file.")
@click.option("--input-shape", type=INTS, help="Input shape, e.g. 1,3,224,224.")
@click.option("--weights", type=click.Path(path_type=Path), help="state_dict for a module:factory MODEL.")
@click.option("--trust-pickle", is_flag=True, help="Allow loading a whole pickled nn.Module (runs code from the file).")
@click.option("--opset", type=int, default=17, show_default=True, help="ONNX opset of the exported file.")
@click.option("--force", is_flag=True, help="Replace --out if it exists.")
@click.option("--random-weights", is_flag=True, help="A module:factory MODEL without --weights: export random weights.")
@output_option
@task_option
@handle_errors
def export(model: str, out: Path, input_shape: Any, weights: Path | None, trust_pickle: bool, opset: int,
           force: bool, random_weights: bool, output: str | None, task: str | None) -> None:
    """Export a torch model to FP32 ONNX with a dynamic batch dimension."""
    from edgekit.api import export as export_model

    path = export_model(model, out, input_shape=input_shape, weights=weights, trust_pickle=trust_pickle,
                        opset=opset, force=force, random_weights=random_weights, output=output, task=task)
    click.echo(f"wrote {path}")


@cli.group()
def profiles() -> None:
    """List, show and validate hardware profiles."""


@profiles.command("list")
@handle_errors
def profiles_list() -> None:
    """Built-in profiles (the default for this host is marked *)."""
    from edgekit.profile import builtin_profile_names, default_profile_name, load_profile

    from edgekit.hardware import detect

    host = detect()
    default = default_profile_name(host)
    click.echo(f"this host: {host.isa} ({host.cpu_model}); * = its default profile")
    for name in builtin_profile_names():
        prof = load_profile(name)
        mark = "*" if name == default else " "
        click.echo(f"{mark} {name:<25} {prof.target.backend:<12} {prof.target.isa:<10} {prof.description}")


@profiles.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of TOML.")
@handle_errors
def profiles_show(name: str, as_json: bool) -> None:
    """Print a profile with every default filled in, as TOML you can save, edit and pass as --profile."""
    from edgekit.profile import load_profile

    profile = load_profile(name)
    click.echo(json.dumps(profile.to_dict(), indent=2) if as_json else profile.to_toml(), nl=as_json)


@profiles.command("validate")
@click.argument("file", type=click.Path(path_type=Path))
@handle_errors
def profiles_validate(file: Path) -> None:
    """Check a profile TOML file; names the file and the wrong key."""
    from edgekit.errors import ProfileNotFoundError
    from edgekit.profile import load_profile

    if not file.is_file():
        raise ProfileNotFoundError(f"Profile file {file} does not exist.", "Pass the path of a .toml file.")
    prof = load_profile(file)
    click.echo(f"{file}: valid profile '{prof.name}' (backend {prof.target.backend})")


cli.add_command(sweep_command)


def main() -> None:
    cli(prog_name="edgekit")


if __name__ == "__main__":
    main()
