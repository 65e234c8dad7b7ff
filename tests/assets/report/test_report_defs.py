"""The benchmark_report asset through Dagster, on a storage root left by a real one-epoch training run: the
trained model, its untrained twin, the shuffled-caption control (trained too) and configured checkpoints,
one of which cannot be had, on the same splits."""

import json

import dagster as dg
import pytest
from report_helpers import check_report_in_browser

from assets.report.defs import benchmark_report
from assets.report.render import browser
from assets.shared.storage import StorageResource
from assets.sources.resource import SourceCatalogResource


@pytest.mark.slow
def test_benchmark_report_asset(trained_root, monkeypatch):
    root, run = trained_root
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    baselines = ["biomedclip=hf-hub:microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224",
                 f"same_checkpoint=medpairs-tiny:{run['checkpoint']}"]
    result = dg.materialize(
        [benchmark_report],
        resources={"storage": StorageResource(root=str(root)),
                   "catalog": SourceCatalogResource(path=str(root / "catalog.yaml"))},
        run_config={"ops": {"benchmark_report": {"config": {
            "shuffled_control": True, "baselines": baselines, "bootstrap_resamples": 200}}}},
    )
    assert result.success
    meta = {k: v.value for k, v in result.asset_materializations_for_node("benchmark_report")[0].metadata.items()}
    report = json.loads((root / "report/report.json").read_text())

    assert set(report["summary"]) == {"trained", "untrained", "shuffled_control", "same_checkpoint"}
    assert report["models"]["biomedclip"]["status"] == "failed" and "BiomedCLIP" in meta["failed_models"]["biomedclip"]
    assert meta["mean_top1_trained"] == report["summary"]["trained"]["mean_top1"]
    # a configured copy of the trained checkpoint scores exactly as the trained model
    assert report["results"]["same_checkpoint"] == report["results"]["trained"]
    # every model saw the same test splits
    fingerprints = {m: [r["split_fingerprint"] for r in rows] for m, rows in report["results"].items()}
    assert len({tuple(v) for v in fingerprints.values()}) == 1
    assert {r["source"] for r in report["results"]["trained"]} == {"toy_xray", "toy_ct"}
    assert [r["source"] for r in report["retrieval"]["trained"]] == ["toy_reports"]
    # the control was trained on shuffled captions, with its own loss curve beside the trained one
    assert set(report["loss_curves"]) == {"trained", "shuffled_control"}
    assert (root / "report/shuffled_control/training/shuffled_control/checkpoints/epoch_1.pt").exists()
    assert "shuffled_control_at_chance" in report["checks"] and "checks" in meta
    assert report["composition"]["dropped_by_reason"] == {"evaluation_duplicate": 1, "exact_duplicate": 2}
    prov = report["provenance"]
    assert prov["dataset version"].startswith("sha256 of curated pairs ") and prov["code version"].startswith("asset 2")
    assert json.loads(prov["report config"])["shuffled_control"] is True
    assert report["synthetic"] is False  # the toy catalog's sources are not the synthetic default
    assert "## Zero-shot summary" in meta["report"] and "synthetic" not in meta["report"].split("## Models")[0]
    for kind, ext in (("json", "json"), ("markdown", "md"), ("html", "html")):
        assert meta[f"{kind}_path"] == str(root / f"report/report.{ext}") and (root / f"report/report.{ext}").exists()
    if browser.find_chromium():
        assert meta["png_path"] == str(root / "report/report.png")
        check_report_in_browser(root / "report")
    else:
        assert "png_path" not in meta and not (root / "report/report.png").exists()
