"""ImageFolder: class folders, optional split folders, every file accounted for through ingest."""

from __future__ import annotations

from reader_helpers import make_spec, png_bytes, run_ingest

from assets.sources.catalog import ClassInfo
from assets.sources.readers import read_source


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
