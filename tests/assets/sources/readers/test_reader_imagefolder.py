"""ImageFolder: class folders, optional split folders, every file accounted for through ingest."""

from __future__ import annotations

import pytest
from reader_helpers import make_spec, png_bytes, run_ingest

from assets.sources.catalog import ClassInfo
from assets.sources.readers import SourceError, read_source


def _tree(root):
    files = {
        "train/Pneumonia/p1.png": png_bytes(seed=1),
        "train/normal/n1.PNG": png_bytes(seed=2),
        "test/normal/sub/n2.jpg": png_bytes(seed=3),  # not really JPEG: ingest decodes by content
        "test/normal/.DS_Store": b"junk",  # hidden: skipped
        "test/normal/notes.txt": b"hello",
        "test/tumour/t1.png": png_bytes(seed=4),  # not a class
        "train/loose.png": png_bytes(seed=5),  # no class folder
        "train/normal/empty.png": b"",
        "train/normal/truncated.png": png_bytes(seed=6)[:60],
    }
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)


def test_imagefolder_labels_splits_and_quarantines(tmp_path):
    _tree(tmp_path / "data")
    spec = make_spec("imagefolder", tmp_path / "data",
                     classes=[ClassInfo("pneumonia", synonyms=("consolidation",)), "normal"])
    stats, samples, quarantine = run_ingest(read_source(spec), tmp_path / "out")
    got = {s["orig_path"]: (s["label"], s["split"]) for s in samples}
    assert got == {"train/Pneumonia/p1.png": ("pneumonia", "train"), "train/normal/n1.PNG": ("normal", "train"),
                   "test/normal/sub/n2.jpg": ("normal", "test")}
    reasons = {q["orig_path"]: q["reason"] for q in quarantine}
    assert reasons == {"test/normal/notes.txt": "unsupported_extension", "test/tumour/t1.png": "unknown_label",
                       "train/loose.png": "no_class_folder", "train/normal/empty.png": "empty",
                       "train/normal/truncated.png": "corrupt"}
    assert stats["rows_read"] == 8


def test_imagefolder_without_catalog_classes_takes_folder_names(tmp_path):
    for name in ("cyst", "stone"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "a.png").write_bytes(png_bytes())
    records = list(read_source(make_spec("imagefolder", tmp_path)).records)
    assert sorted((r.label, r.path, r.error) for r in records) == [("cyst", "cyst/a.png", None),
                                                                    ("stone", "stone/a.png", None)]


def test_imagefolder_takes_labels_from_file_names_with_label_pattern(tmp_path):
    """PCam as UniMed-CLIP ships it: one flat folder, `<id>_<label>.png`."""
    for i, name in enumerate(["p0_1.png", "p1_0.png", "unlabelled.png"]):
        (tmp_path / name).write_bytes(png_bytes(seed=i))
    spec = make_spec("imagefolder", tmp_path, classes=[ClassInfo("normal", synonyms=("0",)),
                                                      ClassInfo("tumor", synonyms=("1",))],
                     label_pattern=r"^[^_]*_([^_.]*)")
    records = {r.record_id: r for r in read_source(spec).records}
    assert (records["p0_1.png"].label, records["p1_0.png"].label) == ("tumor", "normal")
    assert records["unlabelled.png"].error == "no_label"


def test_modality_and_label_from_several_folder_levels(tmp_path):
    # RadImageNet's radiology_ai/<modality>/<anatomy>/<finding>/: one source, three modalities.
    for rel in ("CT/abd/pancreatitis/1.png", "MR/knee/acl pathology/2.png", "US/thyroid/thyroid/3.png",
                "PET/brain/normal/4.png", "CT/loose.png", "captions.csv"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(png_bytes(seed=len(rel)))
    spec = make_spec("imagefolder", tmp_path, label_from=[1, 2], modality_folder=0,
                     modalities={"CT": "ct", "MR": "mri", "US": "ultrasound"})
    records = list(read_source(spec).records)
    assert sorted((r.path, r.modality, r.label) for r in records if not r.error) == [
        ("CT/abd/pancreatitis/1.png", "ct", "abd/pancreatitis"), ("MR/knee/acl pathology/2.png", "mri", "knee/acl pathology"),
        ("US/thyroid/thyroid/3.png", "ultrasound", "thyroid/thyroid")]
    assert sorted((r.record_id, r.error) for r in records if r.error) == [
        ("CT/loose.png", "no_class_folder"), ("PET/brain/normal/4.png", "unknown_modality"),
        ("captions.csv", "unsupported_extension")]
    clinical = make_spec("imagefolder", tmp_path, label_from=[1, 2], modality_folder=0, privacy="clinical",
                         classes=["brain/normal"], modalities={"CT": "ct"})
    details = {r.error_detail for r in read_source(clinical).records if r.error == "unknown_modality"}
    assert details == {"its folder is none of ['CT']"}  # MR, US, PET: no folder name shown


@pytest.mark.parametrize("options, message", [
    ({"modality_folder": 0}, "go together"),
    ({"modality_folder": 0, "modalities": {"CT": "pet"}}, r"\['pet'\] are not modalities"),
    ({"label_from": [-1]}, "folder levels"),
])
def test_bad_modality_and_label_options_are_refused(tmp_path, options, message):
    with pytest.raises(SourceError, match=message):
        read_source(make_spec("imagefolder", tmp_path, **options))
