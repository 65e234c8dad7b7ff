"""Curation of real files nobody here made: the DICOM files of the pydicom-data package, read by
the DICOM reader and ingested. Files that hold one image in different encodings (lossless ones
share decoded pixels; lossy JPEG / JPEG 2000 copies and LUT renderings do not, but stay within
a few pHash bits) end in one cluster, with one file kept; as training copies of an evaluation
image they are all removed. The tolerance this relies on is asserted first: copies of one image
within RADIUS bits of each other, different images more than RADIUS + 2 bits apart."""

from __future__ import annotations

import itertools
from collections import defaultdict

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from data_store import DataStore

from assets.curation.curate import account, balanced, check_invariants, curate
from assets.ingest.images import hamming
from assets.ingest.ingest import ingest_rows
from assets.sources.catalog import SourceSpec, SplitRule
from assets.sources.readers import read_source

SOURCE = "pydicom_data"
RADIUS = 4  # CurationParams.near_duplicate_radius, the default
# One set per image held in several files (multi-frame files: the frame the reader takes).
SAME_IMAGE = [
    # explicit little / big endian, 16 and 32 bits, a gdcm J2K round trip, YBR_FULL, and dcmtk's
    # lossy JPEG round trips (ebcr, ebcyn2, ebcys2/4: up to 6 grey levels off, the same pHash)
    {"SC_rgb.dcm", "SC_rgb_16bit.dcm", "SC_rgb_32bit.dcm", "SC_rgb_expb.dcm", "SC_rgb_expb_16bit.dcm",
     "SC_rgb_expb_32bit.dcm", "SC_rgb_gdcm2k_uncompressed.dcm", "SC_ybr_full_uncompressed.dcm",
     "SC_rgb_dcmtk_ebcr_dcmd.dcm", "SC_rgb_dcmtk_ebcyn2_dcmd.dcm", "SC_rgb_dcmtk_ebcys2_dcmd.dcm",
     "SC_rgb_dcmtk_ebcys4_dcmd.dcm"},
    {"SC_rgb_2frame.dcm#frame1", "SC_rgb_16bit_2frame.dcm#frame1", "SC_rgb_32bit_2frame.dcm#frame1",
     "SC_rgb_expb_2frame.dcm#frame1", "SC_rgb_expb_16bit_2frame.dcm#frame1", "SC_rgb_expb_32bit_2frame.dcm#frame1"},
    {"SC_rgb_dcmtk_ebcyn1_dcmd.dcm", "SC_rgb_dcmtk_ebcynp_dcmd.dcm"},
    # explicit little endian, RLE, big endian, JPEG 2000 lossless, JPEG-LS lossless
    {"emri_small.dcm#frame5", "emri_small_RLE.dcm#frame5", "emri_small_big_endian.dcm#frame5",
     "emri_small_jpeg_2k_lossless.dcm#frame5", "emri_small_jpeg_ls_lossless.dcm#frame5"},
    # JPEG 2000 lossless (J2KR) and lossy (J2KI), each beside its decoded original
    {"MR2_J2KR.dcm", "MR2_UNCR.dcm", "MR2_J2KI.dcm", "MR2_UNCI.dcm"},
    {"RG1_J2KR.dcm", "RG1_UNCR.dcm", "RG1_J2KI.dcm", "RG1_UNCI.dcm"},
    {"RG3_J2KR.dcm", "RG3_UNCR.dcm", "RG3_J2KI.dcm", "RG3_UNCI.dcm"},
    {"US1_J2KR.dcm", "US1_UNCR.dcm", "US1_J2KI.dcm", "US1_UNCI.dcm"},
    {"693_J2KR.dcm", "693_UNCR.dcm", "693_UNCI.dcm"},
    # palette colour: little endian, big endian, RLE
    {"OBXXXX1A.dcm", "OBXXXX1A_expb.dcm", "OBXXXX1A_rle.dcm"},
    {"OBXXXX1A_2frame.dcm#frame1", "OBXXXX1A_expb_2frame.dcm#frame1", "OBXXXX1A_rle_2frame.dcm#frame1"},
    {"gdcm-US-ALOKA-16.dcm", "gdcm-US-ALOKA-16_big.dcm"},
    {"liver.dcm#frame1", "liver_expb.dcm#frame1"},
    {"color-pl.dcm", "color-px.dcm"},  # planar and interleaved RGB
    {"JPEG-LL.dcm", "JPEG2000_UNC.dcm"},  # one CT slice, JPEG lossless and decoded J2K
    {"mlut_18.dcm", "vlut_04.dcm"},  # one CT slice under a modality LUT and a VOI LUT
]


@pytest.fixture(scope="module")
def ingested(tmp_path_factory) -> str:
    """pydicom-data ingested as one source, every sample in the test split."""
    spec = SourceSpec(name=SOURCE, modality="ct", format="dicom", location=str(DataStore().data_path),
                      split=SplitRule(by="fixed", default="test"), options={"label_from": "none"}, privacy="public")
    src = read_source(spec)
    out = tmp_path_factory.mktemp("pydicom_data")
    stats = ingest_rows(src.rows(), root=src.root, out_path=str(out / "raw.parquet"),
                        quarantine_path=str(out / "quarantine.parquet"))
    assert stats["ingested"] == 67
    return str(out / "raw.parquet")


def test_copies_lie_within_the_radius_and_other_images_beyond_it(ingested):
    """The margin the cluster tests stand on (measured: at most 4 bits inside a group, 7 between
    images). Lossy copies differ from their original by decoder rounding, so their distance is a
    tolerance, not an identity; before pHash coefficients were rounded, the CPU's BLAS kernel moved
    the flat-colour SC_rgb images 3 to 6 bits from their copies."""
    phash = {r["orig_path"]: r["phash"] for r in pq.read_table(ingested, columns=["orig_path", "phash"]).to_pylist()}
    group = {path: i for i, g in enumerate(SAME_IMAGE) for path in g}
    inside, between = [], []
    for a, b in itertools.combinations(sorted(phash), 2):
        same = a in group and group.get(a) == group.get(b)
        (inside if same else between).append((hamming(phash[a], phash[b]), a, b))
    assert max(inside)[0] <= RADIUS, max(inside)
    assert min(between)[0] > RADIUS + 2, min(between)


def _curate(tmp_path, raw: str) -> tuple[dict, list[dict], list[dict], list[dict]]:
    captions = tmp_path / "captions.parquet"
    pq.write_table(pa.Table.from_pylist([{"source": SOURCE, "label": "scan", "status": "valid", "origin": "llm",
                                          "caption": "A medical scan from a DICOM file."}]), captions)
    pairs, log, clusters = (str(tmp_path / f"{n}.parquet") for n in ("pairs", "log", "clusters"))
    stats = curate(raw, str(captions), pairs, log, out_clusters=clusters)
    assert set(check_invariants(pairs, near_duplicate_radius=RADIUS).values()) == {0}
    assert balanced(account(raw, pairs, log))
    return stats, *(pq.read_table(p).to_pylist() for p in (pairs, log, clusters))


def test_files_holding_one_image_end_in_one_cluster(tmp_path, ingested):
    stats, pairs, log, clusters = _curate(tmp_path, ingested)

    members = defaultdict(set)
    for r in clusters:
        members[r["cluster_id"]].add(r["orig_path"])
    assert sorted(map(sorted, members.values())) == sorted(map(sorted, SAME_IMAGE))
    kept_ids = {r["sample_id"] for r in pairs}
    kept = {r["orig_path"] for r in clusters if r["sample_id"] in kept_ids}
    assert kept == {r["orig_path"] for r in clusters if r["outcome"] == "kept"}
    assert all(len(group & kept) == 1 for group in SAME_IMAGE)
    assert stats["kept"] == 67 - sum(len(g) - 1 for g in SAME_IMAGE)
    near = {r["orig_path"] for r in log if r["reason"] == "near_duplicate" and r["hamming_distance"] > 0}
    assert near  # some copies are lossy: only the perceptual hash finds them
    assert stats["dropped_by_reason"].keys() == {"exact_duplicate", "near_duplicate"}


def test_training_copies_of_a_real_evaluation_image_are_removed(tmp_path, ingested):
    # The first file of each group stays an evaluation image; the others become training samples.
    evaluation = {sorted(g)[0] for g in SAME_IMAGE}
    table = pq.read_table(ingested)
    in_groups = pc.is_in(table["orig_path"], pa.array(sorted(set().union(*SAME_IMAGE))))
    to_train = pc.and_(in_groups, pc.invert(pc.is_in(table["orig_path"], pa.array(sorted(evaluation)))))
    table = table.set_column(table.schema.get_field_index("split"), "split",
                             pc.if_else(to_train, "train", table["split"]))
    table = table.set_column(table.schema.get_field_index("label"), "label",
                             pc.if_else(to_train, "scan", table["label"]))
    # Without patients (these files share a few PatientIDs, which would drop the copies as
    # evaluation_patient first): pixel decontamination alone.
    table = table.set_column(table.schema.get_field_index("group_id"), "group_id",
                             pa.nulls(len(table), pa.string()))
    raw = str(tmp_path / "raw.parquet")
    pq.write_table(table, raw)

    stats, pairs, log, _ = _curate(tmp_path, raw)
    assert not [r for r in pairs if r["split"] == "train"]
    reasons = {r["orig_path"]: r["reason"] for r in log}
    assert {p for g in SAME_IMAGE for p in g if p not in evaluation} == set(reasons)
    assert set(reasons.values()) == {"evaluation_duplicate", "evaluation_near_duplicate"}
    assert sum(stats["decontamination"][SOURCE].values()) == len(reasons)
