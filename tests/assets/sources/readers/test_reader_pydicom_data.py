"""Every real DICOM file of the pydicom-data package (68 files, CT/MR/CR/US/NM/SEG, 10 transfer
syntaxes): the decodable ones land, the rest are quarantined with a reason, and files holding
the same image in different encodings get the same pixel hash after normalization."""

from __future__ import annotations

from collections import defaultdict

import pyarrow.parquet as pq
import pytest
from data_store import DataStore
from reader_helpers import make_spec, run_ingest

from assets.ingest.chunked import ingest_if_changed
from assets.ingest.parts import published_parts
from assets.sources.readers import read_source

DATA = DataStore().data_path
# One line per image stored in several encodings (multi-frame files: their middle frame).
SAME_IMAGE = [
    # explicit little endian, RLE, explicit big endian, JPEG 2000 lossless, JPEG-LS lossless
    {"emri_small.dcm#frame5", "emri_small_RLE.dcm#frame5", "emri_small_big_endian.dcm#frame5",
     "emri_small_jpeg_2k_lossless.dcm#frame5", "emri_small_jpeg_ls_lossless.dcm#frame5"},
    # 8, 16 and 32 bits per sample, little and big endian, a gdcm J2K round trip
    {"SC_rgb.dcm", "SC_rgb_16bit.dcm", "SC_rgb_32bit.dcm", "SC_rgb_expb.dcm", "SC_rgb_expb_16bit.dcm",
     "SC_rgb_expb_32bit.dcm", "SC_rgb_gdcm2k_uncompressed.dcm"},
    {"SC_rgb_2frame.dcm#frame1", "SC_rgb_16bit_2frame.dcm#frame1", "SC_rgb_32bit_2frame.dcm#frame1",
     "SC_rgb_expb_2frame.dcm#frame1", "SC_rgb_expb_16bit_2frame.dcm#frame1", "SC_rgb_expb_32bit_2frame.dcm#frame1"},
    # YBR_FULL stored, and dcmtk's JPEG round trips of it (decoded copies)
    {"SC_ybr_full_uncompressed.dcm", "SC_rgb_dcmtk_ebcyn2_dcmd.dcm", "SC_rgb_dcmtk_ebcys2_dcmd.dcm",
     "SC_rgb_dcmtk_ebcys4_dcmd.dcm"},
    {"SC_rgb_dcmtk_ebcyn1_dcmd.dcm", "SC_rgb_dcmtk_ebcynp_dcmd.dcm"},
    # palette colour: little endian, big endian, RLE
    {"OBXXXX1A.dcm", "OBXXXX1A_expb.dcm", "OBXXXX1A_rle.dcm"},
    {"OBXXXX1A_2frame.dcm#frame1", "OBXXXX1A_expb_2frame.dcm#frame1", "OBXXXX1A_rle_2frame.dcm#frame1"},
    {"gdcm-US-ALOKA-16.dcm", "gdcm-US-ALOKA-16_big.dcm"},  # 16-bit palette, little and big endian
    {"liver.dcm#frame1", "liver_expb.dcm#frame1"},  # 1-bit segmentation
    {"color-pl.dcm", "color-px.dcm"},  # planar and interleaved RGB
    # JPEG 2000 lossless (J2KR) and irreversible (J2KI) next to their decoded originals
    {"693_J2KR.dcm", "693_UNCR.dcm"},
    {"MR2_J2KR.dcm", "MR2_UNCR.dcm"}, {"MR2_J2KI.dcm", "MR2_UNCI.dcm"},
    {"RG1_J2KR.dcm", "RG1_UNCR.dcm"}, {"RG1_J2KI.dcm", "RG1_UNCI.dcm"},
    {"RG3_J2KR.dcm", "RG3_UNCR.dcm"}, {"RG3_J2KI.dcm", "RG3_UNCI.dcm"},
    {"US1_J2KR.dcm", "US1_UNCR.dcm"}, {"US1_J2KI.dcm", "US1_UNCI.dcm"},
]
QUARANTINED = {"emri_small_jpeg_2k_lossless_too_short.dcm": "no_pixel_data"}


@pytest.fixture(scope="module")
def ingested(tmp_path_factory):
    spec = make_spec("dicom", DATA, modality="ct", label_from="none", privacy="public")
    return run_ingest(read_source(spec), tmp_path_factory.mktemp("pydicom_data"))


def test_every_file_is_ingested_or_quarantined_with_a_reason(ingested):
    stats, samples, quarantine = ingested
    files = sorted(p.name for p in DATA.iterdir())
    assert len(files) == stats["rows_read"] == 68
    assert {q["orig_path"]: q["reason"] for q in quarantine} == QUARANTINED
    landed = {s["orig_path"].split("#")[0] for s in samples}
    assert landed | set(QUARANTINED) == set(files) and stats["ingested"] == 67
    assert all(s["width"] > 0 and s["pixel_std"] > 0 for s in samples if "liver" not in s["orig_path"])


def test_same_image_in_different_encodings_hashes_alike(ingested):
    _, samples, _ = ingested
    by_hash = defaultdict(set)
    for s in samples:
        by_hash[s["pixel_sha256"]].add(s["orig_path"])
    groups = sorted(sorted(g) for g in by_hash.values() if len(g) > 1)
    assert groups == sorted(sorted(g) for g in SAME_IMAGE)


def test_lossless_and_lossy_versions_differ(ingested):
    _, samples, _ = ingested
    sha = {s["orig_path"]: s["pixel_sha256"] for s in samples}
    for name in ("MR2", "RG1", "RG3", "US1"):
        assert sha[f"{name}_J2KR.dcm"] != sha[f"{name}_J2KI.dcm"]


def test_as_a_clinical_source_every_file_passes_the_privacy_check_unnamed(tmp_path, monkeypatch):
    """No false positive of the privacy check on the real files (measured: ~330 identifiers from their
    names and identity tags, no hit), and no file name left in an id. The 13 frames with burned-in text
    (test_reader_burned_in_text.py names them) are quarantined: a clinical source searches for it."""
    monkeypatch.setenv("MEDPAIRS_PRIVACY_SALT", "pydicom-data")
    spec = make_spec("dicom", DATA, modality="ct", label_from="none")
    stats, _, _ = ingest_if_changed(spec, out_dir=str(tmp_path / "s"), quarantine_dir=str(tmp_path / "q"),
                                    code_version="t")
    assert (stats["ingested"], stats["quarantine_reasons"]) == (54, {"no_pixel_data": 1,
                                                                     "burned_in_text_suspected": 13})
    assert stats["privacy"]["identifiers_searched"] > 300
    ids = pq.read_table(published_parts(str(tmp_path / "s"))[0]).column("orig_path").to_pylist()
    assert all(i.startswith("id-") and len(i) == 35 for i in ids) and len(set(ids)) == 54
