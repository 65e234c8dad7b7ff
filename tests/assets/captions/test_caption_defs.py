"""The class_captions asset through dg.materialize, with the http backend resource talking to a real
local server (models/captioning/serve.py): captions per label, the blocking check, and a second
materialization served from the cache without a single request."""

import re

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from assets.captions import defs as caption_defs
from assets.captions.resource import CaptionBackendResource, HTTPOptions
from assets.shared.storage import StorageResource
from assets.sources.resource import SourceCatalogResource
from tests.models.captioning.server_helpers import running_server

CATALOG = """\
sources:
  - name: cxr
    modality: xray
    format: imagefolder
    location: cxr
    classes:
      - {name: cardiomegaly, description: an enlarged cardiac silhouette, synonyms: [enlarged heart]}
      - {name: pleural effusion, description: fluid at the lung base, synonyms: [effusion]}
"""
# The labels ingested samples carry: two classes, a combination of both, and "no finding".
LABELS = ["cardiomegaly", "pleural effusion", "cardiomegaly and pleural effusion", "no finding"]
WORDS = ["apical", "basal", "central", "peripheral", "focal", "subtle", "marked", "mild", "dense", "faint", "round", "oval", "smooth", "lobulated"]


class Writer:
    """Writes a valid caption for whatever the request asks for (the mentioned terms, quoted)."""

    model_id = "writer-1"

    def __init__(self):
        self.requests = 0

    def generate(self, conversations, *, max_new_tokens, temperature, top_p, seed, on_done=None):
        out = []
        for conv in conversations:
            self.requests += 1
            terms = " and ".join(re.findall(r'"([^"]+)"', conv[-1]["content"]))
            w = [WORDS[(self.requests * 5 + k) % len(WORDS)] for k in range(3)]
            out.append(f"Chest X-ray showing {terms} with {w[0]}, {w[1]} and {w[2]} features, case {self.requests}.")
        return out


@pytest.fixture
def server():
    writer = Writer()
    with running_server(writer) as srv:
        yield srv, writer


def test_materializes_then_serves_from_the_cache(tmp_path, server):
    srv, writer = server
    (tmp_path / "catalog.yaml").write_text(CATALOG)
    part = tmp_path / "raw_samples" / "samples" / "cxr" / "part-00000.parquet"
    part.parent.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist([{"source": "cxr", "modality": "xray", "label": label, "kind": "classification",
                                          "split": "train"} for label in LABELS * 2]), part)
    (part.parent / "_parts.json").write_text('{"parts": ["part-00000.parquet"]}')  # as ingest publishes it
    resources = {
        "storage": StorageResource(root=str(tmp_path)),
        "catalog": SourceCatalogResource(path=str(tmp_path / "catalog.yaml")),
        "caption_llm": CaptionBackendResource(backend="http", http=HTTPOptions(
            base_url=f"http://127.0.0.1:{srv.server_address[1]}", model_name="writer-1", max_concurrency=4)),
        "pipes_subprocess_client": dg.PipesSubprocessClient(),
    }
    config = {"ops": {"class_captions": {"config": {"captions_per_class": 3, "max_rounds": 2}}}}

    instance = dg.DagsterInstance.ephemeral()

    def materialize():
        result = dg.materialize([caption_defs.class_captions], resources=resources, run_config=config,
                                instance=instance)
        assert result.success
        messages.append([e.user_message for e in instance.all_logs(result.run_id) if e.user_message])
        (check,) = result.get_asset_check_evaluations()
        assert check.passed
        return result.asset_materializations_for_node("class_captions")[0].metadata

    messages = []
    first = materialize()
    # Progress in the run log: the work as first known, then as it completes, and the final count.
    progress = [m for m in messages[0] if m.startswith("class captions: ")]
    assert progress[0].startswith("class captions: 0/") and "round 1/2, 0/4 classes complete" in progress[0]
    assert progress[-1].startswith(f"class captions: {first['generated'].value}/{first['generated'].value} generations")
    assert first["cache_misses"].value == 4 and first["cache_hits"].value == 0
    assert first["labels_by_kind"].value == {"class": 2, "combination": 1, "no_finding": 1}
    requests = writer.requests
    assert requests >= 12
    table = pq.read_table(tmp_path / "captions" / "class_captions.parquet").to_pylist()
    valid = [r for r in table if r["status"] == "valid"]
    assert {r["label"] for r in valid} == set(LABELS)
    assert all(len([v for v in valid if v["label"] == label]) == 3 for label in LABELS)

    second = materialize()
    assert second["cache_hits"].value == 4 and second["cache_misses"].value == 0 and second["generated"].value == 0
    assert writer.requests == requests  # nothing was asked of the LLM
    again = pq.read_table(tmp_path / "captions" / "class_captions.parquet").to_pylist()
    assert sorted(r["caption"] for r in again) == sorted(r["caption"] for r in table)
