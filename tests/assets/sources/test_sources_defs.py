"""source_catalog through dg.materialize: the snapshot and the UI tables never show a clinical
source's location; its metadata says which sources are there and readable. synthetic_source draws only
for a catalog that has synthetic sources."""

from __future__ import annotations

import json

import dagster as dg
import pytest

from assets.shared import layout
from assets.shared.storage import StorageResource
from assets.sources.defs import source_catalog, synthetic_source
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



@pytest.mark.parametrize("entry, drawn", [
    ("{name: busi, modality: ultrasound, format: imagefolder, location: busi}", False),  # a recipe of real sources
    ("{name: synthetic, format: synthetic}", True),
])
def test_synthetic_images_are_drawn_only_for_a_catalog_that_names_them(tmp_path, entry, drawn):
    (tmp_path / "catalog.yaml").write_text(f"sources:\n  - {entry}\n")
    with dg.instance_for_test() as instance:
        result = dg.materialize([synthetic_source], instance=instance, resources={
            "storage": StorageResource(root=str(tmp_path / "store")),
            "catalog": SourceCatalogResource(path=str(tmp_path / "catalog.yaml"))},
            run_config={"ops": {"synthetic_source": {"config": {"train_per_class": 1, "test_per_class": 1,
                                                                   "image_size": 16}}}})
    meta = result.asset_materializations_for_node("synthetic_source")[0].metadata
    assert (meta["num_images"].value > 0) == drawn == (tmp_path / "store" / layout.SYNTHETIC_SOURCE).exists()
    assert ("not_drawn" in meta) != drawn
