"""Manifest options for tables that are not one row per image with its path and caption: paths and
caption files built from a row's columns, columns joined from other CSVs, JSON documents and nested fields."""

from __future__ import annotations

import gzip
import json

import pytest
from reader_helpers import make_spec, png_bytes, run_ingest

from assets.sources.catalog import SplitRule
from assets.sources.readers import SourceError, read_source


def _study(tmp_path, subject: str, study: str, dicom: str, report: str | None) -> str:
    """One image of a MIMIC-shaped study (files/p10/p10000032/s5.../<dicom>.jpg) and its report beside it."""
    folder = tmp_path / "files" / f"p{subject[:2]}" / f"p{subject}"
    (folder / f"s{study}").mkdir(parents=True, exist_ok=True)
    (folder / f"s{study}" / f"{dicom}.jpg").write_bytes(png_bytes(seed=int(study) % 1000 + len(dicom)))
    if report is not None:
        (folder / f"s{study}.txt").write_text(report)
    return dicom


def test_path_template_caption_file_and_joins(tmp_path):
    reports = {"50414267": "FINDINGS: No effusion.\nIMPRESSION: Normal chest.", "53189527": "IMPRESSION: Edema."}
    _study(tmp_path, "10000032", "50414267", "aa", reports["50414267"])
    _study(tmp_path, "10000032", "50414267", "bb", reports["50414267"])
    _study(tmp_path, "10000764", "53189527", "cc", reports["53189527"])
    _study(tmp_path, "10000898", "54205396", "dd", None)  # a study whose report is missing
    _study(tmp_path, "10000935", "55000000", "ee", "IMPRESSION: Clear.")
    (tmp_path / "meta.csv").write_text("dicom_id,subject_id,study_id\naa,10000032,50414267\nbb,10000032,50414267\n"
                                       "cc,10000764,53189527\ndd,10000898,54205396\nee,10000935,55000000\n")
    with gzip.open(tmp_path / "split.csv.gz", "wt") as f:
        f.write("dicom_id,study_id,subject_id,split\naa,50414267,10000032,train\nbb,50414267,10000032,train\n"
                "cc,53189527,10000764,validate\ndd,54205396,10000898,test\n")  # ee: not in the split file
    (tmp_path / "labels.csv").write_text("subject_id,study_id,Edema\n10000764,53189527,1.0\n")
    spec = make_spec("csv", tmp_path / "meta.csv", kind="image_text", split=SplitRule(column="split"),
                     path_template="files/p{subject_id:.2}/p{subject_id}/s{study_id}/{dicom_id}.jpg",
                     caption_file="files/p{subject_id:.2}/p{subject_id}/s{study_id}.txt",
                     join=[{"file": "split.csv.gz", "key": ["dicom_id"], "columns": ["split"]},
                           {"file": "labels.csv", "key": ["subject_id", "study_id"], "columns": ["Edema"],
                            "required": False}],
                     label_columns=["Edema"])
    records = list(read_source(spec).records)
    assert [(r.path, r.split, r.label, r.error) for r in records] == [
        ("files/p10/p10000032/s50414267/aa.jpg", "train", "no finding", None),
        ("files/p10/p10000032/s50414267/bb.jpg", "train", "no finding", None),
        ("files/p10/p10000764/s53189527/cc.jpg", "val", "Edema", None),
        (None, "test", None, "missing_caption"),
        (None, "train", None, "unmatched_join")]
    assert [r.caption for r in records[:3]] == [reports["50414267"]] * 2 + [reports["53189527"]]
    assert records[3].error_detail == "caption file 'files/p10/p10000898/s54205396.txt' does not exist"
    assert records[4].error_detail == "join file 'split.csv.gz' has no row for its ['dicom_id'] {'dicom_id': 'ee'}"
    stats, _, _ = run_ingest(read_source(spec), tmp_path / "out")
    assert stats["ingested"] == 3 and stats["quarantine_reasons"] == {"missing_caption": 1, "unmatched_join": 1}


def test_a_clinical_source_names_no_caption_file_and_no_key(tmp_path):
    _study(tmp_path, "10000898", "54205396", "dd", None)
    (tmp_path / "meta.csv").write_text("dicom_id,subject_id,study_id\ndd,10000898,54205396\nzz,1,2\n")
    (tmp_path / "split.csv").write_text("dicom_id,split\ndd,train\n")
    spec = make_spec("csv", tmp_path / "meta.csv", kind="image_text", privacy="clinical",
                     path_template="files/p{subject_id:.2}/p{subject_id}/s{study_id}/{dicom_id}.jpg",
                     caption_file="files/p{subject_id:.2}/p{subject_id}/s{study_id}.txt",
                     join=[{"file": "split.csv", "key": ["dicom_id"], "columns": ["split"]}])
    records = list(read_source(spec).records)
    assert [(r.error, r.error_detail) for r in records] == [
        ("missing_caption", "its caption file does not exist"),
        ("unmatched_join", "a join file has no row for its ['dicom_id']")]


@pytest.mark.parametrize("options, message", [
    ({"join": [{"file": "nope.csv", "key": ["id"], "columns": ["split"]}]}, "join file 'nope.csv' does not exist"),
    ({"join": [{"file": "split.csv", "key": ["id"], "columns": ["fold"]}]}, r"lacks column\(s\) \['fold'\]"),
    ({"join": [{"file": "split.csv", "key": ["id"], "columns": ["split"]}]}, "holds key {'id': 'a'} twice"),
    ({"join": [{"file": "split.csv", "key": ["id"], "columns": ["caption"]}]}, "already has column"),
    ({"path_template": "{ID}.jpg"}, r"lacks column\(s\) \['ID'\]"),
])
def test_join_and_template_problems_fail_the_source(tmp_path, options, message):
    (tmp_path / "m.csv").write_text("id,caption\na,x\n")
    (tmp_path / "split.csv").write_text("id,split,caption\na,train,x\na,test,y\n")
    spec = make_spec("csv", tmp_path / "m.csv", kind="image_text", **{"path_template": "{id}.png", **options})
    with pytest.raises(SourceError, match=message):
        list(read_source(spec).records)


def test_a_row_lacking_a_template_value_and_a_template_leaving_the_root(tmp_path):
    (tmp_path / "m.csv").write_text("ID,Caption,report\nROCO_1,,../r.txt\nROCO_2,A CT scan.,r.txt\n")
    spec = make_spec("csv", tmp_path / "m.csv", kind="image_text", caption_file="{report}",
                     path_template="train/{ID}.jpg")
    assert [(r.error, r.error_detail) for r in read_source(spec).records] == [
        ("bad_path", "caption file '../r.txt' is not inside the image root (option caption_file)"),
        ("missing_caption", "caption file 'r.txt' does not exist")]
    spec = make_spec("csv", tmp_path / "m.csv", kind="image_text", caption_column="Caption",
                     path_template="{Caption}.jpg")
    assert read_source(spec).records.__next__().error_detail == "no 'Caption' value for option path_template"


def test_json_documents_with_nested_fields(tmp_path):
    """LLaVA-Med's alignment file (a list; the caption is the gpt turn) and its instruct captions (a dict
    of lists of {pair_id, fig_caption})."""
    (tmp_path / "images").mkdir()
    for name in ("PMC1_F1.jpg", "PMC2_F3.jpg", "9_1.jpg"):
        (tmp_path / "images" / name).write_bytes(png_bytes(seed=len(name)))
    alignment = [{"id": "a", "image": "PMC1_F1.jpg", "conversations": [
                     {"from": "human", "value": "<image>\nDescribe the figure."},
                     {"from": "gpt", "value": " Axial CT of the chest showing a nodule.\n"}]},
                 {"id": "b", "image": "PMC2_F3.jpg", "conversations": [{"from": "human", "value": "<image>"}]},
                 "not an object"]
    (tmp_path / "alignment.json").write_text(json.dumps(alignment))
    spec = make_spec("json", tmp_path / "alignment.json", kind="image_text", modality="ct", path_column="image",
                     caption_column="conversations.1.value", image_root="images")
    records = list(read_source(spec).records)
    assert [(r.path, r.caption, r.error) for r in records] == [
        ("PMC1_F1.jpg", "Axial CT of the chest showing a nodule.", None), (None, None, "missing_caption"),
        (None, None, "bad_row")]
    assert records[2].record_id == "alignment.json#record3"
    stats, _, _ = run_ingest(read_source(spec), tmp_path / "out")
    assert stats["ingested"] == 1

    instruct = {"PMC9": [{"pair_id": "9_1", "fig_caption": "H&E stain.", "in_text_mention": None}], "PMC8": []}
    (tmp_path / "instruct.json").write_text(json.dumps(instruct))
    spec = make_spec("json", tmp_path / "instruct.json", kind="image_text", records="*", image_root="images",
                     path_template="{pair_id}.jpg", caption_column="fig_caption")
    assert [(r.path, r.caption) for r in read_source(spec).records] == [("9_1.jpg", "H&E stain.")]
    with pytest.raises(SourceError, match="holds no list of rows at key 'annotations'"):
        list(read_source(make_spec("json", tmp_path / "instruct.json", records="annotations")).records)
    (tmp_path / "broken.json").write_text("[{")
    with pytest.raises(SourceError, match="is not a JSON document"):
        list(read_source(make_spec("json", tmp_path / "broken.json")).records)
