"""The catalog check on real files through the real readers: found, missing (where it was expected and
where to get it), a wrong image_root, a manifest's filter, an empty folder, the row limit, and a
clinical source's location and file names never shown."""

from __future__ import annotations

import json

import pytest

from assets.sources.catalog_yaml import load_catalog
from assets.sources.check import check_catalog, check_markdown, details, summary_table
from assets.sources.readers.clinical import SALT_ENV
from tests.assets.sources.readers.reader_helpers import png_bytes

CATALOG = """\
sources:
  - {name: synthetic, format: synthetic}
  - {name: chest, modality: xray, format: imagefolder, location: chest, classes: [normal, pneumonia]}
  - name: frontal
    modality: xray
    format: csv
    location: lists/views.csv
    classes: [normal, effusion]
    options: {image_root: .., filter: {view: Frontal}}
  - {name: wrong_root, modality: xray, format: csv, location: lists/views.csv, classes: [normal, effusion]}
  - {name: gone, modality: ct, format: imagefolder, location: '${MEDPAIRS_DATA_ROOT}/gone',
     download: https://example.org/gone}
  - {name: pacs_gone, modality: ct, format: dicom, location: '${MEDPAIRS_DATA_ROOT}/DOE_JANET/ct'}
  - {name: pacs_list, modality: xray, format: csv, privacy: clinical, location: ward/list.csv, classes: [normal]}
  - {name: empty, modality: xray, format: imagefolder, location: nothing_yet}
"""


@pytest.fixture
def catalog(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDPAIRS_DATA_ROOT", str(tmp_path / "root"))
    monkeypatch.setenv(SALT_ENV, "test-salt")
    for i, label in enumerate(["normal", "normal", "pneumonia"]):
        (tmp_path / "chest" / label).mkdir(parents=True, exist_ok=True)
        (tmp_path / "chest" / label / f"{i}.png").write_bytes(png_bytes(seed=i))
    (tmp_path / "images").mkdir()
    for i in range(4):
        (tmp_path / "images" / f"{i}.png").write_bytes(png_bytes(seed=10 + i))
    (tmp_path / "lists").mkdir()
    # Paths relative to the folder above the list: right with image_root "..", wrong without it.
    (tmp_path / "lists" / "views.csv").write_text(
        "path,label,view\nimages/0.png,normal,Frontal\nimages/1.png,effusion,Lateral\n"
        "images/2.png,effusion,Frontal\nimages/3.png,pneumothorax,Frontal\nimages/9.png,normal,Frontal\n")
    (tmp_path / "ward" / "ROE_JANE").mkdir(parents=True)
    (tmp_path / "ward" / "ROE_JANE" / "1.png").write_bytes(png_bytes(seed=20))
    (tmp_path / "ward" / "list.csv").write_text("path,label\nROE_JANE/1.png,normal\nROE_JANE/2.png,normal\n")
    (tmp_path / "nothing_yet").mkdir()
    (tmp_path / "catalog.yaml").write_text(CATALOG)
    return load_catalog(str(tmp_path / "catalog.yaml"))


def _by_source(tmp_path, specs, **limits):
    checks = check_catalog(specs, synthetic_dir=str(tmp_path / "store" / "synthetic"), **limits)
    return {c.source: c for c in checks}, checks


def test_each_source_found_or_missing_with_its_counts_and_first_problems(tmp_path, catalog):
    by, _ = _by_source(tmp_path, catalog)
    assert by["chest"].status == "ok" and (by["chest"].files, by["chest"].rows, by["chest"].quarantined) == (3, 3, {})
    assert by["chest"].images_checked == 3 and by["chest"].complete

    frontal = by["frontal"]  # every row accounted for: 1 outside the filter, 1 unknown label, 1 image missing
    assert (frontal.rows, frontal.passed_filter) == (5, 4)
    assert frontal.quarantined == {"excluded_by_filter": 1, "missing_file": 1, "unknown_label": 1}
    assert (frontal.status, frontal.images_checked, frontal.images_missing) == ("images missing", 3, 1)
    assert any("pneumothorax" in p for p in frontal.problems)
    assert any(f"{tmp_path}/images/9.png does not exist" in p for p in frontal.problems)
    assert not any("excluded_by_filter" in p for p in frontal.problems)  # what a filter is for: no problem

    wrong = by["wrong_root"]  # paths looked for under lists/: every checked image is missing
    assert wrong.status == "images missing" and wrong.images_missing == wrong.images_checked == 4
    assert f"{tmp_path}/lists/images/0.png does not exist" in wrong.problems[0]

    gone = by["gone"]
    assert (gone.status, gone.ready, gone.files, gone.rows) == ("missing", False, None, 0)
    assert details(gone) == [f"expected at {tmp_path}/root/gone", "get it: https://example.org/gone"]
    assert (by["empty"].status, by["empty"].problems) == ("no usable rows", ["its reader finds nothing to ingest"])
    assert all(by[f"synthetic_{m}"].status == "not drawn yet" and by[f"synthetic_{m}"].ready
               for m in ("xray", "ct", "mri", "ultrasound", "pathology", "fundus"))


def test_a_clinical_source_shows_neither_its_location_nor_its_file_names(tmp_path, catalog):
    by, checks = _by_source(tmp_path, catalog)
    assert by["pacs_gone"].status == "missing" and by["pacs_list"].status == "images missing"
    assert by["pacs_list"].images_missing == 1 and by["pacs_list"].problems[0].startswith("id-")
    shown = json.dumps([c.to_dict() for c in checks]) + check_markdown(checks) + "".join(
        line for c in checks for line in details(c))
    assert "DOE_JANET" not in shown and "ROE_JANE" not in shown and "ward" not in shown
    assert str(tmp_path / "chest") in shown  # a public source's location is shown


def test_the_row_limit_stops_each_source_early_and_says_so(tmp_path, catalog):
    by, checks = _by_source(tmp_path, catalog, rows=2, images=1)
    frontal = by["frontal"]
    assert (frontal.rows, frontal.complete, frontal.images_checked) == (2, False, 1)
    assert details(frontal)[0] == "stopped after 2 rows (the limit): the counts are of those"
    header, rows = summary_table(checks)
    assert dict(zip(header, rows[[c.source for c in checks].index("frontal")]))["rows read"] == "2 (limit)"
    assert by["chest"].rows == 2 and not by["chest"].complete
