"""read_source: format dispatch, source-level errors, split rules."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from reader_helpers import make_spec, png_bytes

from assets.sources.catalog import SplitRule
from assets.sources.readers import READERS, SampleRecord, SourceError, read_source
from assets.sources.readers.registry import ratio_split, with_split


def test_every_format_has_a_reader_with_an_options_dataclass():
    assert set(READERS) == {"imagefolder", "csv", "tsv", "jsonl", "json", "medmnist_npz", "hf_parquet",
                            "webdataset", "dicom", "nifti", "openi_xml"}
    for reader in READERS.values():
        reader.options()  # defaults alone are valid


@pytest.mark.parametrize("fmt, location, options, message", [
    ("tiff_stack", "x", {}, "unknown format 'tiff_stack'"),
    ("imagefolder", "", {}, "has no location"),
    ("imagefolder", "/nonexistent/medpairs", {}, "does not exist"),
    ("dicom", "/tmp", {"frame": "all"}, "unknown option(s) ['frame']"),
    ("dicom", "/tmp", {"frames": "some"}, "frames must be one of"),
    ("csv", "/tmp", {"uncertain": "maybe"}, "uncertain must be one of"),
    ("csv", "/tmp", {"path_template": "{ID!r}.jpg"}, "every field must name a column"),
    ("csv", "/tmp", {"caption_file": "reports/all.txt"}, "names no column"),
    ("csv", "/tmp", {"join": [{"file": "split.csv", "key": "dicom_id"}]}, "each join is {file, key"),
    ("json", "/tmp", {"records": 3}, "option records must be"),
    ("openi_xml", "/tmp", {"sections": []}, "option sections must list"),
])
def test_source_level_problems_raise_clear_errors(fmt, location, options, message):
    with pytest.raises(SourceError) as err:
        read_source(make_spec(fmt, location, **options))
    assert message in str(err.value)


def test_records_become_ingest_rows_with_bytes_errors_and_extras():
    rec = SampleRecord("a.npz#train/1", "s", "ct", label="cyst", labels=("cyst",), caption="c",
                       image_bytes=b"x", meta={"k": 1})
    row = rec.to_row()
    assert row["path"] == row["record_id"] == "a.npz#train/1" and row["image_bytes"] == b"x"
    assert row["labels"] == ["cyst"] and row["meta"] == {"k": 1} and "error" not in row
    bad = SampleRecord("x", "s", "ct", path="x.png", error="corrupt", error_detail="why").to_row()
    assert bad["error"] == "corrupt" and bad["error_detail"] == "why" and "image_bytes" not in bad
    json.dumps({k: v for k, v in row.items() if k != "image_bytes"})  # the rest is JSON for provenance


def test_ratio_split_is_seeded_stable_and_keeps_groups_together():
    rule = SplitRule(by="ratio", ratios=(("train", 0.7), ("val", 0.1), ("test", 0.2)), seed=3)
    splits = [ratio_split(f"img{i}", rule) for i in range(4000)]
    counts = Counter(splits)
    assert abs(counts["train"] / 4000 - 0.7) < 0.03 and abs(counts["test"] / 4000 - 0.2) < 0.03
    assert splits == [ratio_split(f"img{i}", rule) for i in range(4000)]
    assert splits != [ratio_split(f"img{i}", SplitRule(by="ratio", ratios=rule.ratios, seed=4)) for i in range(4000)]
    frames = [SampleRecord(f"vol.dcm#frame{i}", "s", "ct", group="patient-1") for i in range(50)]
    assert len({with_split(r, rule).split for r in frames}) == 1


def test_given_split_falls_back_to_default_and_fixed_overrides(tmp_path):
    for split, name in (("train", "a.png"), ("test", "b.png")):
        (tmp_path / split / "normal").mkdir(parents=True)
        (tmp_path / split / "normal" / name).write_bytes(png_bytes())
    (tmp_path / "normal").mkdir()
    (tmp_path / "normal" / "c.png").write_bytes(png_bytes())
    given = {r.record_id: r.split for r in read_source(make_spec("imagefolder", tmp_path)).records}
    assert given == {"normal/c.png": "train", "test/normal/b.png": "test", "train/normal/a.png": "train"}
    fixed = read_source(make_spec("imagefolder", tmp_path, split=SplitRule(by="fixed", default="test")))
    assert {r.split for r in fixed.records} == {"test"}


CHEXPERT_STYLE = [f"patient{p:05d}/study{s}/view{v}_frontal.jpg" for p in range(40) for s in (1, 2) for v in (1, 2)]


def _patients_split(records) -> dict[str, set]:
    by_patient: dict[str, set] = {}
    for r in records:
        by_patient.setdefault(r.path.split("/")[0], set()).add(r.split)
    return by_patient


@pytest.mark.parametrize("group", [{"group_column": "patient"}, {"group_pattern": r"^(patient\d+)/"}])
def test_a_ratio_split_keeps_each_patient_of_a_manifest_in_one_split(tmp_path, group):
    (tmp_path / "train.csv").write_text("path,label,patient\n" + "".join(
        f"{p},normal,{p.split('/')[0]}\n" for p in CHEXPERT_STYLE))
    rule = dict(by="ratio", ratios=(("train", 0.5), ("test", 0.5)), seed=1)
    ungrouped = _patients_split(read_source(make_spec("csv", tmp_path / "train.csv", split=SplitRule(**rule))).records)
    assert any(len(s) > 1 for s in ungrouped.values())  # studies of one patient on both sides
    grouped = _patients_split(read_source(make_spec("csv", tmp_path / "train.csv",
                                                    split=SplitRule(**rule, **group))).records)
    assert all(len(s) == 1 for s in grouped.values()) and set().union(*grouped.values()) == {"train", "test"}


def test_a_split_from_list_files_matches_ids_paths_or_file_names(tmp_path):
    for rel in ("a/1.png", "a/2.png", "b/3.png", "b/4.png", "b/5.png"):
        (tmp_path / "images" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "images" / rel).write_bytes(png_bytes())
    # Beside the image folder: a file name, a path within it; blank lines skipped.
    (tmp_path / "train.txt").write_text("1.png\na/2.png\n\n5.png\n")
    (tmp_path / "test.txt").write_text("3.png\n5.png\n")  # 5.png in both lists; 4.png in none
    lists = (("train", "train.txt"), ("test", "test.txt"))
    spec = make_spec("imagefolder", tmp_path / "images", split=SplitRule(by="lists", lists=lists, default=""))
    got = {r.record_id: r.error or r.split for r in read_source(spec).records}
    assert got == {"a/1.png": "train", "a/2.png": "train", "b/3.png": "test", "b/4.png": "not_in_split_list",
                   "b/5.png": "ambiguous_split"}
    with_default = make_spec("imagefolder", tmp_path / "images", split=SplitRule(by="lists", lists=lists, default="train"))
    got = {r.record_id: r.error or r.split for r in read_source(with_default).records}
    assert (got["b/4.png"], got["b/5.png"]) == ("train", "ambiguous_split")  # a default never settles a conflict
    missing = make_spec("imagefolder", tmp_path / "images", split=SplitRule(by="lists", lists=(("test", "nope.txt"),)))
    with pytest.raises(SourceError, match="split list 'nope.txt' of split 'test' does not exist"):
        list(read_source(missing).records)
