"""source_catalog through dg.materialize: the snapshot and the UI tables never show a clinical
source's location; its metadata says which sources are there and readable."""

from __future__ import annotations

import json

import dagster as dg

from assets.shared import layout
from assets.shared.storage import StorageResource
from assets.sources.defs import source_catalog
from assets.sources.resource import SourceCatalogResource
from tests.assets.sources.readers.reader_helpers import png_bytes


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
    meta = result.asset_materializations_for_node("source_catalog")[0].metadata
    table = meta["sources"].value + meta["check"].value
    assert "DOE_JANET" not in snapshot + table and "/datasets/busi" in snapshot and "/datasets/busi" in table
    assert [s["privacy"] for s in json.loads(snapshot)] == ["clinical", "public"]


def test_the_metadata_checks_each_source_within_its_row_limit(tmp_path):
    for i in range(3):
        (tmp_path / "busi" / "benign").mkdir(parents=True, exist_ok=True)
        (tmp_path / "busi" / "benign" / f"{i}.png").write_bytes(png_bytes(seed=i))
    (tmp_path / "catalog.yaml").write_text("""\
sources:
  - {name: busi, modality: ultrasound, format: imagefolder, location: busi}
  - {name: lost, modality: ct, format: imagefolder, location: lost, download: https://example.org/lost}
""")
    with dg.instance_for_test() as instance:
        result = dg.materialize([source_catalog], instance=instance, resources={
            "storage": StorageResource(root=str(tmp_path / "store")),
            "catalog": SourceCatalogResource(path=str(tmp_path / "catalog.yaml"))},
            run_config={"ops": {"source_catalog": {"config": {"check_rows": 2}}}})
    meta = result.asset_materializations_for_node("source_catalog")[0].metadata
    rows = {line.split(" | ")[0].strip("| "): line for line in meta["check"].value.splitlines()}
    assert rows["busi"].startswith("| busi | ok | 3 | 2 (limit) | 2 |")
    assert rows["lost"].startswith("| lost | missing | - | 0 |")
    assert f"expected at {tmp_path}/lost; get it: https://example.org/lost" in rows["lost"]
    assert meta["sources_not_ready"].value == ["lost"]
