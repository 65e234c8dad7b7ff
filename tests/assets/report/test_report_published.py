"""Published results: the data file is well-formed and cited, and numbers sit beside measured ones only
when the suite declares it reproduces that benchmark."""

import pytest

from assets.report.published import COLUMNS, load_published, published_comparison

SUMMARY = {"trained": {"mean_top1": 0.5, "by_modality": {"xray": {"top1": 0.6}, "ct": {"top1": 0.4}}}}


def test_published_file_holds_cited_percentages():
    published = load_published()
    entry = published["unimed-clip-21"]
    assert "UniMed-CLIP" in entry["citation"] and entry["metric"] == "top1"
    assert entry["models"]["UniMed-CLIP ViT-B/16"]["average"] == 61.63
    assert entry["models"]["BiomedCLIP"]["average"] == 49.02 and entry["models"]["PMC-CLIP"]["average"] == 53.37
    for values in entry["models"].values():
        assert set(values) == set(COLUMNS)


def test_not_comparable_unless_the_suite_declares_the_benchmark():
    [table] = published_comparison(SUMMARY, None)
    assert not table["comparable"] and "not comparable" in table["reason"]
    assert all(row["measured"] == {} for row in table["rows"])
    [table] = published_comparison(SUMMARY, "unimed-clip-21")
    assert table["comparable"] and table["reason"] is None
    rows = {r["modality"]: r for r in table["rows"]}
    assert rows["xray"]["measured"] == {"trained": 60.0} and rows["average"]["measured"] == {"trained": 50.0}
    assert rows["mri"]["measured"] == {"trained": None}  # not in the suite
    assert rows["xray"]["reported"]["UniMed-CLIP ViT-B/16"] == 68.78


def test_unknown_benchmark_and_bad_numbers_are_errors(tmp_path):
    with pytest.raises(ValueError, match="not in published.yaml"):
        published_comparison(SUMMARY, "nope")
    bad = tmp_path / "p.yaml"
    bad.write_text("benchmarks:\n  b: {title: t, citation: c, metric: top1, models: {m: {xray: 0.7, mri: 170}}}\n")
    with pytest.raises(ValueError, match="mri"):
        load_published(str(bad))
