"""Clinical sources: ids are keyed hashes, no folder or file name and no source root reaches a record,
an ingest output or an error message; the salt stays out of every output."""

from __future__ import annotations

import json
import os
import stat

import pyarrow.parquet as pq
import pytest
from reader_helpers import make_spec, png_bytes

from assets.ingest.chunked import ingest_if_changed
from assets.ingest.parts import published_parts
from assets.sources.fingerprint import source_fingerprint
from assets.sources.readers import SourceError, read_source
from assets.sources.readers.clinical import (
    SALT_ENV,
    SALT_FILE_ENV,
    keyed_id,
    privacy_salt,
)

PLANTED = ["Doe", "Janet", "7731942", "Smith", "Gregory"]


@pytest.fixture
def pacs_export(tmp_path):
    """An ImageFolder export laid out as class/<LAST>_<FIRST>_<MRN>/<file named after the patient>."""
    root = tmp_path / "pacs"
    patient = root / "pneumonia" / "DOE_JANET_7731942"
    patient.mkdir(parents=True)
    (patient / "Doe Janet chest.png").write_bytes(png_bytes(seed=1))
    (patient / "Smith_Gregory_notes.txt").write_text("not an image")
    (root / "normal" / "SMITH_GREGORY").mkdir(parents=True)
    (root / "normal" / "SMITH_GREGORY" / "img1.png").write_bytes(png_bytes(seed=2))
    return root


def _strings(table) -> list[str]:
    return [json.dumps(v, default=str) for row in table.to_pylist() for k, v in row.items()
            if not isinstance(v, bytes) and k != "image"] + [r["image"]["path"] for r in table.to_pylist()
                                                               if r.get("image")]


def _planted_in(texts: list[str], extra: list[str] = ()) -> list[str]:
    return [p for p in [*PLANTED, *extra] for t in texts if p.lower() in t.lower()]


def test_clinical_imagefolder_outputs_hold_no_name_path_or_root(pacs_export, tmp_path, monkeypatch):
    monkeypatch.setenv(SALT_ENV, "test-salt")
    spec = make_spec("imagefolder", pacs_export, classes=["pneumonia", "normal"], privacy="clinical")
    out, bad = tmp_path / "out" / "samples", tmp_path / "out" / "quarantine"
    stats, _, _ = ingest_if_changed(spec, out_dir=str(out), quarantine_dir=str(bad), code_version="t")
    assert (stats["ingested"], stats["quarantined"]) == (2, 1)
    samples = pq.read_table(published_parts(str(out))[0])
    quarantine = pq.read_table(published_parts(str(bad))[0])
    assert sorted(samples.column("label").to_pylist()) == ["normal", "pneumonia"]
    assert all(p.startswith("id-") for p in samples.column("orig_path").to_pylist() + quarantine.column("orig_path").to_pylist())
    texts = _strings(samples) + _strings(quarantine)
    assert not _planted_in(texts, [str(pacs_export), "test-salt"]), texts
    assert all("root" not in json.loads(p) for p in samples.column("provenance").to_pylist())
    assert stats["privacy"]["identifiers_searched"] > 0


def test_the_same_export_as_public_keeps_its_paths(pacs_export):
    records = list(read_source(make_spec("imagefolder", pacs_export, classes=["pneumonia", "normal"])).records)
    assert "pneumonia/DOE_JANET_7731942/Doe Janet chest.png" in {r.record_id for r in records}


@pytest.mark.parametrize("read", [read_source, source_fingerprint])
def test_clinical_error_messages_do_not_name_the_location(tmp_path, read):
    missing = tmp_path / "Doe_Janet_export"
    with pytest.raises(SourceError) as err:
        read(make_spec("dicom", missing))
    assert "does not exist" in str(err.value) and "Doe_Janet" not in str(err.value)
    with pytest.raises(SourceError, match="Doe_Janet_export"):
        read(make_spec("dicom", missing, privacy="public"))


def test_keyed_ids_depend_on_the_salt_and_are_not_plain_hashes():
    import hashlib
    path = "pneumonia/DOE_JANET/1.png"
    assert keyed_id(b"a", path) == keyed_id(b"a", path) != keyed_id(b"b", path)
    assert keyed_id(b"a", path)[3:] != hashlib.sha256(path.encode()).hexdigest()[:32]


def test_the_salt_comes_from_the_environment_or_a_private_file(tmp_path, monkeypatch):
    monkeypatch.delenv(SALT_ENV, raising=False)
    monkeypatch.setenv(SALT_FILE_ENV, str(tmp_path / "instance" / "privacy_salt"))
    salt = privacy_salt()
    assert len(salt) == 64 and privacy_salt() == salt
    assert stat.S_IMODE(os.stat(tmp_path / "instance" / "privacy_salt").st_mode) == 0o600
    monkeypatch.setenv(SALT_ENV, "from-env")
    assert privacy_salt() == b"from-env"


@pytest.mark.parametrize("classes", [(), ("pneumonia", "normal")])
def test_a_clinical_source_takes_labels_only_from_its_classes(tmp_path, monkeypatch, classes):
    monkeypatch.setenv(SALT_ENV, "test-salt")
    (tmp_path / "DOE_JANET").mkdir()
    (tmp_path / "DOE_JANET" / "1.png").write_bytes(png_bytes())
    (record,) = read_source(make_spec("imagefolder", tmp_path, classes=classes, privacy="clinical")).records
    assert (record.label, record.error) == (None, "unknown_label")
    assert "DOE" not in record.error_detail and "catalog's classes" in record.error_detail


def test_a_clinical_manifest_label_outside_the_classes_is_not_repeated_in_the_detail(tmp_path, monkeypatch):
    monkeypatch.setenv(SALT_ENV, "test-salt")
    (tmp_path / "m.csv").write_text("path,label\na.png,Gregory Smith\nb.png,normal\n")
    records = list(read_source(make_spec("csv", tmp_path / "m.csv", classes=["normal"], privacy="clinical")).records)
    assert [(r.label, r.error) for r in records] == [(None, "unknown_label"), ("normal", None)]
    assert "Smith" not in records[0].error_detail
