"""Published results: the data file is well-formed and cited, and numbers sit beside measured ones only
when the suite declares it reproduces that benchmark."""

from pathlib import Path

import pytest
import yaml

from assets.report.published import COLUMNS, load_published, published_comparison
from assets.report.render.markdown import published_missing, published_rows

UNIMED_SUITE = Path(__file__).resolve().parents[3] / "pipelines/recipes/unimed_eval_suite.yaml"


def _row(source, modality, top1):
    return {"source": source, "modality": modality, "top1": top1}


# Three of the paper's datasets measured, and one dataset of the user's that the paper does not average.
RESULTS = {"trained": [_row("acl_mri", "mri", 0.8), _row("meniscal_mri", "mri", 0.6),
                       _row("chexpert-5x200", "xray", 0.5), _row("my_xray", "xray", 0.9)],
           "untrained": [_row("acl_mri", "mri", 0.5), _row("meniscal_mri", "mri", 0.5),
                         _row("chexpert-5x200", "xray", 0.2), _row("my_xray", "xray", 0.2)]}


def test_published_file_holds_cited_percentages_and_the_datasets_they_average():
    published = load_published()
    entry = published["unimed-clip-21"]
    assert "UniMed-CLIP" in entry["citation"] and entry["metric"] == "top1"
    assert entry["models"]["UniMed-CLIP ViT-B/16"]["average"] == 61.63
    assert entry["models"]["BiomedCLIP"]["average"] == 49.02 and entry["models"]["PMC-CLIP"]["average"] == 53.37
    for values in entry["models"].values():
        assert set(values) == set(COLUMNS)
    # the 21 datasets, named as the evaluation-suite recipe names its sources
    names = [n for group in entry["datasets"].values() for n in group]
    assert len(names) == len(set(names)) == 21
    # (the suite's other two sources are retrieval splits, which the paper's zero-shot table leaves out)
    assert set(names) == set(yaml.safe_load(UNIMED_SUITE.read_text())["sources"]) - {"rocov2_test", "mimic_cxr"}
    assert set(entry["datasets"]) == set(COLUMNS) - {"average"}


def test_not_comparable_unless_the_suite_declares_the_benchmark():
    [table] = published_comparison(RESULTS, None)
    assert not table["comparable"] and "not comparable" in table["reason"] and table["missing"] == []
    assert all(row["measured"] == {} and row["kind"] != "dataset" for row in table["rows"])
    assert {r["modality"]: r["of"] for r in table["rows"]}["pathology"] == 8


def test_comparable_in_the_papers_shape_over_the_papers_datasets_measured():
    [table] = published_comparison(RESULTS, "unimed-clip-21")
    assert table["comparable"] and table["reason"] is None
    datasets = {r["dataset"]: r["measured"] for r in table["rows"] if r["kind"] == "dataset"}
    assert datasets == {"acl_mri": {"trained": 80.0, "untrained": 50.0}, "meniscal_mri": {"trained": 60.0, "untrained": 50.0},
                        "chexpert-5x200": {"trained": 50.0, "untrained": 20.0}}  # not my_xray: the paper has none such
    means = {r["modality"]: r for r in table["rows"] if r["kind"] != "dataset"}
    assert means["mri"]["measured"] == {"trained": 70.0, "untrained": 50.0} and (means["mri"]["datasets"], means["mri"]["of"]) == (2, 2)
    assert means["xray"]["measured"]["trained"] == 50.0 and (means["xray"]["datasets"], means["xray"]["of"]) == (1, 2)
    assert means["fundus"]["measured"] == {"trained": None, "untrained": None}
    # the paper's averaging: the mean over datasets, not over modality means
    assert means["average"]["measured"]["trained"] == round(100 * (0.8 + 0.6 + 0.5) / 3, 2)
    assert (means["average"]["datasets"], means["average"]["of"]) == (3, 21)
    assert means["xray"]["reported"]["UniMed-CLIP ViT-B/16"] == 68.78
    assert len(table["missing"]) == 18 and "rsna_pneumonia" in table["missing"] and "acl_mri" not in table["missing"]

    rows, header = published_rows(table, ["trained", "untrained"])
    assert header[:4] == ("dataset / modality", "modality / averaged over", "trained (measured)", "untrained (measured)")
    assert ("acl_mri", "mri", "80.00", "50.00", "–", "–", "–") in rows
    assert ("average", "3 of 21 datasets", "63.33", "40.00", "61.63", "49.02", "53.37") in rows
    assert "rsna_pneumonia" in published_missing(table) and "18 of the paper's datasets" in published_missing(table)


def test_unknown_benchmark_and_bad_numbers_are_errors(tmp_path):
    with pytest.raises(ValueError, match="not in published.yaml"):
        published_comparison(RESULTS, "nope")
    bad = tmp_path / "p.yaml"
    bad.write_text("benchmarks:\n  b: {title: t, citation: c, metric: top1, models: {m: {xray: 0.7, mri: 170}}}\n")
    with pytest.raises(ValueError, match="mri"):
        load_published(str(bad))
