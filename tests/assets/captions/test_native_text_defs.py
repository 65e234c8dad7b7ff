"""native_text_captions and curation through dg.materialize on a real ingest of an image-text CSV
source: reports cleaned (`text: report`, no LLM asked) or condensed by an LLM behind a real local
HTTP server (`text: report_condensed`, a second run served from the cache), each curated pair
carrying its caption's origin, a report that cleans to nothing logged with its reason, and the
counts balancing."""

import csv

import dagster as dg
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from assets.captions.defs import native_text_captions
from assets.captions.resource import CaptionBackendResource, HTTPOptions
from assets.curation.defs import curation
from assets.ingest.defs import raw_samples
from assets.shared import layout
from assets.shared.storage import StorageResource
from assets.sources.resource import SourceCatalogResource
from tests.models.captioning.server_helpers import running_server

REPORTS = {
    "p1.png": "FINDINGS: The lungs are clear. Heart size is normal.\nIMPRESSION: No acute cardiopulmonary process.",
    "p2.png": "INDICATION: ___ with cough.\nFINDINGS: Small left pleural effusion. Please call Dr. ___.\n"
              "IMPRESSION: Small left pleural effusion.",
    "p3.png": "INDICATION: cough.\nCOMPARISON: ___",  # no findings, no impression: no caption
}


class Condenser:
    """Condenses a report into its first sentence as a caption: faithful, so it passes the check."""

    model_id = "condenser-1"

    def __init__(self):
        self.requests = 0

    def generate(self, conversations, *, max_new_tokens, temperature, top_p, seed, on_done=None):
        self.requests += len(conversations)
        return ["Chest X-ray: " + c[-1]["content"].split(".")[0].lower() + "." for c in conversations]


@pytest.fixture
def server():
    condenser = Condenser()
    with running_server(condenser) as srv:
        yield srv, condenser


def _ingested(tmp_path, text: str) -> tuple[dict, dg.DagsterInstance]:
    """A catalog with one image-text CSV source (`text` its treatment), ingested for real."""
    folder = tmp_path / "cxr"
    folder.mkdir()
    rng = np.random.default_rng(0)
    with open(folder / "reports.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "caption", "split"])
        for name, report in REPORTS.items():
            Image.fromarray(rng.integers(0, 255, (64, 64), dtype=np.uint8)).save(folder / name)
            writer.writerow([name, report, "train"])
    (tmp_path / "catalog.yaml").write_text(
        f"sources:\n  - {{name: cxr_reports, modality: xray, kind: image_text, format: csv, "
        f"location: cxr/reports.csv, text: {text}}}\n")
    resources = {"storage": StorageResource(root=str(tmp_path / "store")),
                 "catalog": SourceCatalogResource(path=str(tmp_path / "catalog.yaml"))}
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("sources", ["cxr_reports"])
    assert dg.materialize([raw_samples], resources=resources, partition_key="cxr_reports", instance=instance).success
    # No classification source: no class captions.
    pq.write_table(pa.table({c: pa.array([], pa.string()) for c in ("source", "label", "caption", "status", "origin")}),
                   resources["storage"].path(layout.CLASS_CAPTIONS))
    return resources, instance


def _run(resources, instance, caption_llm) -> tuple[dict, dict, dg.ExecuteInProcessResult]:
    result = dg.materialize([native_text_captions, curation], resources={**resources, "caption_llm": caption_llm,
                                                                       "pipes_subprocess_client": dg.PipesSubprocessClient()},
                            instance=instance, selection=["native_text_captions", "curated_pairs", "curation_log"])
    assert result.success
    meta = {m.asset_key.to_user_string(): {k: v.value for k, v in m.metadata.items()}
            for m in (e.materialization for e in result.get_asset_materialization_events())}
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    assert checks["counts_balance"].passed
    return meta, {k: v.value for k, v in checks["counts_balance"].metadata.items()}, result


def _pairs(resources) -> dict:
    return {r["sample_id"]: r for r in pq.read_table(resources["storage"].path(layout.CURATED_PAIRS)).to_pylist()}


def test_reports_are_cleaned_without_the_llm_and_curated_with_their_origin(tmp_path):
    resources, instance = _ingested(tmp_path, "report")
    # An endpoint nothing listens on: cleaning alone must never reach for the LLM.
    unreachable = CaptionBackendResource(backend="http", http=HTTPOptions(base_url="http://127.0.0.1:9",
                                                                            model_name="none", max_retries=0))
    meta, accounts, _ = _run(resources, instance, unreachable)
    text = meta["native_text_captions"]
    assert (text["samples"], text["captioned"], text["without_caption"]) == (3, 2, 1)
    assert "| cxr_reports | cleaned | 2 |" in text["by_origin"]
    assert "| cxr_reports | report_without_findings | 1 |" in text["by_reason"]
    assert text["condense_cache_misses"] == 0 and "No acute cardiopulmonary process." in text["preview"]
    pairs = _pairs(resources)
    assert sorted(p["captions"][0] for p in pairs.values()) == [
        "No acute cardiopulmonary process. The lungs are clear. Heart size is normal.",
        "Small left pleural effusion."]
    assert {p["caption_origin"] for p in pairs.values()} == {"cleaned"}
    assert meta["curated_pairs"]["kept_by_caption_origin"] == {"cleaned": 2}
    assert meta["curation_log"]["dropped_by_reason"] == {"report_without_findings": 1}
    assert accounts == {"raw_rows": 3, "curated_rows": 2, "log_rows": 1, "unaccounted_samples": 0,
                        "unmatched_text_captions": 0, "text_without_caption": 1, "text_drops_not_logged": 0}


def test_condensed_reports_come_from_the_llm_once_then_from_the_cache(tmp_path, server):
    srv, condenser = server
    resources, instance = _ingested(tmp_path, "report_condensed")
    llm = CaptionBackendResource(backend="http", http=HTTPOptions(
        base_url=f"http://127.0.0.1:{srv.server_address[1]}", model_name="condenser-1"))
    meta, _, result = _run(resources, instance, llm)
    assert condenser.requests == 2 and meta["native_text_captions"]["condense_cache_misses"] == 2
    messages = [e.user_message for e in instance.all_logs(result.run_id) if e.user_message]
    assert any(m.startswith("report condensation: 2/2 reports") for m in messages)
    assert {p["caption_origin"] for p in _pairs(resources).values()} == {"condensed"}
    assert "Chest X-ray: no acute cardiopulmonary process." in {p["captions"][0] for p in _pairs(resources).values()}
    assert meta["curated_pairs"]["kept_by_caption_origin"] == {"condensed": 2}

    again, _, _ = _run(resources, instance, llm)
    assert condenser.requests == 2  # nothing asked of the LLM
    assert (again["native_text_captions"]["condense_cache_hits"], again["native_text_captions"]["condense_cache_misses"]
            ) == (2, 0)
