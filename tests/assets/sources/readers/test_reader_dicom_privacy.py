"""No patient identifier passes DICOM ingest: only allow-listed tags, scrubbed descriptions,
hashed paths and scrubbed error details reach records, provenance and Parquet."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest
from dicom_helpers import FAKE_PHI, PHI_STRINGS, write_dicom
from reader_helpers import make_spec, run_ingest

from assets.sources.readers import SourceError, read_source
from assets.sources.readers.dicom_privacy import scrub
from assets.sources.readers.dicom_text import technical_words


def _phi_found(value) -> list[str]:
    text = value.lower() if isinstance(value, bytes) else str(value).lower().encode()
    return [s for s in PHI_STRINGS if s.lower().encode() in text]


@pytest.fixture
def phi_tree(tmp_path):
    root = tmp_path / "export"
    patient = root / "pneumonia" / "Doe_Janet_7731942" / "20210304"
    image = np.random.default_rng(0).integers(0, 4096, (32, 32), dtype=np.uint16)
    write_dicom(patient / "IM0001.dcm", image, bits_stored=12,
                SeriesDescription="Chest PA Doe^Janet 2021-03-04 MRN-7731942",
                StudyDescription="CT CHEST janet DOE 04/03/2021 Elsewhere", ViewPosition="PA")
    write_dicom(patient / "IM0002.dcm", np.stack([image] * 3), bits_stored=12, SeriesDescription="cine")
    write_dicom(patient / "IM0003.dcm", np.zeros((8, 8, 3), np.uint8), photometric="RGB")
    data = write_dicom(patient / "IM0004.dcm", image, bits_stored=12).read_bytes()
    (patient / "IM0004.dcm").write_bytes(data[:-100])  # truncated pixel data
    return root


def test_the_inputs_do_carry_phi(phi_tree):
    raw = b"".join(p.read_bytes() for p in phi_tree.rglob("*.dcm"))
    assert set(_phi_found(raw)) >= {"Janet", "7731942", "19580214", "ACC55519", "Elsewhere", "Kildare"}


def _tags(records) -> dict:
    return next(r.meta["dicom"] for r in records if r.meta.get("dicom", {}).get("ViewPosition"))


def test_a_public_source_keeps_its_descriptions_scrubbed(phi_tree):
    spec = make_spec("dicom", phi_tree, classes=["pneumonia", "normal"], privacy="public")
    tags = _tags(read_source(spec).records)
    assert (tags["SeriesDescription"], tags["StudyDescription"]) == ("Chest PA", "CT CHEST")


def test_no_phi_in_records_provenance_or_parquet(phi_tree, tmp_path):
    spec = make_spec("dicom", phi_tree, classes=["pneumonia", "normal"], frames="all")
    records = list(read_source(spec).records)
    assert [r.error for r in records].count(None) == 5 and [r.error for r in records].count("corrupt") == 1
    for r in records:
        fields = {k: v for k, v in vars(r).items() if k not in ("image_bytes", "group", "read_from", "identifying")}
        assert not _phi_found(json.dumps(fields, default=str)), fields
    assert _tags(records) == {"Modality": "CT", "BodyPartExamined": "CHEST", "ViewPosition": "PA",
                              "PhotometricInterpretation": "MONOCHROME2", "Rows": 32, "Columns": 32, "BitsStored": 12,
                              "TransferSyntax": "Explicit VR Little Endian", "frame": 0, "frames": 1}
    stats, samples, quarantine = run_ingest(read_source(spec), tmp_path / "out")
    assert (stats["ingested"], stats["quarantined"]) == (5, 1)
    assert {s["label"] for s in samples} == {"pneumonia"}
    for row in samples + quarantine:
        for key, value in row.items():
            assert not _phi_found(value if not isinstance(value, dict) else json.dumps(value, default=str)), key
    for path in (tmp_path / "out").glob("*.parquet"):  # also the raw files, uncompressed
        table = pq.read_table(path)
        pq.write_table(table, tmp_path / "plain.parquet", compression="none")
        assert not _phi_found((tmp_path / "plain.parquet").read_bytes()), path


def test_scrub_removes_the_files_own_identifiers_and_id_shapes():
    identifying = ["Doe^Janet", "Doe", "Janet", "MRN-7731942", "St Elsewhere Memorial"]
    assert scrub("Chest PA Doe^Janet 2021-03-04 MRN-7731942", identifying) == "Chest PA"
    assert scrub("CT abdomen janet doe 04/03/2021 10:45 st elsewhere memorial", identifying) == "CT abdomen"
    assert scrub("T1 MPRAGE SAG 1mm acc 55519123", []) == "T1 MPRAGE SAG 1mm acc"
    assert scrub("Axial Doest", ["Doe"]) == "Axial Doest"  # whole words only
    assert scrub("x" * 100, []) == "x" * 64


def test_fake_phi_covers_the_identifiers_named_in_the_brief():
    assert {"PatientName", "PatientID", "PatientBirthDate", "AccessionNumber", "InstitutionName"} <= set(FAKE_PHI)


@pytest.mark.parametrize("text, kept", [
    ("AX T2 - Janet Doe - bed 12", "AX T2"),
    ("seen by Dr Kildare on 4 Mar 2021, MRN 123", ""),
    ("Quincy Janet CT head", "CT head"),
    ("3.0T SAG T1 MPRAGE 1mm post gad", "3.0T SAG T1 MPRAGE 1mm post gad"),
    ("Chest PA 2.5 mm, slice 12", "Chest PA 2.5 mm"),
    ("HEAD Head", ""),  # a technical word that is one of the file's identifying values goes too
])
def test_technical_words_keep_only_known_words_and_numbers_with_units(text, kept):
    assert technical_words(text, ["Head^Roland"] if text.startswith("HEAD") else []) == kept


def _one_file(tmp_path, **tags):
    write_dicom(tmp_path / "src" / "IM1.dcm", np.zeros((8, 8), np.uint16), bits_stored=12, phi=False, **tags)
    return tmp_path / "src"


@pytest.mark.parametrize("text_tags, expected", [
    ((), {}), (("SeriesDescription", "ImageComments"), {"SeriesDescription": "AX T2", "ImageComments": "CT head"})])
def test_a_clinical_source_drops_free_text_unless_allow_listed_then_keeps_technical_words(tmp_path, text_tags,
                                                                                          expected):
    src = _one_file(tmp_path, PatientName="", SeriesDescription="AX T2 - Janet Quincy - bed 12",
                    StudyDescription="seen by Dr Kildare on 4 Mar 2021, MRN 123", ImageComments="Quincy Janet CT head",
                    ProtocolName="Janet Quincy protocol")
    (record,) = read_source(make_spec("dicom", src, label_from="none", text_tags=text_tags)).records
    free = {k: v for k, v in record.meta["dicom"].items() if k in (
        "SeriesDescription", "StudyDescription", "ImageComments", "ProtocolName")}
    assert free == expected


def test_text_tags_must_be_free_text_tags(tmp_path):
    with pytest.raises(SourceError, match="PatientName"):
        read_source(make_spec("dicom", tmp_path, text_tags=["PatientName"]))


@pytest.mark.parametrize("tags, reason", [({"BurnedInAnnotation": "YES"}, "burned_in_annotation"),
                                          ({"RecognizableVisualFeatures": "YES"}, "recognizable_visual_features"),
                                          ({"BurnedInAnnotation": "NO"}, None)])
def test_pixels_flagged_as_identifying_are_quarantined_unless_the_source_was_reviewed(tmp_path, tags, reason):
    src = _one_file(tmp_path, **tags)
    (record,) = read_source(make_spec("dicom", src, label_from="none")).records
    assert record.error == reason and (reason is None or "keep_burned_in" in record.error_detail)
    (kept,) = read_source(make_spec("dicom", src, label_from="none", keep_burned_in=True)).records
    assert kept.error is None and kept.image_bytes
