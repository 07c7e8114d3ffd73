"""The sweep's part of the report: the Pareto table, the cache counts, the search trace; Markdown + HTML."""

from __future__ import annotations

import base64
import html
from pathlib import Path

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
    plots = s.get("plots", {})
    if plots:
        lines += [""] + [f"![{name}]({path})" for name, path in plots.items()]
    return lines


def _html_table(rows: list[dict[str, str]]) -> str:
    if not rows:
        return "<p>(no trials)</p>"
    head = "".join(f"<th>{html.escape(h)}</th>" for h in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c.replace('**', ''))}</td>" for c in r.values()) + "</tr>"
                   for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(report: Report, root: Path) -> str:
    """report.html: the same content as the sweep section, images embedded (base64): no external assets."""
    s = report.sweep or {}
    imgs = []
    for name, rel in s.get("plots", {}).items():
        data = base64.b64encode((root / rel).read_bytes()).decode()
        imgs.append(f'<figure><img alt="{html.escape(name)}" src="data:image/png;base64,{data}">'
                    f"<figcaption>{html.escape(name)}</figcaption></figure>")
    cache = s.get("cache", {})
    items = [f"Profile <b>{html.escape(report.profile)}</b> (backend {html.escape(report.backend)}), objective "
             f"<b>{html.escape(str(s.get('objective')))}</b>, budget {s.get('max_accuracy_drop')} points.",
             f"Chosen: <b>{html.escape(str(s.get('chosen') or 'none'))}</b> — {html.escape(str(s.get('reason')))}.",
             *([f"Off the Pareto front: {html.escape(s['pareto_note'])}."] if s.get("pareto_note") else []),
             f"Stage cache: {cache.get('hits', 0)} hits, {cache.get('misses', 0)} misses; "
             f"{cache.get('trials_from_journal', 0)} trial(s) from the journal.",
             f"Executor {html.escape(str(s.get('executor', {}).get('kind')))}: "
             f"{html.escape(str(s.get('executor', {}).get('measurement')))}."]
    ref = report.reference
    if ref.get("accuracy") is not None:
        items.append(f"Original ({html.escape(ref['runtime'])}): top-1 {ref['accuracy']:.2f}% on {ref['samples']} samples.")
    items += [f"Warning: {html.escape(w)}" for w in report.warnings]
    style = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:3px 6px;font-size:13px}img{max-width:100%}")
    return ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>edgekit sweep</title>"
            f"<style>{style}</style></head><body><h1>edgekit sweep: {html.escape(report.model.get('source', 'model'))}</h1>"
            + "".join(f"<p>{i}</p>" for i in items) + _html_table(table_rows(report)) + "".join(imgs)
            + "</body></html>\n")

