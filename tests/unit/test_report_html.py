"""report.html and plots/: the same content as report.md as valid HTML (html5lib, strict), figures that show the
measured numbers with captions that say what they show, autoescaping, and figures that never fail a run."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from edgekit.report import plots
from edgekit.report.blocks import parse as parse_blocks
from edgekit.report.html import render_html, write_report_files
from edgekit.report.markdown import render_markdown
from edgekit.report.schema import Report, VariantResult
from htmlcheck import PNG, check_page, parse, tables, text

EVIL = "<script>alert(1)</script>"


def latency(p50: float) -> dict[str, dict[str, float]]:
    return {f"batch_{b}": {"p50": p50 * b, "p90": 1.1 * p50 * b, "p99": 1.3 * p50 * b, "mean": p50 * b, "std": 0.1,
                           "min": 0.9 * p50 * b, "iterations": 50} for b in (1, 8)}


def make_report(labels: bool = True, timed: bool = True) -> Report:
    def variant(name: str, p50: float, size: int, accuracy: float, agreement: float, status: str = "accepted"):
        return VariantResult(name, "onnxruntime", "int8" if "int8" in name else "fp32", f"stages/{name}/model.onnx",
                             size, status=status, reason="within budget", latency_ms=latency(p50) if timed else {},
                             accuracy=accuracy if labels else None, accuracy_drop=98.0 - accuracy if labels else None,
                             parity={"top1_agreement": agreement, "cosine": 0.999})

    variants = [variant("fp32", 1.0, 600_000, 98.0, 1.0), variant("int8", 0.5, 160_000, 97.6, 0.99),
                variant("int8<b>x</b>", 0.4, 100_000, 93.0, 0.90, status="rejected")]
    return Report("test-fast", "onnxruntime", {"source": EVIL, "params": 10, "macs": 20}, variants, "int8",
                  "fastest accepted", {"runtime": "onnxruntime", "accuracy": 98.0 if labels else None, "samples": 100},
                  {"calibration": {"samples": 10, "source": "calib<i>.npz"}}, warnings=["careful: <i>not italic</i>"],
                  host={"isa": "x86-avx2", "cpu_model": "Zen", "logical_cpus": 2}, target_isa="host")


NAMES = ["fp32", "int8", "int8<b>x</b>"]


@pytest.fixture
def bundle(tmp_path: Path) -> tuple[Path, Report]:
    report = make_report()
    plots.write_plots(tmp_path, report, max_drop=1.0)
    write_report_files(tmp_path, report)
    return tmp_path, report


def test_the_page_is_valid_html_with_every_variant_and_every_figure(bundle) -> None:
    root, report = bundle
    doc = check_page(root, NAMES)
    assert set(report.plots) == {"latency", "accuracy_vs_latency", "size"}
    assert json.loads((root / "report.json").read_text())["plots"] == {
        "latency": "plots/latency.png", "accuracy_vs_latency": "plots/accuracy_vs_latency.png", "size": "plots/size.png"}
    assert [f.find("img").get("src") for f in doc.iter("figure")] == list(report.plots.values())
    assert sorted(p.name for p in (root / "plots").iterdir()) == ["accuracy_vs_latency.png", "latency.png", "size.png"]
    captions = {f.find("img").get("src"): text(f.find("figcaption")) for f in doc.iter("figure")}
    assert "one panel per batch size (batch 1, batch 8)" in captions["plots/latency.png"]
    assert "from the fastest measured run to the p99 of 50 timed runs" in captions["plots/latency.png"]
    assert "accuracy budget, 1 point below the original's 98.00%" in captions["plots/accuracy_vs_latency.png"]
    assert [h.get("id") for h in doc.iter("h2")][:3] == ["plots", "variants", "model"]
    status = [row.findall("td")[-1] for row in doc.find(".//table/tbody").iter("tr")]
    assert [td.get("class") for td in status] == ["status-accepted", "status-accepted", "status-rejected"]


def _md_texts(markdown: str) -> list[str]:
    """What each line of report.md says, Markdown markup dropped (table rows: each cell)."""
    found = []
    for line in markdown.splitlines():
        if not line.strip() or re.fullmatch(r"\|(-+\|)+", line):
            continue
        parts = line.strip("|").split("|") if line.startswith("|") else [line]
        for part in parts:
            part = re.sub(r"!\[([^\]]*)\]\([^)]*\)", r"\1", part)
            part = re.sub(r"^\s*(#+|-) ", "", part).replace("**", "").replace("`", "").strip().strip("*")
            found.append(" ".join(part.split()))
    return found


def test_the_page_says_everything_report_md_says(bundle) -> None:
    root, _ = bundle
    markdown = (root / "report.md").read_text()
    shown = text(parse((root / "report.html").read_text()).find("body"))
    missing = [t for t in _md_texts(markdown) if t not in shown]
    assert missing == []
    md_tables = [b for b in parse_blocks(markdown) if b.kind == "table"]
    html_tables = tables(parse((root / "report.html").read_text()))
    assert [len(rows) for _, rows in html_tables] == [len(b.rows) for b in md_tables]


def test_names_from_the_user_are_escaped_never_markup(bundle) -> None:
    root, _ = bundle
    page = (root / "report.html").read_text()
    doc = parse(page)
    assert text(doc.find("body/main/h1")) == f"edgekit report: {EVIL}"
    assert text(doc.find("head/title")) == f"edgekit report: {EVIL}"
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert list(doc.iter("b")) == [] and list(doc.iter("i")) == [] and list(doc.iter("script")) == []
    assert "int8<b>x</b>" in [r[0] for r in tables(doc)[0][1]]
    assert "careful: <i>not italic</i>" in text(doc.find("body"))


class Figures:
    """Captures the matplotlib figures the report draws, to read back what they show."""

    def __init__(self, monkeypatch) -> None:
        self.drawn: dict[str, object] = {}
        original = plots.save

        def save(fig, path: Path) -> None:
            self.drawn[path.stem] = fig
            fig.canvas.draw()
            original(fig, path)

        monkeypatch.setattr(plots, "save", save)


def test_the_latency_figure_shows_each_p50_with_its_measured_spread(monkeypatch, tmp_path: Path) -> None:
    from matplotlib.container import BarContainer, ErrorbarContainer

    figures = Figures(monkeypatch)
    report = make_report()
    plots.write_plots(tmp_path, report, max_drop=1.0)
    axes = figures.drawn["latency"].axes
    assert [ax.get_xlabel() for ax in axes] == ["latency, ms (batch 1)", "latency, ms (batch 8)"]
    for ax, batch in zip(axes, ("batch_1", "batch_8")):
        bars = next(c for c in ax.containers if isinstance(c, BarContainer))
        whiskers = next(c for c in ax.containers if isinstance(c, ErrorbarContainer))
        assert [round(p.get_width(), 6) for p in bars.patches] == [v.latency_ms[batch]["p50"] for v in report.variants]
        segments = whiskers.lines[2][0].get_segments()
        spans = [(round(s[0][0], 6), round(s[1][0], 6)) for s in segments]
        assert spans == [(round(v.latency_ms[batch]["min"], 6), round(v.latency_ms[batch]["p99"], 6))
                         for v in report.variants]


def test_without_labels_accuracy_is_top1_agreement(monkeypatch, tmp_path: Path) -> None:
    figures = Figures(monkeypatch)
    report = make_report(labels=False)
    plots.write_plots(tmp_path, report, max_drop=1.0)
    assert report.plot_captions["accuracy_vs_latency"].startswith("Top-1 agreement with the original (%) against")
    assert "budget" not in report.plot_captions["accuracy_vs_latency"]
    ax = figures.drawn["accuracy_vs_latency"].axes[0]
    assert ax.get_ylabel() == "top-1 agreement with the original, %"
    points = sorted(tuple(round(float(c), 6) for c in col.get_offsets()[0]) for col in ax.collections)
    assert points == [(0.4, 90.0), (0.5, 99.0), (1.0, 100.0)]


def test_a_figure_that_fails_is_left_out_with_a_note(monkeypatch, tmp_path: Path) -> None:
    def broken(report, path: Path, max_drop) -> str:
        path.write_bytes(b"half a png")
        raise RuntimeError("no fonts")

    monkeypatch.setattr(plots, "draw_latency", broken)
    report = make_report()
    plots.write_plots(tmp_path, report, max_drop=1.0)
    write_report_files(tmp_path, report)
    assert report.plots_not_drawn == {"latency": "RuntimeError: no fonts"} and "latency" not in report.plots
    assert not (tmp_path / "plots" / "latency.png").exists() and (tmp_path / "plots" / "size.png").is_file()
    assert "- Latency per variant: not drawn (RuntimeError: no fonts)" in (tmp_path / "report.md").read_text()
    doc = check_page(tmp_path, NAMES)
    assert "Latency per variant: not drawn (RuntimeError: no fonts)" in text(doc.find("body"))
    assert json.loads((tmp_path / "report.json").read_text())["plots_not_drawn"] == report.plots_not_drawn


def test_without_matplotlib_the_page_is_written_without_figures(monkeypatch, tmp_path: Path) -> None:
    def missing():
        raise ModuleNotFoundError("No module named 'matplotlib'")

    monkeypatch.setattr(plots, "pyplot", missing)
    report = make_report()
    assert plots.write_plots(tmp_path, report, max_drop=1.0) == {}
    write_report_files(tmp_path, report)
    assert set(report.plots_not_drawn) == {"latency", "accuracy_vs_latency", "size"}
    assert not (tmp_path / "plots").exists()
    doc = check_page(tmp_path, NAMES)
    assert list(doc.iter("img")) == [] and "Artifact size per variant: not drawn (ModuleNotFoundError" in text(doc)


def test_nothing_timed_is_a_note_and_the_size_figure_stays(tmp_path: Path) -> None:
    report = make_report(timed=False)
    plots.write_plots(tmp_path, report, max_drop=1.0)
    assert report.plots_not_drawn["latency"] == "no variant was timed on this host"
    assert report.plots_not_drawn["accuracy_vs_latency"] == "no variant has both a measured latency and a top-1 accuracy"
    assert set(report.plots) == {"size"}


def test_energy_and_the_training_curves_are_drawn_when_the_report_has_them(tmp_path: Path) -> None:
    report = make_report()
    for i, v in enumerate(report.variants):
        v.energy = {"status": "measured", "meter": "rapl", "joules_per_inference": 0.01 * (i + 1)}
    history = [{"epoch": e, "step": 10 * e, "loss": 1.0 / (e + 1), "kd": 0.5 / (e + 1), "val_accuracy": 90.0 + e,
                "eval_accuracy": 89.0 + e} for e in range(3)]
    report.distillation = {"history": history}
    report.qat = {"history": history}
    plots.write_plots(tmp_path, report, max_drop=1.0)
    assert set(report.plots) == {"latency", "accuracy_vs_latency", "energy_vs_latency", "size",
                                 "distillation_training", "qat_training"}
    assert all((tmp_path / p).read_bytes().startswith(PNG) for p in report.plots.values())
    assert "meter rapl" in report.plot_captions["energy_vs_latency"]
    assert report.plot_captions["distillation_training"].startswith("Training loss terms per epoch (left axis)")
    assert "validation split, which chose the kept epoch" in report.plot_captions["qat_training"]


def test_only_images_inside_the_bundle_are_put_on_the_page(tmp_path: Path) -> None:
    (tmp_path / "plots").mkdir()
    (tmp_path / "plots" / "here.png").write_bytes(PNG)
    markdown = ("# t\n\n![remote](http://example.com/x.png)\n\n![up](../y.png)\n\n![gone](plots/gone.png)\n\n"
                "![here](plots/here.png)\n*a caption*\n")
    doc = parse(render_html(make_report(), tmp_path, markdown))
    assert [img.get("src") for img in doc.iter("img")] == ["plots/here.png"]
    notes = [text(s) for s in doc.iter("span") if s.get("class") == "missing"]
    assert notes == ["(figure not found: http://example.com/x.png)", "(figure not found: ../y.png)",
                     "(figure not found: plots/gone.png)"]


def test_the_markdown_subset_reads_back_as_blocks() -> None:
    markdown = ("# Title `x`\n\nline one\nline two\n\n- **a** top\n  - nested `c`\n- b\n\n| h1 | h2 |\n|---|---|\n"
                "| 1 | **2** |\n\n![Fig](plots/f.png)\n*what it shows*\n")
    blocks = parse_blocks(markdown)
    assert [b.kind for b in blocks] == ["heading", "paragraph", "list", "table", "figure"]
    assert blocks[1].spans[0].text == "line one line two"
    assert [s.kind for s in blocks[2].items[0].spans] == ["strong", "text"]
    assert blocks[2].items[0].children[0].spans[1].kind == "code" and blocks[2].items[1].spans[0].text == "b"
    assert [[s.text for s in c] for c in blocks[3].header] == [["h1"], ["h2"]] and blocks[3].rows[0][1][0].kind == "strong"
    assert blocks[4].image.src == "plots/f.png" and blocks[4].spans[0].text == "what it shows"


def test_render_markdown_lists_the_figures_it_could_not_draw() -> None:
    report = make_report()
    report.plots_not_drawn = {"latency": "no variant was timed on this host"}
    assert "## Plots" in render_markdown(report)
    assert "- Latency per variant: not drawn (no variant was timed on this host)" in render_markdown(report)
    assert "## Plots" not in render_markdown(make_report())


def test_the_template_ships_in_the_package() -> None:
    from importlib.resources import files

    assert (files("edgekit.report") / "templates" / "report.html.j2").is_file()


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.skipif(CHROMIUM is None, reason="no headless Chromium on this machine")
def test_a_headless_browser_renders_the_page(bundle) -> None:
    from PIL import Image

    root, _ = bundle
    shot = root / "screenshot.png"
    subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    f"--screenshot={shot}", "--window-size=1280,2000", (root / "report.html").as_uri()],
                   capture_output=True, timeout=120, check=True)
    with Image.open(shot) as image:
        assert image.size == (1280, 2000)
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
    greens = sum(n for n, (r, g, b) in colours if g > 120 and r < 80 and b < 80)  # the accepted variants' bars
    assert len(colours) > 100 and greens > 1000


def test_the_latency_caption_gives_the_range_of_timed_runs_when_the_stop_rule_varied_them(tmp_path: Path) -> None:
    """The adaptive stop rule times each variant and batch until its median is steady, so the counts differ: the
    caption gives their range, not the first variant's count as if it were everyone's."""
    from edgekit.report.plots import draw_latency

    report = make_report()
    report.variants[1].latency_ms["batch_8"]["iterations"] = 173
    caption = draw_latency(report, tmp_path / "latency.png", 1.0)
    assert "of 50-173 timed runs per variant and batch size" in caption and (tmp_path / "latency.png").is_file()
