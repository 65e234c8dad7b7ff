"""A corpus of clinical exports that hide a patient's and a physician's names in DICOM descriptions,
identity tags, folder names and file names, ingested, curated and exported: no planted string reaches
any file written (every Parquet column, the raw Parquet bytes, _parts.json, the shards' members)."""

from __future__ import annotations

import io
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dicom_helpers import write_dicom
from PIL import Image
from PIL.PngImagePlugin import PngInfo
from reader_helpers import make_spec, png_bytes

from assets.curation.curate import curate
from assets.export.identifier_check import check_no_identifiers, digest_files
from assets.export.webdataset import export_shards
from assets.ingest.chunked import ingest_if_changed
from assets.ingest.parts import published_parts
from assets.sources.readers.clinical import SALT_ENV

SALT = "corpus-test-salt"
PLANTED = ["Janet", "Quincyworth", "7731942", "Kildare", "Gregory", "Smithers", "Montgomery", "19580214",
           "20210304", "2021-03-04", "4 Mar", "bed 12", SALT]
IDENTITY = {"PatientName": "Quincyworth^Janet", "PatientID": "7731942", "PatientBirthDate": "19580214",
            "ReferringPhysicianName": "Kildare^Gregory", "StudyDate": "20210304", "AccessionNumber": "A7731942",
            "InstitutionName": "Smithers Memorial"}


def _dicom_export(root):
    patient = root / "pneumonia" / "QUINCYWORTH_JANET_7731942" / "20210304"
    image = np.random.default_rng(0).integers(0, 4096, (32, 32), dtype=np.uint16)
    write_dicom(patient / "AX T2 Quincyworth.dcm", image, bits_stored=12, phi=False, **IDENTITY,
                SeriesDescription="AX T2 - Janet Quincyworth - bed 12",
                StudyDescription="seen by Dr Kildare on 4 Mar 2021, MRN 7731942")
    write_dicom(patient / "IM0002.dcm", image[::-1].copy(), bits_stored=12, phi=False,
                **{**IDENTITY, "PatientName": ""}, ImageComments="Quincyworth Janet CT head")
    write_dicom(patient / "burned Janet.dcm", image, bits_stored=12, phi=False, **IDENTITY, BurnedInAnnotation="YES")
    data = write_dicom(patient / "IM0004.dcm", image, bits_stored=12, phi=False, **IDENTITY).read_bytes()
    (patient / "IM0004.dcm").write_bytes(data[:-100])  # truncated: its error detail must name no one
    (patient / "Janet Quincyworth notes.txt").write_text("seen by Dr Kildare")
    write_dicom(root / "normal" / "Kildare_Gregory" / "IM0001.dcm", image.T.copy(), bits_stored=12, phi=False,
                PatientName="Kildare^Gregory", PatientID="7731942")
    write_dicom(root / "Smithers_Montgomery" / "IM0001.dcm", image, bits_stored=12, phi=False)  # no class


def _imagefolder_export(root):
    (root / "pneumonia" / "QUINCYWORTH_JANET").mkdir(parents=True)
    (root / "pneumonia" / "QUINCYWORTH_JANET" / "Quincyworth Janet 2021-03-04.png").write_bytes(png_bytes(seed=1))
    (root / "pneumonia" / "QUINCYWORTH_JANET" / "broken Janet.png").write_bytes(png_bytes(seed=2)[:60])
    (root / "normal" / "KILDARE_GREGORY").mkdir(parents=True)
    text = PngInfo()
    text.add_text("Author", "Dr Gregory Kildare")  # a text chunk: the pixels are re-encoded without it
    Image.open(io.BytesIO(png_bytes(seed=3))).save(root / "normal" / "KILDARE_GREGORY" / "img.png", pnginfo=text)
    (root / "normal" / "KILDARE_GREGORY" / "Kildare_report.txt").write_text("x")
    (root / "Smithers_Montgomery").mkdir()
    (root / "Smithers_Montgomery" / "x.png").write_bytes(png_bytes(seed=4))  # not a class


@pytest.fixture
def outputs(tmp_path, monkeypatch):
    monkeypatch.setenv(SALT_ENV, SALT)
    _dicom_export(tmp_path / "pacs_dicom")
    _imagefolder_export(tmp_path / "pacs_png")
    store = tmp_path / "store"
    parts = []
    for fmt, folder, options in (("dicom", "pacs_dicom", {"text_tags": ["SeriesDescription", "StudyDescription",
                                                                         "ImageComments"]}),
                                 ("imagefolder", "pacs_png", {})):
        spec = make_spec(fmt, tmp_path / folder, classes=["pneumonia", "normal"], privacy="clinical", **options)
        ingest_if_changed(spec, out_dir=str(store / "samples" / fmt), quarantine_dir=str(store / "quarantine" / fmt),
                          code_version="t")
        parts += published_parts(str(store / "samples" / fmt))
    captions = store / "captions.parquet"
    pq.write_table(pa.Table.from_pylist([{"source": s, "label": label, "status": "valid", "origin": "llm",
                                          "caption": f"A {label} image."}
                                         for s in ("test_dicom", "test_imagefolder")
                                         for label in ("pneumonia", "normal")]), captions)
    curate(parts, str(captions), str(store / "pairs.parquet"), str(store / "log.parquet"),
           out_clusters=str(store / "clusters.parquet"))
    exported = export_shards(str(store / "pairs.parquet"), str(store / "shards"), split="train")
    assert exported["num_samples"] >= 3
    shards = [str(store / "shards" / name) for name in exported["shard_sha256"]]
    checked = check_no_identifiers(digest_files(str(store / "samples"), "_identifiers.parquet"), shards,
                                   [exported["manifest"]], salt=SALT.encode)
    assert checked["identifiers_searched"] > 10
    return store, [tmp_path / "pacs_dicom", tmp_path / "pacs_png"]


def _found(data: bytes, extra) -> list[str]:
    low = data.lower()
    return [s for s in [*PLANTED, *map(str, extra)] if s.lower().encode() in low]


def test_the_exports_do_plant_the_names(tmp_path):
    _dicom_export(tmp_path / "d")
    _imagefolder_export(tmp_path / "i")
    raw = b"".join(p.read_bytes() for p in (tmp_path / "d").rglob("*.dcm"))
    assert {"Janet", "Quincyworth", "Kildare", "bed 12", "4 Mar"} <= set(_found(raw, []))
    assert "Kildare" in _found((tmp_path / "i" / "normal" / "KILDARE_GREGORY" / "img.png").read_bytes(), [])


def test_no_planted_string_in_any_output_file(outputs, tmp_path):
    store, roots = outputs
    files = sorted(p for p in store.rglob("*") if p.is_file())
    parquet = [p for p in files if p.suffix == ".parquet"]
    assert len(parquet) >= 7 and any(p.suffix == ".tar" for p in files)  # ingest, curation, export
    reasons = set()
    for path in parquet:
        table = pq.read_table(path)
        for row in table.to_pylist():
            text = json.dumps({k: v for k, v in row.items() if not isinstance(v, bytes)}, default=str)
            assert not _found(text.encode(), roots), (path.name, _found(text.encode(), roots))
            reasons.add(row.get("reason"))
        pq.write_table(table, tmp_path / "plain.parquet", compression="none")
        assert not _found((tmp_path / "plain.parquet").read_bytes(), roots), path
    for path in files:
        if path.suffix != ".parquet":
            assert not _found(path.read_bytes(), roots), path
    assert {"unknown_label", "burned_in_annotation", "corrupt", "not_dicom", "unsupported_extension"} <= reasons


def test_allow_listed_descriptions_keep_only_technical_words(outputs):
    store, _ = outputs
    tags = [json.loads(p)["row"]["meta"]["dicom"] for part in (store / "samples" / "dicom").glob("part-*.parquet")
            for p in pq.read_table(part).column("provenance").to_pylist()]
    assert sorted(t.get("SeriesDescription", "") + "|" + t.get("ImageComments", "") for t in tags) == [
        "AX T2|", "|", "|CT head"]
    assert not any("StudyDescription" in t for t in tags)
