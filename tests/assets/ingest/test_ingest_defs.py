"""raw_samples through dg.materialize: a clinical source's blocking no_identifiers check, and an
ingest whose output would hold a patient's name failing with the file and column named."""

from __future__ import annotations

import dagster as dg
import pytest
from PIL import Image

from assets.ingest.defs import raw_samples
from assets.shared.storage import StorageResource
from assets.sources.readers.clinical import SALT_ENV
from assets.sources.resource import SourceCatalogResource

CATALOG = """\
sources:
  - {name: pacs, modality: xray, format: csv, location: pacs/list.csv, privacy: clinical, classes: [normal],
     options: {keep_columns: [note]}}
"""


def _materialize(tmp_path, note: str) -> dg.ExecuteInProcessResult:
    (tmp_path / "pacs" / "DOE_JANET").mkdir(parents=True)
    Image.new("L", (16, 16), 90).save(tmp_path / "pacs" / "DOE_JANET" / "1.png")
    (tmp_path / "pacs" / "list.csv").write_text(f"path,label,note\nDOE_JANET/1.png,normal,{note}\n")
    (tmp_path / "catalog.yaml").write_text(CATALOG)
    resources = {"storage": StorageResource(root=str(tmp_path / "store")),
                 "catalog": SourceCatalogResource(path=str(tmp_path / "catalog.yaml"))}
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("sources", ["pacs"])
        return dg.materialize([raw_samples], resources=resources, partition_key="pacs", instance=instance,
                              raise_on_error=False)


@pytest.fixture(autouse=True)
def _salt(monkeypatch):
    monkeypatch.setenv(SALT_ENV, "test-salt")


def test_a_clean_clinical_ingest_passes_its_blocking_privacy_check(tmp_path):
    result = _materialize(tmp_path, "portable")
    assert result.success
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    assert checks["no_identifiers"].passed and checks["counts_balance"].passed
    assert checks["no_identifiers"].metadata["identifiers_searched"].value > 0
    meta = result.asset_materializations_for_node("raw_samples")[0].metadata
    assert "location" not in meta and meta["privacy"].value == "clinical"


def test_a_name_copied_into_the_output_fails_the_ingest_naming_file_and_column(tmp_path):
    result = _materialize(tmp_path, "copied from DOE_JANET")
    assert not result.success
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    message = failure.event_specific_data.error.message
    assert "samples part-" in message and "column provenance" in message and "JANET" not in message.upper()
    assert not (tmp_path / "store" / "raw_samples" / "samples" / "pacs" / "_parts.json").exists()
