"""The benchmark_report asset through Dagster, on a storage root left by a real one-epoch training run: the
trained model, its untrained twin, the shuffled-caption control when its asset was materialized (and a note
saying it was not, otherwise) and configured checkpoints, one of which cannot be had, on the same splits; the
report's quality checks as asset check results."""

import json
import shutil
from pathlib import Path

import dagster as dg
import pytest
import torch
from report_helpers import check_report_in_browser

from assets.report.aggregate import CHECKS
from assets.report.defs import REPORT_KEY, benchmark_report, check_results
from assets.report.render import browser
from assets.report.suite import load_suite
from assets.shared.storage import StorageResource
from assets.sources.resource import SourceCatalogResource
from assets.training.runs import read_run_pointer
from models.clip.model_configs import CONFIG_DIR


def _materialize(root, **config):
    result = dg.materialize(
        [benchmark_report],
        resources={"storage": StorageResource(root=str(root)),
                   "catalog": SourceCatalogResource(path=str(root / "catalog.yaml"))},
        run_config={"ops": {"benchmark_report": {"config": config}}},
    )
    assert result.success
    meta = {k: v.value for k, v in result.asset_materializations_for_node("benchmark_report")[0].metadata.items()}
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    return meta, checks, json.loads((root / "report/report.json").read_text())


def test_check_results_carry_each_checks_detail_and_only_selected_ones():
    checks = {"trained_above_chance": {"passed": True, "detail": "CI [0.6, 0.7] vs chance 0.4"},
              "trained_beats_untrained": {"passed": False, "detail": "difference +0.01"}}
    selected = {dg.AssetCheckKey(REPORT_KEY, name) for name in CHECKS} - {dg.AssetCheckKey(REPORT_KEY,
                                                                                           "trained_beats_untrained")}
    [result] = check_results(checks, selected)
    assert result.check_name == "trained_above_chance" and result.passed is True
    assert result.metadata["detail"].value == "CI [0.6, 0.7] vs chance 0.4"
    assert result.metadata["asserts"].value == CHECKS["trained_above_chance"]
    assert [r.passed for r in check_results(checks, selected | {dg.AssetCheckKey(REPORT_KEY,
                                                                                 "trained_beats_untrained")})] \
        == [True, False]


@pytest.mark.slow
def test_without_a_trained_control_the_report_says_so(trained_root):
    root, _ = trained_root
    meta, checks, report = _materialize(root, bootstrap_resamples=50, screenshot=False)
    assert set(report["summary"]) == {"trained", "untrained"} and "shuffled_control" not in report["models"]
    assert any("shuffled_control: not trained" in n for n in report["notes"]) and "not trained" in meta["report"]
    assert report["provenance"]["shuffled control"] == "not trained"
    # the checks whose models are there have results; the control's are not run
    assert set(checks) == set(report["checks"]) == {"trained_above_chance", "trained_beats_untrained"}
    for name, check in checks.items():
        assert check.passed == report["checks"][name]["passed"]
        assert check.metadata["detail"].text == report["checks"][name]["detail"]


@pytest.mark.slow
def test_benchmark_report_asset(control_root, monkeypatch):
    root = control_root
    run = read_run_pointer(str(root / "training"), "clip")  # its checkpoint resolved under the run folder
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # the trained checkpoint again, as open_clip's hf-hub folder (a local BiomedCLIP download's layout)
    folder = root.parent / "trained_as_hf_hub_folder"
    folder.mkdir(exist_ok=True)
    (folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": json.loads(
        (CONFIG_DIR / f"{run['model']}.json").read_text())}))
    state = torch.load(run["checkpoint"], weights_only=True)["state_dict"]
    torch.save({k.removeprefix("module."): v for k, v in state.items()}, folder / "open_clip_pytorch_model.bin")
    baselines = ["biomedclip=hf-hub:microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224",
                 f"same_checkpoint={run['model']}:{run['checkpoint']}", f"same_folder=local-dir:{folder}"]
    meta, checks, report = _materialize(root, baselines=baselines, bootstrap_resamples=200)

    assert set(report["summary"]) == {"trained", "untrained", "shuffled_control", "same_checkpoint", "same_folder"}
    assert report["models"]["biomedclip"]["status"] == "failed" and "BiomedCLIP" in meta["failed_models"]["biomedclip"]
    assert meta["mean_top1_trained"] == report["summary"]["trained"]["mean_top1"]
    # a configured copy of the trained checkpoint scores exactly as the trained model
    assert report["results"]["same_checkpoint"] == report["results"]["trained"]
    assert report["results"]["same_folder"] == report["results"]["trained"] and "same_folder" in meta["report"]
    # every model saw the same test splits
    fingerprints = {m: [r["split_fingerprint"] for r in rows] for m, rows in report["results"].items()}
    assert len({tuple(v) for v in fingerprints.values()}) == 1
    assert {r["source"] for r in report["results"]["trained"]} == {"toy_xray", "toy_ct"}
    assert [r["source"] for r in report["retrieval"]["trained"]] == ["toy_reports"]
    # the control is the one shuffled_control trained, with its own loss curve beside the trained one
    control_checkpoint = str(root / "training/shuffled_control/checkpoints/epoch_1.pt")
    assert report["provenance"]["shuffled control"] == control_checkpoint
    assert set(report["loss_curves"]) == {"trained", "shuffled_control"}
    assert not any("shuffled_control" in n for n in report["notes"])
    # every quality check ran, as an asset check and in the report files
    assert set(checks) == set(report["checks"]) == set(CHECKS) and "checks" in meta
    assert {n: c.passed for n, c in checks.items()} == {n: c["passed"] for n, c in report["checks"].items()}
    assert all(c.metadata["detail"].text == report["checks"][n]["detail"] for n, c in checks.items())
    assert report["composition"]["dropped_by_reason"] == {"evaluation_duplicate": 1, "exact_duplicate": 2}
    # the training mixture, as the export wrote it beside the shards (each pair once here)
    assert report["composition"]["mixture"]["toy_reports"] == {
        "weight": 1.0, "cap": None, "train_pairs": 16, "exported_pairs": 16, "samples": 16, "dropped": {}}
    prov = report["provenance"]
    assert prov["dataset version"].startswith("sha256 of curated pairs ") and prov["code version"].startswith("asset 3")
    assert report["synthetic"] is False  # the toy catalog's sources are not the synthetic default
    assert "## Zero-shot summary" in meta["report"] and "synthetic" not in meta["report"].split("## Models")[0]
    for kind, ext in (("json", "json"), ("markdown", "md"), ("html", "html")):
        assert meta[f"{kind}_path"] == str(root / f"report/report.{ext}") and (root / f"report/report.{ext}").exists()
    if browser.find_chromium():
        assert meta["png_path"] == str(root / "report/report.png")
        check_report_in_browser(root / "report")
    else:
        assert "png_path" not in meta and not (root / "report/report.png").exists()


def test_a_retrieval_only_suite_reports_retrieval_and_skips_the_zero_shot_checks(trained_root, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(trained_root[0], root)
    suite = tmp_path / "retrieval_only.yaml"
    suite.write_text((Path(load_suite.__code__.co_filename).parent / "suite.yaml").read_text()
                     .replace("sources: []", "sources: [toy_reports]"))
    meta, checks, report = _materialize(root, suite=str(suite), bootstrap_resamples=50, screenshot=False)
    assert report["retrieval"]["trained"] and not report["results"] and not report["summary"]
    assert "mean_chance" not in meta and not checks  # nothing zero-shot to judge


@pytest.mark.slow
def test_a_report_from_unchanged_inputs_is_kept_and_any_changed_input_remakes_it(trained_root, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(trained_root[0], root, ignore=shutil.ignore_patterns("report"))
    first, first_checks, report = _materialize(root, bootstrap_resamples=50, screenshot=False)
    written = (root / "report/report.json").read_bytes()
    again, again_checks, _ = _materialize(root, bootstrap_resamples=50, screenshot=False)
    assert not first["unchanged"] and again["unchanged"]
    assert (root / "report/report.json").read_bytes() == written  # not rewritten
    assert {k: v for k, v in again.items() if k != "unchanged"} == {k: v for k, v in first.items() if k != "unchanged"}
    assert {n: c.passed for n, c in again_checks.items()} == {n: c.passed for n, c in first_checks.items()}
    assert report["provenance"]["inputs"].startswith("sha256 ")
    remade, _, changed = _materialize(root, bootstrap_resamples=60, screenshot=False)  # another config
    assert not remade["unchanged"] and changed["provenance"]["inputs"] != report["provenance"]["inputs"]
