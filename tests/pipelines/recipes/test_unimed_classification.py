"""The classification half of the UniMed training recipe (pipelines/recipes/unimed.yaml, the real file), each
source family ingested through its own entry from a miniature laid out as the dataset ships: CheXpert's CSV
header and 1/0/-1/blank cells, NIH ChestX-ray14's Data_Entry_2017_v2020.csv with its split lists and either
image layout, RadImageNet's CT/MR/US tree, FLAIR's per-dataset dataframes of list-literal categories."""

from __future__ import annotations

import csv
import dataclasses
import io
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from assets.captions.synthesize import validate_for_target
from assets.captions.targets import label_target, targets_for_labels
from assets.captions.templates import template_captions
from assets.ingest.chunked import ingest_source
from assets.ingest.parts import labels_in_data
from assets.sources.catalog_yaml import load_catalog
from assets.sources.readers import SourceError, read_source
from pipelines.environment import load_environment

CATALOG = str(Path(__file__).resolve().parents[3] / "pipelines" / "recipes" / "unimed.yaml")
CHEXPERT_FINDINGS = ["No Finding", "Enlarged Cardiomediastinum", "Cardiomegaly", "Lung Opacity", "Lung Lesion", "Edema",
                     "Consolidation", "Pneumonia", "Atelectasis", "Pneumothorax", "Pleural Effusion", "Pleural Other",
                     "Fracture", "Support Devices"]
RADIMAGENET_MODALITY = {"CT": "ct", "MRI": "mri", "ultrasound": "ultrasound"}  # its class names' first word
NIH_HEADER = ["Image Index", "Finding Labels", "Follow-up #", "Patient ID", "Patient Age", "Patient Gender",
              "View Position", "OriginalImage[Width", "Height]", "OriginalImagePixelSpacing[x", "y]"]


def _image(path: Path, seed: int) -> None:
    """A tiny noise image in the format its name says (JPEG for .jpg, PNG otherwise)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    pixels = np.random.default_rng(seed).integers(0, 256, (24, 24), dtype=np.uint8)
    Image.fromarray(pixels).save(buf, format="JPEG" if path.suffix == ".jpg" else "PNG")
    path.write_bytes(buf.getvalue())


def _csv(path: Path, header: list[str], rows: list[list]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows([header, *rows])


@pytest.fixture
def data_root(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "DATA"
    monkeypatch.setenv("MEDPAIRS_DATA_ROOT", str(root))
    return root


def _spec(name: str):
    """The recipe's entry `name`, loaded from the real file."""
    return {s.name: s for s in load_catalog(CATALOG)}[name]


def _ingest(name: str, out: Path) -> tuple[list, dict, list[dict]]:
    """The entry's records, and ingest's stats and sample rows (the images decoded, as raw_samples does)."""
    spec = _spec(name)
    records = list(read_source(spec).records)
    read = read_source(spec)
    stats = ingest_source(read.rows(), root=read.root, out_dir=str(out / "samples" / name),
                          quarantine_dir=str(out / "quarantine" / name))
    samples = [row for part in sorted((out / "samples" / name).glob("part-*.parquet"))
               for row in pq.read_table(part).to_pylist()]
    assert stats["rows_read"] == stats["ingested"] + stats["quarantined"] == len(records)
    return records, stats, samples


def _chexpert_row(path: str, view: str, cells: dict[str, str]) -> list:
    return [path, "Female", 61, view, "AP" if view == "Frontal" else "", *(cells.get(f, "") for f in CHEXPERT_FINDINGS)]


def test_chexpert_frontal_views_with_findings_and_the_valid_split(data_root, tmp_path):
    base = data_root / "CheXpert-v1.0-small"
    train = [
        _chexpert_row("CheXpert-v1.0-small/train/patient00001/study1/view1_frontal.jpg", "Frontal",
                      {"Cardiomegaly": "1.0", "Pleural Effusion": "1.0", "Edema": "0.0"}),
        _chexpert_row("CheXpert-v1.0-small/train/patient00001/study1/view2_lateral.jpg", "Lateral", {"Cardiomegaly": "1.0"}),
        _chexpert_row("CheXpert-v1.0-small/train/patient00002/study1/view1_frontal.jpg", "Frontal",
                      {"No Finding": "1.0", "Support Devices": "1.0"}),
        _chexpert_row("CheXpert-v1.0-small/train/patient00003/study2/view1_frontal.jpg", "Frontal",
                      {"Atelectasis": "-1.0", "Lung Opacity": "1.0"}),  # an uncertain atelectasis
        _chexpert_row("CheXpert-v1.0-small/train/patient00004/study1/view1_frontal.jpg", "Frontal", {"No Finding": "1.0"}),
    ]
    valid = [_chexpert_row("CheXpert-v1.0-small/valid/patient64541/study1/view1_frontal.jpg", "Frontal",
                           {"Edema": "1.0"}),
             _chexpert_row("CheXpert-v1.0-small/valid/patient64541/study1/view2_lateral.jpg", "Lateral", {})]
    header = ["Path", "Sex", "Age", "Frontal/Lateral", "AP/PA", *CHEXPERT_FINDINGS]
    _csv(base / "train.csv", header, train)
    _csv(base / "valid.csv", header, valid)
    for i, row in enumerate(train + valid):
        _image(data_root / row[0], i)
    records, stats, samples = _ingest("chexpert", tmp_path / "out")
    assert sorted((s["orig_path"].split("/")[2], s["label"], s["split"]) for s in samples) == [
        ("patient00001", "cardiomegaly and pleural effusion", "train"), ("patient00002", "support devices", "train"),
        ("patient00003", "lung opacity", "train"), ("patient00004", "no finding", "train")]
    assert stats["quarantine_reasons"] == {"excluded_by_filter": 1}  # the lateral view, counted
    (uncertain,) = [r for r in records if "patient00003" in (r.path or "")]
    assert uncertain.meta["uncertain_labels"] == ["atelectasis"]
    _, stats, samples = _ingest("chexpert_valid", tmp_path / "out")
    assert [(s["label"], s["split"]) for s in samples] == [("edema", "test")]
    assert stats["quarantine_reasons"] == {"excluded_by_filter": 1}


@pytest.mark.parametrize("layout", ["unimed_docs", "kaggle"])
def test_chestxray14_official_lists_patient_groups_and_either_image_layout(data_root, tmp_path, layout):
    """UniMed's docs: every image in chest_xray8/images/; the Kaggle copy: images_001/images/, images_002/images/..."""
    base = data_root / "chest_xray8"
    rows = [("00000001_000.png", "Cardiomegaly", 1), ("00000001_001.png", "Cardiomegaly|Effusion", 1),
            ("00000002_000.png", "No Finding", 2), ("00000003_000.png", "Pleural_Thickening|Mass", 3),
            ("00000003_001.png", "Hernia", 3), ("00000004_000.png", "Nodule", 4), ("00000005_000.png", "Edema", 5)]
    _csv(base / "Data_Entry_2017_v2020.csv", NIH_HEADER,
         [[name, labels, name[9:12], pid, 50, "M", "PA", 2500, 2048, 0.14, 0.14] for name, labels, pid in rows])
    for i, (name, _, pid) in enumerate(rows[:-1]):  # the last row's image is missing from the download
        _image(base / ("images" if layout == "unimed_docs" else f"images_00{1 + pid % 2}/images") / name, i)
    (base / "train_val_list.txt").write_text("00000001_000.png\n00000001_001.png\n00000002_000.png\n00000005_000.png\n")
    (base / "test_list.txt").write_text("00000003_000.png\n00000003_001.png\n")  # 00000004_000 in neither list
    records, stats, samples = _ingest("chestxray14", tmp_path / "out")
    assert sorted((s["orig_path"].rsplit("/", 1)[-1], s["label"], s["split"]) for s in samples) == [
        ("00000001_000.png", "cardiomegaly", "train"), ("00000001_001.png", "cardiomegaly and effusion", "train"),
        ("00000002_000.png", "no finding", "train"), ("00000003_000.png", "mass and pleural thickening", "test"),
        ("00000003_001.png", "hernia", "test")]
    assert stats["quarantine_reasons"] == {"missing_file": 1, "not_in_split_list": 1}
    groups = {r.record_id: r.group_id for r in records if not r.error}
    assert groups["00000001_000.png"] == groups["00000001_001.png"] != groups["00000002_000.png"]


def test_radimagenet_takes_the_modality_from_its_folder_and_the_class_from_two(data_root, tmp_path):
    base = data_root / "radimagenet" / "radiology_ai"
    files = ["CT/abd/pancreatic lesion/ct-1.png", "CT/lung/Nodule/ct-2.png", "MR/knee/acl_pathology/mr-1.png",
             "MR/mriabd/normal/mr-2.png", "US/gb/gb/us-1.png", "US/thyroid/thyroid/us-2.png", "CT/abd/unlisted/ct-3.png"]
    for i, rel in enumerate(files):
        _image(base / rel, i)
    _csv(base / "radimagenet_with_captions_training_set.csv", ["filename", "label", "captions"], [])
    _, stats, samples = _ingest("radimagenet", tmp_path / "out")
    assert sorted((s["modality"], s["label"], s["split"]) for s in samples) == [
        ("ct", "CT abdomen pancreatic lesion", "train"), ("ct", "CT lung nodule", "train"),
        ("mri", "MRI abdomen normal", "train"), ("mri", "MRI knee anterior cruciate ligament pathology", "train"),
        ("ultrasound", "ultrasound gallbladder", "train"), ("ultrasound", "ultrasound thyroid", "train")]
    assert stats["quarantine_reasons"] == {"unknown_label": 1, "unsupported_extension": 1}
    # Captions are written per label with its samples' modality: an MRI caption for an MRI class.
    targets = targets_for_labels(labels_in_data([_spec("radimagenet")], str(tmp_path / "out" / "samples")))
    assert {(t.label, t.source.modality) for t in targets} >= {
        ("CT lung nodule", "ct"), ("MRI knee anterior cruciate ligament pathology", "mri"),
        ("ultrasound gallbladder", "ultrasound")}


def _flair(base: Path, name: str, rows: list[tuple[str, str]], seed: int) -> None:
    """A FLAIR pretraining dataframe as prepare_partitions.py writes it (pandas index, image, atributes,
    categories), with the images it names under Retina-Datasets/."""
    _csv(base / "pretraining" / f"{name}.csv", ["", "image", "atributes", "categories"],
         [[i, image, "[]", categories] for i, (image, categories) in enumerate(rows)])
    for i, (image, _) in enumerate(rows):
        _image(base / image, seed + i)


def test_flair_dataframes_give_multi_label_fundus_samples(data_root, tmp_path):
    base = data_root / "Retina-Datasets"
    grading = "03_IDRID/B.%20Disease%20Grading/B. Disease Grading/1. Original Images/a. Training Set/"
    _flair(base, "03_IDRID", [
        (grading + "IDRiD_001.jpg", "['moderate diabetic retinopathy', 'diabetic macular edema']"),
        (grading + "IDRiD_002.jpg", "['no diabetic retinopathy', 'no referable diabetic macular edema']"),
        ("03_IDRID/A.%20Segmentation/A. Segmentation/1. Original Images/a. Training Set/IDRiD_03.jpg",
         "['microaneurysms', 'haemorrhages', 'hard exudates']"),
        (grading + "IDRiD_004.jpg", "['retinitis pigmentosa']"),  # no class of this entry: counted, not dropped
    ], seed=0)
    _flair(base, "23_HRF", [("23_HRF/documents/01_dr.jpg", "['diabetic retinopathy']"),
                            ("23_HRF/Noise/01_bad.jpg", "[]")], seed=10)
    _, stats, samples = _ingest("flair_idrid", tmp_path / "out")
    assert sorted((s["label"], s["modality"]) for s in samples) == [
        ("diabetic macular edema and moderate diabetic retinopathy", "fundus"),
        ("haemorrhages and hard exudates and microaneurysms", "fundus"),
        ("no diabetic retinopathy and no referable diabetic macular edema", "fundus")]
    assert stats["quarantine_reasons"] == {"unknown_label": 1}
    _, stats, samples = _ingest("flair_hrf", tmp_path / "out")
    assert [s["label"] for s in samples] == ["diabetic retinopathy"]
    assert stats["quarantine_reasons"] == {"missing_label": 1}  # a noise-only image has no category


@pytest.mark.parametrize("name, csv_name, image", [
    ("flair_papila", "09_PAPILA", "09_PAPILA/FundusImages/RET{:03d}{}.jpg"),
    ("flair_odir", "08_ODIR", "08_ODIR-5K/preprocessed_images/{}_{}.jpg"),
])
def test_a_split_medpairs_makes_keeps_both_eyes_of_a_patient_on_one_side(data_root, tmp_path, name, csv_name, image):
    eyes = ("OD", "OS") if name == "flair_papila" else ("left", "right")
    rows = [(image.format(p, eye), "['glaucoma']" if p % 3 else "['normal']") for p in range(1, 81) for eye in eyes]
    _flair(data_root / "Retina-Datasets", csv_name, rows, seed=100)
    records = [r for r in read_source(_spec(name)).records if not r.error]
    assert len(records) == 160
    sides: dict[str, set] = {}
    for r in records:
        sides.setdefault(r.group_id, set()).add(r.split)
    assert len(sides) == 80 and all(len(s) == 1 for s in sides.values())  # 80 patients, each on one side
    assert Counter(r.split for r in records).keys() == {"train", "test"}


def test_every_classification_entry_loads_and_a_missing_source_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDPAIRS_DATA_ROOT", str(tmp_path / "nothing-here"))
    specs = load_catalog(CATALOG)
    names = [s.name for s in specs]
    assert {"chexpert", "chexpert_valid", "chestxray14", "radimagenet"} <= set(names)
    assert sum(n.startswith("flair_") for n in names) == 26
    for spec in specs:
        assert spec.location.startswith(str(tmp_path / "nothing-here")) and spec.download and spec.license
        assert spec.redistribution in ("allowed", "forbidden", "unknown")
        with pytest.raises(SourceError) as err:
            read_source(spec)
        assert str(err.value) == f"source {spec.name!r}: location {spec.location!r} does not exist"


def test_pipelines_run_loads_the_recipe_through_its_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDPAIRS_DATA_ROOT", str(tmp_path / "DATA"))
    env = load_environment({"MEDPAIRS_CATALOG": CATALOG, "MEDPAIRS_STORAGE_ROOT": str(tmp_path / "store")})
    specs = env.resources["catalog"].sources()
    assert [s.name for s in specs] == [s.name for s in load_catalog(CATALOG)]
    assert _spec("radimagenet").options["modalities"] == {"CT": "ct", "MR": "mri", "US": "ultrasound"}


def test_every_class_has_template_captions_that_pass_validation(tmp_path, monkeypatch):
    # What class_captions falls back on when the LLM's captions fail: every class must get one, or the
    # blocking every_class_has_captions check stops the run (a class named by a sibling's synonym would).
    monkeypatch.setenv("MEDPAIRS_DATA_ROOT", str(tmp_path))
    for spec in load_catalog(CATALOG):
        for cls in spec.classes:
            modality = RADIMAGENET_MODALITY[cls.name.split()[0]] if spec.name == "radimagenet" else spec.modality
            target = label_target(dataclasses.replace(spec, modality=modality), cls.name)
            captions = template_captions(modality, target.cls, normal=target.kind == "no_finding")
            assert any(validate_for_target(c, target, [], checked_prompt=False) is None for c in captions), (
                spec.name, cls.name)
