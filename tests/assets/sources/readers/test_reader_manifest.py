"""CSV / TSV / JSONL manifests: single and multi-label rows, captions, splits, bad rows."""

from __future__ import annotations

import gzip
import json

import pytest
from reader_helpers import make_spec, png_bytes, run_ingest

from assets.sources.catalog import ClassInfo
from assets.sources.readers import SourceError, read_source

CHEXPERT_HEADER = "Path,Sex,Age,No Finding,Cardiomegaly,Edema,Pleural Effusion\n"
CHEXPERT_ROWS = [  # path, findings (No Finding, Cardiomegaly, Edema, Pleural Effusion)
    ("CheXpert-small/train/p1/view1.jpg", "1.0,,0.0,"),
    ("CheXpert-small/train/p2/view1.jpg", ",1.0,-1.0,1.0"),
    ("CheXpert-small/train/p3/view1.jpg", ",-1.0,,0.0"),
    ("CheXpert-small/train/p4/view1.jpg", ",,2.0,"),  # not a one-hot value
]


def _chexpert(tmp_path):
    """CheXpert's layout: the CSV inside the dataset folder, paths relative to its parent."""
    folder = tmp_path / "CheXpert-small"
    for path, _ in CHEXPERT_ROWS:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_bytes(png_bytes(seed=len(path) + int(path[22])))
    lines = [f"{p},Female,68,{f}\n" for p, f in CHEXPERT_ROWS]
    (folder / "train.csv").write_text(CHEXPERT_HEADER + "".join(lines))
    return folder / "train.csv"


@pytest.mark.parametrize("uncertain, expected", [
    ("uncertain", ["no finding", "cardiomegaly and pleural effusion", "no finding"]),
    ("positive", ["no finding", "cardiomegaly and edema and pleural effusion", "cardiomegaly"]),
    ("negative", ["no finding", "cardiomegaly and pleural effusion", "no finding"]),
])
def test_chexpert_one_hot_columns_with_uncertainty_policy(tmp_path, uncertain, expected):
    csv_path = _chexpert(tmp_path)
    spec = make_spec("csv", csv_path, classes=["cardiomegaly", "edema", ClassInfo("pleural effusion")],
                     path_column="Path", image_root="..", uncertain=uncertain,
                     label_columns=["No Finding", "Cardiomegaly", "Edema", "Pleural Effusion"])
    src = read_source(spec)
    assert src.root == f"file://{tmp_path}"  # the parent of the CSV's folder
    stats, samples, quarantine = run_ingest(src, tmp_path / "out")
    assert [s["label"] for s in sorted(samples, key=lambda s: s["orig_path"])] == expected
    assert [(q["reason"], q["orig_path"]) for q in quarantine] == [("bad_label", CHEXPERT_ROWS[3][0])]
    prov = json.loads(next(s for s in samples if "p2" in s["orig_path"])["provenance"])["row"]
    assert prov["labels"] == expected[1].split(" and ")
    assert prov.get("meta", {}).get("uncertain_labels") == (["edema"] if uncertain == "uncertain" else None)
    assert "Sex" not in prov and "68" not in json.dumps(prov)  # other columns stay out unless asked


def test_quarantine_policy_for_uncertain_cells(tmp_path):
    spec = make_spec("csv", _chexpert(tmp_path), path_column="Path", image_root="..", uncertain="quarantine",
                     label_columns=["No Finding", "Cardiomegaly", "Edema", "Pleural Effusion"])
    errors = [r.error for r in read_source(spec).records]
    assert errors == [None, "uncertain_label", "uncertain_label", "bad_label"]


def test_nih_finding_labels_column_with_separator(tmp_path):
    (tmp_path / "images").mkdir()
    rows = [("00001.png", "Cardiomegaly|Effusion"), ("00002.png", "No Finding"), ("00003.png", "Hernia|Mass")]
    for name, _ in rows:
        (tmp_path / "images" / name).write_bytes(png_bytes(seed=int(name[:5])))
    body = "Image Index\tFinding Labels\tPatient ID\n" + "".join(f"{n}\t{f}\t{i}\n" for i, (n, f) in enumerate(rows))
    (tmp_path / "Data_Entry.tsv").write_text(body)
    spec = make_spec("tsv", tmp_path / "Data_Entry.tsv", classes=["cardiomegaly", "effusion", "mass", "hernia"],
                     path_column="Image Index", label_column="Finding Labels", label_separator="|",
                     image_root="images")
    records = list(read_source(spec).records)
    assert [(r.label, r.labels) for r in records] == [
        ("cardiomegaly and effusion", ("cardiomegaly", "effusion")), ("no finding", ()),
        ("hernia and mass", ("hernia", "mass"))]
    assert all(r.split == "train" for r in records)


def test_csv_rows_missing_files_unknown_labels_bad_paths_and_bad_encoding(tmp_path):
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "a.png").write_bytes(png_bytes(seed=1))
    (tmp_path / "img" / "b.png").write_bytes(png_bytes(seed=2))
    lines = [b"path,label,caption,split\n",
             b"img/a.png,Normal,A clear chest,test\n",
             b'img/b.png,pneumonia,"quoted, with comma",valid\n',
             b"img/gone.png,normal,,train\n",
             b"img/c.png,tumour,,train\n",
             b"../etc/passwd,normal,,train\n",
             b"img/d.png,normal,caf\xe9 latin-1,train\n",
             b",normal,,train\n",
             b"img/e.png,,,train\n"]
    (tmp_path / "m.csv.gz").write_bytes(gzip.compress(b"".join(lines)))
    spec = make_spec("csv", tmp_path / "m.csv.gz", classes=["normal", "pneumonia"])
    records = list(read_source(spec).records)
    assert [r.error for r in records] == [None, None, None, "unknown_label", "bad_path", "bad_encoding",
                                          "bad_row", "missing_label"]
    assert (records[0].label, records[0].split, records[0].caption) == ("normal", "test", "A clear chest")
    assert (records[1].split, records[1].caption) == ("val", "quoted, with comma")
    stats, samples, quarantine = run_ingest(read_source(spec), tmp_path / "out")
    assert stats["rows_read"] == 8 and stats["ingested"] == 2
    assert stats["quarantine_reasons"] == {"bad_encoding": 1, "bad_path": 1, "bad_row": 1, "missing_file": 1,
                                           "missing_label": 1, "unknown_label": 1}


def test_jsonl_image_text_rows(tmp_path):
    (tmp_path / "a.png").write_bytes(png_bytes(seed=1))
    (tmp_path / "b.png").write_bytes(png_bytes(seed=2))
    lines = [json.dumps({"path": "a.png", "caption": "CT of the abdomen with a renal cyst.", "id": "roco_1"}).encode(),
             json.dumps({"path": "b.png", "caption": ""}).encode(),
             b'{"path": "b.png", "caption": "bad \xff byte"}',
             b"{not json",
             b"[1, 2]",
             json.dumps({"path": "b.png", "caption": "lone surrogate \ud800"}).encode(),
             b""]
    (tmp_path / "pairs.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    spec = make_spec("jsonl", tmp_path / "pairs.jsonl", kind="image_text", modality="ct", id_column="id")
    records = list(read_source(spec).records)
    assert [r.error for r in records] == [None, "missing_caption", "bad_encoding", "bad_row", "bad_row",
                                          "bad_encoding"]
    assert records[0].record_id == "roco_1" and records[0].path == "a.png" and records[0].label is None
    assert records[2].record_id == "pairs.jsonl#line3"
    stats, samples, _ = run_ingest(read_source(spec), tmp_path / "out")
    assert [(s["kind"], json.loads(s["provenance"])["row"]["caption"]) for s in samples] == [
        ("image_text", "CT of the abdomen with a renal cyst.")]


def test_manifest_missing_a_required_column_fails_the_source(tmp_path):
    (tmp_path / "m.csv").write_text("file,label\na.png,normal\n")
    with pytest.raises(SourceError, match=r"lacks column\(s\) \['path'\]"):
        list(read_source(make_spec("csv", tmp_path / "m.csv")).records)


def test_an_unknown_split_in_the_data_is_quarantined(tmp_path):
    (tmp_path / "img").mkdir()
    for name, seed in (("a", 1), ("b", 2), ("c", 3)):
        (tmp_path / "img" / f"{name}.png").write_bytes(png_bytes(seed=seed))
    (tmp_path / "m.csv").write_text("path,label,split\nimg/a.png,normal,train\nimg/b.png,normal,holdout\n"
                                    "img/c.png,normal,Validation\n")
    spec = make_spec("csv", tmp_path / "m.csv", classes=["normal"])
    records = list(read_source(spec).records)
    assert [(r.split, r.error) for r in records] == [("train", None), ("holdout", "unknown_split"), ("val", None)]
    assert "'holdout'" in records[1].error_detail
    stats, _, _ = run_ingest(read_source(spec), tmp_path / "out")
    assert (stats["rows_read"], stats["ingested"], stats["quarantine_reasons"]) == (3, 2, {"unknown_split": 1})


def test_columns_by_position_and_list_literal_cells(tmp_path):
    """UniMed-CLIP's evaluation CSVs: undocumented headers read by position, paths and labels written as
    Python list literals ("['a.png']")."""
    for name in ("a.png", "b.png"):
        (tmp_path / name).write_bytes(png_bytes(seed=len(name) + ord(name[0])))
    (tmp_path / "test.csv").write_text('x,y\n"[\'a.png\']",3\n"[\'b.png\', \'c.png\']",0\n[],1\n')
    spec = make_spec("csv", tmp_path / "test.csv", path_column=0, label_column=1, list_columns=[0])
    records = list(read_source(spec).records)
    assert [(r.path, r.label) for r in records[:2]] == [("a.png", "3"), ("b.png", "0")]
    assert records[2].error == "bad_row" and "list literal" in records[2].error_detail
    with pytest.raises(SourceError, match="no column at position 5"):
        list(read_source(make_spec("csv", tmp_path / "test.csv", path_column=5)).records)


def test_row_filter_keeps_matching_rows_and_accounts_for_the_rest(tmp_path):
    """CheXpert's frontal-only filter (UniMed keeps frontal views): other rows are quarantined with a reason."""
    (tmp_path / "a.png").write_bytes(png_bytes(seed=1))
    (tmp_path / "b.png").write_bytes(png_bytes(seed=2))
    (tmp_path / "c.png").write_bytes(png_bytes(seed=3))
    (tmp_path / "m.csv").write_text("Path,Frontal/Lateral,AP/PA,label\n"
                                    "a.png,Frontal,AP,x\nb.png,Lateral,,x\nc.png,Frontal,PA,x\n")
    spec = make_spec("csv", tmp_path / "m.csv", path_column="Path",
                     filter={"Frontal/Lateral": "Frontal", "AP/PA": ["AP", "PA"]})
    records = list(read_source(spec).records)
    assert [r.error for r in records] == [None, "excluded_by_filter", None]
    assert "'Lateral' is not one of ['Frontal']" in records[1].error_detail
    with pytest.raises(SourceError, match=r"lacks column\(s\) \['View'\]"):
        list(read_source(make_spec("csv", tmp_path / "m.csv", path_column="Path", filter={"View": "PA"})).records)


def test_image_folders_find_each_rows_file_by_name(tmp_path):
    # NIH ChestX-ray14 as Kaggle ships it: images_001/images/, images_002/images/; the CSV names files only.
    for folder, name in (("images_001", "00000001_000.png"), ("images_002", "00000002_000.png")):
        (tmp_path / folder / "images").mkdir(parents=True)
        (tmp_path / folder / "images" / name).write_bytes(png_bytes(seed=len(folder)))
    (tmp_path / "Data_Entry_2017_v2020.csv").write_text(
        "Image Index,Finding Labels\n00000001_000.png,Hernia\n00000002_000.png,No Finding\n00000003_000.png,Mass\n")
    spec = make_spec("csv", tmp_path / "Data_Entry_2017_v2020.csv", classes=["hernia", "mass"],
                     path_column="Image Index", label_column="Finding Labels", label_separator="|",
                     image_folders=["images", "images_*/images"])
    _, samples, quarantine = run_ingest(read_source(spec), tmp_path / "out")
    assert sorted((s["orig_path"], s["label"]) for s in samples) == [
        ("images_001/images/00000001_000.png", "hernia"), ("images_002/images/00000002_000.png", "no finding")]
    assert [(q["reason"], q["detail"]) for q in quarantine] == [
        ("missing_file", "'00000003_000.png' is in none of the image_folders ['images', 'images_*/images']")]


def test_a_label_list_column_gives_every_item_as_a_label(tmp_path):
    # FLAIR's pretraining dataframes: an unnamed index, the image path, attributes, categories as list literals.
    rows = [("03_IDRID/a.jpg", "['moderate diabetic retinopathy', 'diabetic macular edema']"),
            ("03_IDRID/b.jpg", "['no diabetic retinopathy']"), ("23_HRF/Noise/c.jpg", "[]"),
            ("03_IDRID/d.jpg", "moderate"), ("03_IDRID/e.jpg", "['retinitis']")]
    (tmp_path / "03_IDRID.csv").write_text(",image,atributes,categories\n" + "".join(
        f'{i},{path},[],"{cats}"\n' for i, (path, cats) in enumerate(rows)))
    spec = make_spec("csv", tmp_path / "03_IDRID.csv", path_column="image", label_column="categories",
                     label_list=True, classes=["no diabetic retinopathy", "moderate diabetic retinopathy",
                                               ClassInfo("diabetic macular edema", synonyms=("dme",))])
    got = [(r.path, r.error or r.labels) for r in read_source(spec).records]
    assert got == [("03_IDRID/a.jpg", ("diabetic macular edema", "moderate diabetic retinopathy")),
                   ("03_IDRID/b.jpg", ("no diabetic retinopathy",)), (None, "missing_label"),
                   (None, "bad_label"), (None, "unknown_label")]
