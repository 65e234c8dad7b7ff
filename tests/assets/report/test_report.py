import json

import pytest

from assets.report.report import modality_means, summarize_models, write_report


def _rows(top1s):
    sources = [("synthetic_xray", "xray", 2), ("synthetic_ct", "ct", 4), ("other_xray", "xray", 2)]
    return [
        {"source": s, "modality": m, "num_classes": k, "num_samples": 10, "chance": 1 / k,
         "top1": t, "balanced_accuracy": t}
        for (s, m, k), t in zip(sources, top1s)
    ]


def test_modality_means_average_sources_of_a_modality():
    assert modality_means(_rows([1.0, 0.5, 0.6])) == pytest.approx({"ct": 0.5, "xray": 0.8})


def test_summary_compares_to_chance():
    summary = summarize_models({"trained": _rows([1.0, 0.5, 0.6])})["trained"]
    assert summary["mean_top1"] == pytest.approx(0.7)
    assert summary["mean_chance"] == pytest.approx((0.5 + 0.25 + 0.5) / 3)
    assert summary["top1_over_chance"] == pytest.approx(0.7 / summary["mean_chance"])


def test_report_files_hold_every_model_and_say_when_data_is_synthetic(tmp_path):
    results = {"trained": _rows([1.0, 0.5, 0.6]), "untrained": _rows([0.5, 0.25, 0.4])}
    report = write_report(results, str(tmp_path), provenance={"seed": 0, "code_version": "1"}, synthetic=True)

    saved = json.loads((tmp_path / "report.json").read_text())
    assert saved["summary"]["untrained"]["mean_top1"] == pytest.approx(1.15 / 3)
    markdown = (tmp_path / "report.md").read_text()
    assert markdown == report["markdown"]
    assert "synthetic" in markdown.lower()
    assert "| synthetic_ct | ct | 4 | 10 | 0.250 | 0.500 | 0.250 |" in markdown
    assert "| untrained |" in markdown and "| code_version | 1 |" in markdown

    real = write_report(results, str(tmp_path), provenance={}, synthetic=False)
    assert "synthetic" not in real["markdown"].split("## Zero-shot")[0].lower()
