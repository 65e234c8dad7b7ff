"""The UniMed-CLIP evaluation recipe (pipelines/recipes/unimed_eval.yaml, the real file) read on miniatures
of UniMed's processed evaluation download, laid out with its documented folders, file names and CSV headers;
and its suite file (unimed_eval_suite.yaml) naming prompts and a metric for every entry."""

from __future__ import annotations

import csv
import io
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from assets.report.suite import load_suite
from assets.sources.catalog_yaml import load_catalog
from assets.sources.readers import SourceError, read_source

RECIPES = Path(__file__).resolve().parents[3] / "pipelines" / "recipes"
CATALOG, SUITE = str(RECIPES / "unimed_eval.yaml"), str(RECIPES / "unimed_eval_suite.yaml")
CHEXPERT_TASKS = ["Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Pleural Effusion"]


def _png(path: Path, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (16, 16), dtype=np.uint8)).save(buf, format="PNG")
    path.write_bytes(buf.getvalue())


def _csv(path: Path, header: list[str], rows: list[list]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows([header, *rows])


@pytest.fixture
def data_root(tmp_path, monkeypatch) -> Path:
    """A miniature of the extracted download: NCK_CRC (class folders), LC25000 (lung and colon folders
    side by side), thyroid_us (a CSV read by position), chexpert-5x200 and REFUGE (UniMed's local_data CSVs)."""
    root = tmp_path / "unimed"
    seed = iter(range(10_000))
    for cls in ("ADI", "DEB", "LYM", "MUC", "MUS", "NORM", "STR", "TUM"):
        for i in range(2):
            _png(root / "CRC-VAL-HE-7K" / cls / f"{cls}-{i}.png", next(seed))
    for cls in ("lung_aca", "lung_n", "lung_scc", "colon_aca", "colon_n"):
        for i in range(3):
            _png(root / "LC25000_test" / cls / f"{cls}{i}.png", next(seed))
    thyroid = [[f"images/{i}.png", label] for i, label in enumerate(["benign", "malignant", "benign", "malignant"])]
    for path, _ in thyroid:
        _png(root / "thyroid_us" / path, next(seed))
    _csv(root / "thyroid_us" / "thyroid_test_fold1.csv", ["undocumented_a", "undocumented_b"], thyroid)
    chexpert = []
    for i, task in enumerate(CHEXPERT_TASKS * 2):
        path = f"CheXpert-v1.0-small/train/patient{i:05d}/study1/view1_frontal.jpg"
        _png(root / "chexpert" / path, next(seed))  # PNG bytes under CheXpert's .jpg name: read by content
        chexpert.append([i, path, "Male", 60, "Frontal", "AP", "0.0", *("1.0" if t == task else "0.0"
                                                                       for t in CHEXPERT_TASKS), "impression"])
    _csv(root / "local_data" / "chexpert-5x200.csv",
         ["", "imgpath", "Sex", "Age", "Frontal/Lateral", "AP/PA", "No Finding", *CHEXPERT_TASKS, "Report Impression"],
         chexpert)
    refuge = [[i, f"REFUGE-Training400/{'g' if c == 'glaucoma' else 'n'}{i:04d}.jpg", "[]", f"['{c}']"]
              for i, c in enumerate(["glaucoma", "no glaucoma", "no glaucoma"])]
    for row in refuge:
        _png(root / row[1], next(seed))
    _csv(root / "local_data" / "25_REFUGE.csv", ["", "image", "atributes", "categories"], refuge)
    monkeypatch.setenv("MEDPAIRS_DATA_ROOT", str(root))
    return root


def _read(name: str) -> tuple[Counter, Counter, list]:
    """(labels of good records, their splits, error reasons) of the recipe's entry `name`."""
    spec = {s.name: s for s in load_catalog(CATALOG)}[name]
    records = list(read_source(spec).records)
    good = [r for r in records if r.error is None]
    return Counter(r.label for r in good), Counter(r.split for r in good), sorted(r.error for r in records if r.error)


def test_an_evaluation_sets_training_rows_are_kept_out(tmp_path, monkeypatch):
    """organs_axial/annotations.csv (path, split, organ index) holds train and test rows; UniMed scores the
    test rows: only they are read, as test images, and the others are counted as excluded_by_filter."""
    root = tmp_path / "unimed"
    rows = [[f"images/{i}.png", split, organ] for i, (split, organ) in
            enumerate([("train", 0), ("test", 3), ("val", 5), ("test", 10)])]
    for i, (path, _, _) in enumerate(rows):
        _png(root / "organs_axial" / path, i)
    _csv(root / "organs_axial" / "annotations.csv", ["path", "split", "label"], rows)
    monkeypatch.setenv("MEDPAIRS_DATA_ROOT", str(root))
    labels, splits, errors = _read("CT_axial")
    assert splits == {"test": 2} and errors == ["excluded_by_filter"] * 2 and sum(labels.values()) == 2


def test_class_folders_are_the_classes(data_root):
    labels, splits, errors = _read("NCK_CRC")
    assert labels == {c: 2 for c in ("ADI", "DEB", "LYM", "MUC", "MUS", "NORM", "STR", "TUM")}
    assert splits == {"test": 16} and errors == []


def test_lc25000_folders_become_unimeds_class_names(data_root):
    labels, splits, errors = _read("LC25000_lung")
    assert labels == {"Lung adenocarcinoma": 3, "Benign lung": 3, "Lung squamous cell carcinoma": 3}
    assert splits == {"test": 9} and errors == ["unknown_label"] * 6  # the colon folders, counted
    assert _read("LC25000_colon")[0] == {"Colon adenocarcinoma": 3, "Benign colonic tissue": 3}


def test_a_csv_read_by_position(data_root):
    labels, splits, errors = _read("thyroid_us")
    assert labels == {"benign": 2, "malignant": 2} and splits == {"test": 4} and errors == []


def test_chexpert_5x200_is_one_finding_per_image(data_root):
    labels, splits, errors = _read("chexpert-5x200")
    assert labels == {t: 2 for t in CHEXPERT_TASKS} and splits == {"test": 10} and errors == []


def test_refuge_reads_unimeds_list_literal_labels(data_root):
    labels, splits, errors = _read("refuge_retina")
    assert labels == {"glaucoma": 1, "no glaucoma": 2} and splits == {"test": 3} and errors == []


def test_every_entry_loads_and_a_missing_location_is_reported_by_name(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDPAIRS_DATA_ROOT", str(tmp_path / "nothing-here"))
    specs = load_catalog(CATALOG)
    assert len(specs) == 22 and all(s.location.startswith(str(tmp_path / "nothing-here")) for s in specs)
    for spec in specs:
        with pytest.raises(SourceError) as err:
            read_source(spec)
        assert str(err.value) == f"source {spec.name!r}: location {spec.location!r} does not exist"


def test_the_suite_names_prompts_for_every_class_and_a_metric_for_every_entry(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDPAIRS_DATA_ROOT", str(tmp_path))
    specs, suite = load_catalog(CATALOG), load_suite(SUITE)
    assert set(suite.class_prompts) == set(suite.metrics) == {s.name for s in specs}
    for spec in specs:
        assert list(suite.class_prompts[spec.name]) == spec.class_names(), spec.name
    # every entry but radimagenet_test (UniMed skips it), and two image-text test splits of the training recipe
    # that includes this catalog, for retrieval
    assert set(suite.sources) == {s.name for s in specs} - {"radimagenet_test"} | {"rocov2_test", "mimic_cxr"}
    assert {n for n, m in suite.metrics.items() if m == "auc"} == {
        "acl_mri", "meniscal_mri", "breast_us", "thyroid_us", "rsna_pneumonia", "refuge_retina"}
    assert all(len(p) == 1 for p in suite.class_prompts["rsna_pneumonia"].values())
    assert all(len(p) == 10 for p in suite.class_prompts["chexpert-5x200"].values())
