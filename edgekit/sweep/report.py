"""The sweep's part of the report: the Pareto table, the cache counts, the search trace (Markdown; report.html
renders it with the rest of report.md, report/html.py)."""

from __future__ import annotations

from edgekit.report.schema import Report
from edgekit.sweep.pareto import p50


def _f(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def table_rows(report: Report) -> list[dict[str, str]]:
    """One row per trial, Pareto-front ones first (ordered by latency), then the rest."""
    sweep = report.sweep or {}
    front, chosen = set(sweep.get("pareto", [])), sweep.get("chosen")
    trials = {t["name"]: t for t in sweep.get("trials", [])}
    order = sorted(report.variants, key=lambda v: (v.name not in front, p50(v) or float("inf"), v.name))
    rows = []
    for v in order:
        t = trials.get(v.name, {})
        energy = (v.energy or {}).get("joules_per_inference")
        rows.append({"variant": f"**{v.name}**" if v.name == chosen else v.name,
                     "prune": f"{t.get('prune', 0):.2f}", "KD": "yes" if t.get("distill") else "-",
                     "precision": v.precision, "size MiB": f"{v.size_bytes / 2**20:.3f}",
                     "p50 ms": _f(p50(v), ".3f"), "J/inf": _f(energy, ".3g"),
                     "accuracy %": _f(v.accuracy, ".2f"), "drop pts": _f(v.accuracy_drop, "+.2f"),
                     "status": v.status, "Pareto": "yes" if v.name in front else "-",
                     "chosen": "**chosen**" if v.name == chosen else "",
                     "cache": f"{t.get('hits', 0)} hit / {t.get('misses', 0)} miss" + (" (journal)" if t.get("from_journal") else "")})
    return rows


def markdown_table(rows: list[dict[str, str]]) -> list[str]:
    if not rows:
        return ["(no trials)"]
    headers = list(rows[0])
    return ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)] + \
        ["| " + " | ".join(r.values()) + " |" for r in rows]


def render_sweep_markdown(report: Report) -> list[str]:
    s = report.sweep or {}
    cache = s.get("cache", {})
    lines = ["", "## Sweep", "",
             f"Objective **{s.get('objective')}** within **{s.get('max_accuracy_drop')}** points of the original's "
             f"accuracy; {len(s.get('trials', []))} trials. Chosen: **{s.get('chosen') or 'none'}** — {s.get('reason')}.",
             "", *markdown_table(table_rows(report)), "",
             f"- stage cache `{cache.get('dir')}`: **{cache.get('hits', 0)} hits, {cache.get('misses', 0)} misses** "
             f"({', '.join(f'{k} {v[0]}/{v[1]}' for k, v in sorted(cache.get('by_stage', {}).items()))} hit/miss by stage); "
             f"{cache.get('trials_from_journal', 0)} trial(s) taken from the journal (resume)",
             f"- executor **{s.get('executor', {}).get('kind')}**: {s.get('executor', {}).get('measurement')}",
             f"- measurement isolation limit: {s.get('executor', {}).get('limit')}",
             f"- Pareto front = the accepted variants no other accepted variant beats on both {s.get('objective')} "
             "and accuracy (rejected ones are never on it); artifacts of the front and of the chosen variant are "
             "copied into `variants/`, the others stay in the cache."]
    if s.get("pareto_note"):
        lines.append(f"- chosen variant off the front: {s['pareto_note']}")
    search = s.get("latency_search")
    if search:
        lines += ["", f"### Latency-targeted pruning (target: <= {search['target']:.0%} of the unpruned "
                      f"{search.get('precision', 'fp32')} latency)", "",
                  f"Result: ratio **{search['ratio']}**" if search["met"] else
                  f"Not reachable up to ratio {search['trace'][0]['ratio']}: closest {search['closest']}", "",
                  "| step | ratio | p50 ms | baseline p50 ms | latency ratio | meets |", "|---|---|---|---|---|---|"]
        lines += [f"| {t['step']} | {t['ratio']:.4f} | {t['p50_ms']:.4f} | {t['baseline_p50_ms']:.4f} | "
                  f"{t['latency_ratio']:.3f} | {'yes' if t['meets'] else 'no'} |" for t in search["trace"]]
    return lines
