"""The results page builder on small made-up stage results: every stage, figure and ratio reaches the page."""

import json

from bench.suite import build_page, load_results, stage_figures

META = {"date": "2026-01-01T00:00:00+00:00", "machine": {"cpus": 2, "platform": "Linux-test"},
        "versions": {"python": "3.11.7", "duckdb": "1.0.0", "torch": None},
        "gpu": {"available": False, "reason": "no GPU"}, "load_average_before": [0.5, 0.5, 0.5]}
RESULTS = {
    "data_stages": {"date": "d1", "figures": [
        {"stage": "ingest", "unit": "images/s", "value": 1160.3, "baseline": "PIL decode + PNG encode",
         "baseline_value": 497.4, "ratio": 2.33},
        {"stage": "curation", "unit": "samples/s", "value": 4621.8, "baseline": "-", "baseline_value": None,
         "ratio": None}]},
    "curation": {"date": "d2", "near_duplicate_search": [
        {"n": 1000000, "radius": 4, "seconds": 1.64, "speedup_vs_numpy": 2512.8}]},
    "ingest": {"date": "d3", "sets": [{"images": "png256", "count": 1200, "scaling": 0.9}]},
    "gpu": {"date": "d4", "available": False, "note": "no GPU: the GPU section was not run", "figures": []},
}


def test_figures_list_is_used_as_is():
    rows = stage_figures(RESULTS["data_stages"])
    assert [r["figure"] for r in rows] == ["ingest (images/s)", "curation (samples/s)"]
    assert rows[0]["ratio"] == 2.33 and rows[0]["baseline_value"] == 497.4


def test_ratios_found_in_older_result_layouts():
    (row,) = stage_figures(RESULTS["curation"])
    assert row["figure"] == "near_duplicate_search[1000000] speedup_vs_numpy" and row["ratio"] == 2512.8
    (row,) = stage_figures(RESULTS["ingest"])
    assert row["figure"] == "sets[png256] scaling" and row["ratio"] == 0.9


def test_page_renders_every_stage_ratio_and_meta():
    page, combined = build_page(RESULTS, META)
    for stage in RESULTS:
        assert f"## {stage}" in page
    for text in ("| ingest (images/s) | 1,160 | PIL decode + PNG encode | 497 | 2.33 |", "2,513", "| 0.90 |",
                 "GPU: no GPU.", "duckdb 1.0.0", "2 cores", "Note: no GPU"):
        assert text in page, text
    assert "torch" not in page.split("Versions:")[1].split("\n")[0]  # absent libraries are left out
    assert set(combined["stages"]) == set(RESULTS)
    assert combined["stages"]["data_stages"]["figures"][0]["ratio"] == 2.33
    json.dumps(combined)  # the combined results are JSON as they stand


def test_load_results_reads_only_present_stage_files(tmp_path):
    (tmp_path / "ingest.json").write_text(json.dumps(RESULTS["ingest"]))
    (tmp_path / "unrelated.json").write_text("{}")
    assert load_results(str(tmp_path)) == {"ingest": RESULTS["ingest"]}
