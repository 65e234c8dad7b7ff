"""The classification half of the UniMed training recipe (pipelines/recipes/unimed.yaml, the real file), each
source family ingested through its own entry from a miniature laid out as the dataset ships: CheXpert's CSV
header and 1/0/-1/blank cells, NIH ChestX-ray14's Data_Entry_2017_v2020.csv with its split lists and either
image layout, RadImageNet's CT/MR/US tree, FLAIR's per-dataset dataframes of list-literal categories."""

from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from assets.captions.synthesize import validate_for_target
from assets.captions.targets import label_target, targets_for_labels
from assets.captions.templates import template_captions
from assets.ingest.chunked import ingest_source
from assets.ingest.parts import labels_in_data
from assets.sources.catalog_yaml import load_catalog
from assets.sources.readers import SourceError, read_source
from pipelines.environment import load_environment
from tests.pipelines.recipes import miniatures

CATALOG = str(Path(__file__).resolve().parents[3] / "pipelines" / "recipes" / "unimed.yaml")
RADIMAGENET_MODALITY = {"CT": "ct", "MRI": "mri", "ultrasound": "ultrasound"}  # its class names' first word


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


def test_chexpert_frontal_views_with_findings_and_the_valid_split(data_root, tmp_path):
    miniatures.chexpert(data_root)
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
    miniatures.chestxray14(data_root, layout)
    records, stats, samples = _ingest("chestxray14", tmp_path / "out")
    assert sorted((s["orig_path"].rsplit("/", 1)[-1], s["label"], s["split"]) for s in samples) == [
        ("00000001_000.png", "cardiomegaly", "train"), ("00000001_001.png", "cardiomegaly and effusion", "train"),
        ("00000002_000.png", "no finding", "train"), ("00000003_000.png", "mass and pleural thickening", "test"),
        ("00000003_001.png", "hernia", "test")]
    assert stats["quarantine_reasons"] == {"missing_file": 1, "not_in_split_list": 1}
    groups = {r.record_id: r.group_id for r in records if not r.error}
    assert groups["00000001_000.png"] == groups["00000001_001.png"] != groups["00000002_000.png"]


def test_radimagenet_takes_the_modality_from_its_folder_and_the_class_from_two(data_root, tmp_path):
    miniatures.radimagenet(data_root)
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


def test_flair_dataframes_give_multi_label_fundus_samples(data_root, tmp_path):
    miniatures.flair(data_root)  # an IDRiD category of no class of its entry is counted, not dropped
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
    miniatures.flair_dataframe(data_root, csv_name, rows, seed=100)
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
        if spec.split.by == "fixed" and spec.split.default == "test":
            continue  # an evaluation set's labels need no captions (assets/ingest/parts.py)
        for cls in spec.classes:
            modality = RADIMAGENET_MODALITY[cls.name.split()[0]] if spec.name == "radimagenet" else spec.modality
            target = label_target(dataclasses.replace(spec, modality=modality), cls.name)
            captions = template_captions(modality, target.cls, normal=target.kind == "no_finding")
            assert any(validate_for_target(c, target, [], checked_prompt=False) is None for c in captions), (
                spec.name, cls.name)
