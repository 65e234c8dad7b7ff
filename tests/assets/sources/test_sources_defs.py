"""source_catalog through dg.materialize: the snapshot and the UI table never show a clinical
source's location."""

from __future__ import annotations

import json

import dagster as dg

from assets.shared import layout
from assets.shared.storage import StorageResource
from assets.sources.defs import source_catalog
from assets.sources.resource import SourceCatalogResource


def test_a_clinical_location_is_in_neither_the_snapshot_nor_the_metadata(tmp_path):
    (tmp_path / "catalog.yaml").write_text("""\
sources:
  - {name: pacs, modality: ct, format: dicom, location: /mnt/exports/DOE_JANET_ward}
  - {name: busi, modality: ultrasound, format: imagefolder, location: /datasets/busi}
""")
    storage = StorageResource(root=str(tmp_path / "store"))
    with dg.instance_for_test() as instance:
        result = dg.materialize([source_catalog], instance=instance, resources={
            "storage": storage, "catalog": SourceCatalogResource(path=str(tmp_path / "catalog.yaml"))})
    snapshot = (tmp_path / "store" / layout.SOURCE_CATALOG).read_text()
    table = result.asset_materializations_for_node("source_catalog")[0].metadata["sources"].value
    assert "DOE_JANET" not in snapshot + table and "/datasets/busi" in snapshot and "/datasets/busi" in table
    assert [s["privacy"] for s in json.loads(snapshot)] == ["clinical", "public"]
