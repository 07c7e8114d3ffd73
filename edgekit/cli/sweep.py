"""`edgekit sweep`: every pruning ratio x precision [x distillation], measured, the best within budget chosen."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from edgekit.cli.energy import energy_options
from edgekit.cli.errors import handle_errors
from edgekit.cli.options import FLOATS, INTS, POINTS, image_options, image_prep
from edgekit.errors import ExitCode


class _Words(click.ParamType):
    name = "list"

    def convert(self, value: Any, param: Any, ctx: Any) -> tuple[str, ...]:
        if isinstance(value, tuple):
            return value
        items = tuple(v.strip() for v in str(value).split(",") if v.strip())
        if not items:
            self.fail("needs at least one value", param, ctx)
        return items


def _sweep_options(func: Any) -> Any:
    options = [
        click.option("--kd-alpha", type=float, default=0.7, show_default=True, help="With --distill: KD weight."),
        click.option("--kd-temperature", type=float, default=4.0, show_default=True, help="With --distill: T."),
        click.option("--lr", type=float, default=1e-3, show_default=True, help="With --distill: peak learning rate."),
        click.option("--epochs", type=click.IntRange(min=1), default=10, show_default=True, help="With --distill."),
        click.option("--train-data", help="With --distill: training data (.npz x[, y], image folder, module:callable)."),
        click.option("--distill", is_flag=True, help="Distil every pruned model from the original on --train-data."),
        click.option("--prune-round-to", type=int, help="Round kept channels to a multiple (default: the profile's)."),
        click.option("--prune-importance", type=click.Choice(["l1", "l2", "group_norm", "taylor"]),
                     help="Channel importance (default: the profile's)."),
        click.option("--resume", is_flag=True, help="Reuse the measured trials of an interrupted run of the same "
                                                     "sweep (same cache dir); stage outputs are always reused."),
        click.option("--cache-dir", type=click.Path(path_type=Path),
                     help="Stage cache + trial journal (default: .OUT.sweep-cache beside --out)."),
        click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True,
                     help="--executor ray: CPUs of the local Ray instance (build tasks in parallel)."),
        click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True,
                     help="local: one trial after another; ray: builds as Ray tasks, measurements one at a time "
                          "on a whole node (RAY_ADDRESS joins a cluster)."),
        click.option("--max-prune", type=float, default=0.75, show_default=True, help="Upper end of the latency search."),
        click.option("--search-steps", type=click.IntRange(min=1), default=5, show_default=True,
                     help="Bisection steps of the latency search."),
        click.option("--target-latency", type=float,
                     help="Search the pruning ratio until measured latency <= this share of the original's "
                          "(e.g. 0.5), then sweep it with the other ratios."),
        click.option("--objective", type=click.Choice(["latency", "energy", "size"]), default="latency",
                     show_default=True, help="What 'best' means among the variants within the accuracy budget."),
        click.option("--precisions", type=_Words(), default="fp32,int8", show_default=True),
        click.option("--prune", "prune_ratios", type=FLOATS, default="0.3,0.5,0.7", show_default=True,
                     help="Structured pruning ratios to try (the original is always included)."),
    ]
    for option in options:
        func = option(func)
    return func


def _options(func: Any) -> Any:
    func = _sweep_options(energy_options(image_options(func)))
    for option in [
        click.option("--force", is_flag=True, help="Replace the output directory if it exists."),
        click.option("--seed", type=int, default=0, show_default=True),
        click.option("--batch-sizes", type=INTS, help="Benchmark batch sizes (the first one is ranked)."),
        click.option("--max-accuracy-drop", type=POINTS, help="Accuracy budget in points (default: the profile's)."),
        click.option("--input-shape", type=INTS, help="Input shape, e.g. 1,3,224,224 (default: from the data)."),
        click.option("--calib-random", is_flag=True, help="Allow INT8 calibration on random inputs."),
        click.option("--trust-pickle", is_flag=True, help="Allow loading a whole pickled nn.Module."),
        click.option("--weights", type=click.Path(path_type=Path), help="state_dict for a module:factory MODEL."),
        click.option("--out", "-o", type=click.Path(path_type=Path), required=True, help="Output bundle directory."),
        click.option("--eval-data", required=True, help="Labelled evaluation data (x, y): the accuracy budget."),
        click.option("--calib-data", help="Calibration data for INT8 and BatchNorm re-estimation."),
        click.option("--profile", "-p", help="Profile name or TOML file (default: this host's)."),
    ]:
        func = option(func)
    return func


def _distill(distill: bool, epochs: int, lr: float, kd_temperature: float, kd_alpha: float) -> Any:
    if not distill:
        return None
    from edgekit.api import distill_config

    return distill_config(epochs=epochs, lr=lr, temperature=kd_temperature, alpha=kd_alpha)


def _prune(profile: str | None, importance: str | None, round_to: int | None) -> Any:
    from edgekit.api import prune_config

    return prune_config(profile, ratio=0.5, importance=importance, round_to=round_to)


@click.command()
@click.argument("model")
@_options
@handle_errors
def sweep(model: str, image_size: Any, mean: Any, std: Any, grayscale: bool, distill: bool, epochs: int, lr: float,
          kd_temperature: float, kd_alpha: float, prune_importance: str | None, prune_round_to: int | None,
          **kwargs: Any) -> None:
    """Build the original and every --prune ratio at every precision, measure each artifact on the profile's
    runtime, and recommend the best on --objective within --max-accuracy-drop.

    \b
    edgekit sweep edgekit.zoo:resnet18 --weights r18.pt --profile cpu-onnxruntime --calib-data c.npz \\
        --eval-data e.npz --prune 0.3,0.5,0.7 --precisions fp32,int8 --max-accuracy-drop 1 --out r18-sweep
    """
    from edgekit.cli.ui import RichProgress
    from edgekit.sweep.api import sweep as run_sweep

    prune = _prune(kwargs.get("profile"), prune_importance, prune_round_to)
    try:
        with RichProgress() as progress:
            report = run_sweep(model, kwargs.pop("profile"), out_dir=kwargs.pop("out"),
                               image_prep=image_prep(image_size, mean, std, grayscale), prune=prune,
                               distill=_distill(distill, epochs, lr, kd_temperature, kd_alpha), progress=progress,
                               **kwargs)
    except KeyboardInterrupt:
        click.echo("Interrupted. Nothing was written to --out; finished trials are kept in the cache: run the same "
                   "command with --resume to continue.", err=True)
        raise SystemExit(int(ExitCode.INTERRUPTED)) from None
    _print(report)
    if report.recommended is None:
        click.echo(f"Error: {report.recommended_reason}. The report is in {report.out_dir}; raise "
                   "--max-accuracy-drop, try smaller pruning ratios, or add --distill.", err=True)
        raise SystemExit(int(ExitCode.VERIFICATION_FAILED))


def _print(report: Any) -> None:
    from rich import box
    from rich.table import Table

    from edgekit.cli.ui import out
    from edgekit.sweep.report import table_rows

    rows = table_rows(report)
    table = Table(title=f"edgekit sweep · {report.profile} · {report.model.get('source', '')}", title_justify="left",
                  box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    keep = ("variant", "precision", "size MiB", "p50 ms", "accuracy %", "drop pts", "status", "Pareto", "cache")
    for header in keep:
        table.add_column(header, no_wrap=True)
    for row in rows:
        table.add_row(*[row[k].replace("**", "") for k in keep])
    out.print(table)
    cache = report.sweep["cache"]
    out.print(f"Stage cache: {cache['hits']} hits, {cache['misses']} misses; {cache['trials_from_journal']} "
              f"trial(s) from the journal. Executor: {report.sweep['executor']['kind']}.", markup=False)
    out.print(f"Chosen: {report.recommended or 'none'} — {report.recommended_reason}", markup=False)
    out.print(f"Bundle: {report.out_dir}  (report.md, report.html, plots/, variants/, deploy/)", markup=False)
