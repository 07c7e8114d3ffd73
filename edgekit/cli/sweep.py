"""`edgekit sweep`: every pruning ratio x precision [x distillation], measured, the best within budget chosen."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any

import rich_click as click

from edgekit.cli.distill import distill_options, pop_distill
from edgekit.cli.errors import handle_errors
from edgekit.cli.options import FLOATS, option_panels
from edgekit.cli.prune import pop_prune, prune_options
from edgekit.cli.run_options import (BENCH_PARAMS, CHECK_PARAMS, DATA_PARAMS, MODEL_PARAMS, OUTPUT_PARAMS,
                                     pop_run_options, run_options)
from edgekit.errors import ExitCode
from edgekit.sweep.config import BASE_PRUNE_RATIO, ExecutorKind, LatencyTarget, Objective, SweepConfig


class _Words(click.ParamType):
    name = "list"

    def convert(self, value: Any, param: Any, ctx: Any) -> tuple[str, ...]:
        if isinstance(value, tuple):
            return value
        items = tuple(v.strip() for v in str(value).split(",") if v.strip())
        if not items:
            self.fail("needs at least one value", param, ctx)
        return items


S = SweepConfig()  # the sweep's defaults, written once
L = {f.name: f.default for f in fields(LatencyTarget)}
SEARCH_PARAMS = ("search_steps", "max_prune")  # only mean something with --target-latency


def _sweep_options(func: Any) -> Any:
    options = [
        click.option("--resume", is_flag=True, default=S.resume,
                     help="Reuse the measured trials of an interrupted run of the same sweep (same cache dir); "
                          "stage outputs are always reused."),
        click.option("--cache-dir", type=click.Path(path_type=Path),
                     help="Stage cache + trial journal (default: .OUT.sweep-cache beside --out)."),
        click.option("--workers", type=click.IntRange(min=1), default=S.workers, show_default=True,
                     help="--executor ray: CPUs of the local Ray instance (build tasks in parallel)."),
        click.option("--executor", type=click.Choice([e.value for e in ExecutorKind]), default=S.executor.value,
                     show_default=True,
                     help="local: one trial after another; ray: builds as Ray tasks, measurements one at a time "
                          "on a whole node (RAY_ADDRESS joins a cluster)."),
        click.option("--max-prune", type=float, default=L["max_prune"], show_default=True,
                     help="With --target-latency: upper end of the search."),
        click.option("--search-steps", type=click.IntRange(min=1), default=L["steps"], show_default=True,
                     help="With --target-latency: bisection steps."),
        click.option("--target-latency", type=float,
                     help="Search the pruning ratio until measured latency <= this share of the original's "
                          "(e.g. 0.5), then sweep it with the other ratios."),
        click.option("--objective", type=click.Choice([o.value for o in Objective]), default=S.objective.value,
                     show_default=True, help="What 'best' means among the variants within the accuracy budget."),
        click.option("--precisions", type=_Words(), default=",".join(S.precisions), show_default=True,
                     help="Precisions built for every ratio (fp32, int8)."),
        click.option("--prune", "prune_ratios", type=FLOATS, default=",".join(f"{r:g}" for r in S.prune_ratios),
                     show_default=True, help="Structured pruning ratios to try (the original is always included)."),
    ]
    for option in options:
        func = option(func)
    return func


SWEEP_PARAMS = ("prune_ratios", "precisions", "objective", "target_latency", "search_steps", "max_prune",
                "executor", "workers", "cache_dir", "resume")
SWEEP_DISTILL = ("distill", "train_data", "val_data", "epochs", "lr", "kd_temperature", "kd_alpha", "patience", "min_delta")
SWEEP_PRUNE = ("prune_importance", "prune_round_to")


def _options(func: Any) -> Any:
    func = option_panels(("Sweep", SWEEP_PARAMS), ("Model", MODEL_PARAMS),
                         ("Data", ("calib_data", "eval_data", *DATA_PARAMS)),
                         ("Target, quantization, verification", ("profile", *CHECK_PARAMS)),
                         ("Pruning", SWEEP_PRUNE), ("Distillation", SWEEP_DISTILL),
                         ("Benchmark and energy", BENCH_PARAMS), ("Output", ("out", *OUTPUT_PARAMS)))(func)
    func = distill_options(only=SWEEP_DISTILL)(func)
    func = prune_options(only=SWEEP_PRUNE)(func)
    func = _sweep_options(run_options(func))
    for option in [
        click.option("--out", "-o", type=click.Path(path_type=Path), required=True, help="Output bundle directory."),
        click.option("--eval-data", required=True, help="Labelled evaluation data (x, y): the accuracy budget."),
        click.option("--calib-data", help="Calibration data for INT8 and BatchNorm re-estimation."),
        click.option("--profile", "-p", help="Profile name or TOML file (default: this host's)."),
    ]:
        func = option(func)
    return func


def _config(kwargs: dict[str, Any]) -> SweepConfig:
    """The SweepConfig the sweep options set (taken out of ``kwargs``)."""
    target = kwargs.pop("target_latency")
    search = {name: kwargs.pop(name) for name in SEARCH_PARAMS}
    ctx = click.get_current_context()
    if target is None:
        given = [n for n in SEARCH_PARAMS if ctx.get_parameter_source(n) is click.core.ParameterSource.COMMANDLINE]
        if given:
            raise click.UsageError(f"--{given[0].replace('_', '-')} tunes the latency search: add --target-latency.")
    latency = None if target is None else LatencyTarget(target, steps=search["search_steps"],
                                                        max_prune=search["max_prune"])
    return SweepConfig(prune_ratios=kwargs.pop("prune_ratios"), precisions=kwargs.pop("precisions"),
                       objective=kwargs.pop("objective"), executor=kwargs.pop("executor"),
                       workers=kwargs.pop("workers"), cache_dir=kwargs.pop("cache_dir"), resume=kwargs.pop("resume"),
                       latency_target=latency)


@click.command()
@click.argument("model")
@_options
@handle_errors
def sweep(model: str, profile: str | None, out: Path, **kwargs: Any) -> None:
    """Build the original and every --prune ratio at every precision, measure each artifact on the profile's
    runtime, and recommend the best on --objective within --max-accuracy-drop.

    \b
    edgekit sweep edgekit.zoo:resnet18 --weights r18.pt --profile cpu-onnxruntime --calib-data c.npz \\
        --eval-data e.npz --prune 0.3,0.5,0.7 --precisions fp32,int8 --max-accuracy-drop 1 --out r18-sweep
    """
    from edgekit.cli.ui import RichProgress
    from edgekit.sweep.api import sweep as run_sweep

    options = pop_run_options(kwargs)
    config = _config(kwargs)
    prune = pop_prune(kwargs, profile, default_ratio=BASE_PRUNE_RATIO)
    distill = pop_distill(kwargs)
    try:
        with RichProgress() as progress:
            report = run_sweep(model, profile, out_dir=out, prune=prune, config=config, options=options,
                               progress=progress, **distill, **kwargs)
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
