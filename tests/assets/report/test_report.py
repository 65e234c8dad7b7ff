"""The report files: JSON for machines, Markdown for people and the Dagster UI, self-contained HTML with
inline SVG plots; each says when the data is synthetic."""

import json
import xml.etree.ElementTree as ET

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from report_helpers import COMPOSITION, scored_evaluation

from assets.report.benchmark import assemble_report
from assets.report.composition import data_composition
from assets.report.render import svg
from assets.report.render.html import render_html
from assets.report.render.markdown import render_markdown
from assets.report.report import write_report
from assets.report.suite import load_suite


@pytest.fixture(scope="module")
def report():
    evaluation, tasks = scored_evaluation()
    return assemble_report(evaluation, tasks, load_suite(), provenance={"seed": 0, "code version": "asset 2"},
                           synthetic=True, composition=COMPOSITION)


def test_report_json_holds_every_model_metric_and_interval(report, tmp_path):
    written = write_report(report, str(tmp_path), screenshot=False)
    saved = json.loads((tmp_path / "report.json").read_text())
    assert set(saved["summary"]) == {"trained", "untrained"}
    assert saved["models"]["biomedclip"] == {"kind": "configured", "description": "hub model", "status": "failed",
                                             "error": "RuntimeError: hub unreachable"}
    trained = saved["summary"]["trained"]
    lo, hi = trained["mean_top1_ci"]
    assert lo <= trained["mean_top1"] <= hi and trained["mean_top1"] > saved["summary"]["untrained"]["mean_top1"]
    assert set(trained["by_modality"]) == {"xray", "ct"}
    row = saved["results"]["trained"][0]
    assert {"top1", "top1_ci", "balanced_accuracy_ci", "auc", "auc_ci", "confusion", "class_names"} <= set(row)
    assert saved["retrieval"]["trained"][0]["image_to_text_R@1"] >= 0
    assert saved["checks"]["trained_beats_untrained"]["passed"] is True
    assert saved["published"][0]["comparable"] is False
    assert "png" not in written["paths"] and written["screenshot"] == {"skipped": "screenshot turned off"}
    assert (tmp_path / "report.md").read_text() == written["markdown"]


def test_markdown_says_synthetic_and_shows_intervals_failures_and_provenance(report):
    md = render_markdown(report)
    assert "**The data is synthetic.**" in md
    assert "| biomedclip | configured | failed: RuntimeError: hub unreachable |" in md
    assert "## Zero-shot top-1 per modality" in md and "## Image-text retrieval" in md
    trained = report["summary"]["trained"]
    lo, hi = trained["mean_top1_ci"]
    assert f"| trained | {trained['mean_top1']:.3f} [{lo:.3f}, {hi:.3f}] |" in md
    assert "(reported, not measured)" in md and "| xray | 2 datasets | 68.78 | 55.43 | 52.64 |" in md
    assert "| code version | asset 2 |" in md and "| exact_duplicate | 3 |" in md and "| template | 12 |" in md
    assert "Training mixture" in md and "| toy_xray | 2.000 |  | 32 | 32 | 64 |" in md
    real = render_markdown({**report, "synthetic": False})
    assert "synthetic" not in real.split("## Models")[0].lower()


def test_a_datasets_test_images_without_a_single_class_are_counted_in_its_row(report):
    trained = [{**r, "skipped_samples": 3 if i == 0 else 0} for i, r in enumerate(report["results"]["trained"])]
    md = render_markdown({**report, "results": {**report["results"], "trained": trained}})
    first, second = trained[0], trained[1]
    assert f"| {first['source']} | {first['modality']} | {first['num_classes']} | {first['num_samples']} (+3 not " \
           "scored: no single class) |" in md
    assert f"| {second['source']} | {second['modality']} | {second['num_classes']} | {second['num_samples']} |" in md


def test_html_is_self_contained_with_every_section_and_plot(report):
    page = render_html(report)
    for sid in ("models", "summary", "datasets", "retrieval", "checks", "published", "confusion", "training",
                "composition", "suite", "provenance", "synthetic-note"):
        assert f'id="{sid}"' in page, sid
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "") and "https://" not in page
    assert page.count("<svg") == 3 + 2 * 2 + 1 + 4  # bars x3, 2 confusions per model, loss, composition x4
    assert "Kept pairs by caption origin and split" in page
    assert "plot-confusion" in page and "plot-line" in page and "errorbar" in page
    assert "Training mixture" in page.split('id="composition"')[1].split("</section>")[0]


@pytest.mark.parametrize("chart", [
    lambda: svg.grouped_bars(["xray", "ct & <mri>"],
                             {"a": [(0.5, (0.4, 0.6)), (None, None)], "b": [(1.0, None), (0.2, (0.1, 0.3))]},
                             title="t", y_label="top-1", reference=[0.5, None]),
    lambda: svg.heatmap([[3, 1], [0, 4]], ["left lesion", "a very long class name indeed"], title="cm"),
    lambda: svg.line_chart({"trained": [(0, 4.0), (10, 3.0)], "control": [(0, 4.1), (10, 4.0)]}, title="loss",
                           x_label="samples", y_label="loss"),
    lambda: svg.line_chart({}, title="empty", x_label="x", y_label="y"),
    lambda: svg.stacked_hbars(["xray", "ct"], {"train": [3, 0], "test": [1, 2]}, title="kept"),
])
def test_charts_are_well_formed_svg(chart):
    root = ET.fromstring(chart())
    assert root.tag == "{http://www.w3.org/2000/svg}svg" and root.find("{http://www.w3.org/2000/svg}title") is not None


def test_bars_and_error_bars_scale_with_the_values():
    page = svg.grouped_bars(["g"], {"a": [(0.5, (0.25, 0.75))]}, title="t", y_label="y")
    root = ET.fromstring(page)
    ns = "{http://www.w3.org/2000/svg}"
    [bar] = [r for r in root.iter(f"{ns}rect") if r.get("class") == "bar"]
    assert float(bar.get("height")) == pytest.approx(110.0)  # half of the 220 px plot
    [err] = [p for p in root.iter(f"{ns}path") if p.get("class") == "errorbar"]
    assert "V" in err.get("d")
    assert svg.nice_ticks(0, 1) == [0, 0.2, 0.4, 0.6, 0.8, 1.0]


def test_composition_counts_kept_pairs_by_caption_origin(tmp_path):
    pairs = tmp_path / "pairs.parquet"
    pq.write_table(pa.table({"modality": ["xray"] * 4, "source": ["a", "a", "b", "b"],
                             "split": ["train", "train", "train", "test"],
                             "caption_origin": ["cleaned", "condensed", "llm", None]}), pairs)
    comp = data_composition(str(pairs))
    assert comp["kept_by_caption_origin"] == {"cleaned": 1, "condensed": 1, "llm": 1, "none": 1}
    assert {"caption_origin": "none", "split": "test", "count": 1} in comp["kept_by_caption_origin_and_split"]
