"""The YAML source catalog: every field parsed, every mistake reported at once, entries readable."""

from __future__ import annotations

import dataclasses

import pytest
from PIL import Image

from assets.sources.catalog import SourceMixture, SplitRule, catalog_version
from assets.sources.catalog_yaml import CatalogError, load_catalog
from assets.sources.readers import read_source

EXAMPLE = """\
# MedPairs source catalog: one entry per dataset.
sources:
  - name: synthetic            # the embedded default: six small synthetic sources
    format: synthetic

  - name: chexpert_small
    modality: xray
    format: csv
    location: s3://my-bucket/CheXpert-v1.0-small/train.csv
    license: Stanford University CheXpert Dataset Research Use Agreement
    split: {ratio: {train: 0.9, test: 0.1}, seed: 7}
    classes:
      - {name: cardiomegaly, description: An enlarged cardiac silhouette., synonyms: [enlarged heart]}
      - {name: pleural effusion, synonyms: [effusion]}
      - edema
    options:
      path_column: Path
      image_root: ..
      label_columns: [No Finding, Cardiomegaly, Pleural Effusion, Edema]
      uncertain: negative

  - name: brain_mri
    modality: MR
    format: imagefolder
    location: data/brain_mri          # relative to this file
    split: folder
    classes: [glioma, meningioma, pituitary tumor, no tumor]

  - name: pathmnist
    modality: pathology
    format: medmnist_npz
    location: data/pathmnist_64.npz
    split: given

  - name: roco
    modality: xray
    kind: image_text
    format: hf_parquet
    location: s3://my-bucket/roco/data/
    license: CC BY-NC-SA 4.0
    options: {caption_column: caption}

  - name: hospital_ct
    modality: ct
    format: dicom
    location: /mnt/pacs-export/ct
    split: {fixed: test}
    classes: [normal, cyst, stone, tumor]
    options: {frames: middle, window: auto}

  - name: brats_slices
    modality: mri
    format: nifti
    location: data/brats
    options: {axis: 2, slices: every, step: 5, label_from: none}
"""


def test_example_catalog(tmp_path):
    (tmp_path / "catalog.yaml").write_text(EXAMPLE)
    specs = {s.name: s for s in load_catalog(str(tmp_path / "catalog.yaml"))}
    assert len([n for n in specs if n.startswith("synthetic_")]) == 6
    assert {specs["synthetic_ct"].format, specs["synthetic_ct"].location} == {"synthetic", "embedded:synthetic"}
    chexpert = specs["chexpert_small"]
    assert (chexpert.location, chexpert.format, chexpert.kind) == (
        "s3://my-bucket/CheXpert-v1.0-small/train.csv", "csv", "classification")
    assert chexpert.split == SplitRule(by="ratio", ratios=(("train", 0.9), ("test", 0.1)), seed=7)
    assert chexpert.class_info("pleural effusion").synonyms == ("effusion",)
    assert chexpert.options["uncertain"] == "negative"
    assert specs["brain_mri"].modality == "mri" and specs["brain_mri"].location == str(tmp_path / "data" / "brain_mri")
    assert specs["hospital_ct"].split == SplitRule(by="fixed", default="test")
    assert specs["roco"].kind == "image_text" and specs["brats_slices"].options["step"] == 5
    assert {n: s.privacy for n, s in specs.items() if not n.startswith("synthetic_")} == {
        "chexpert_small": "public", "brain_mri": "public", "pathmnist": "public", "roco": "public",
        "hospital_ct": "clinical", "brats_slices": "clinical"}


def test_privacy_is_settable_for_any_format_and_validated(tmp_path):
    (tmp_path / "c.yaml").write_text("""\
sources:
  - {name: pacs_png, modality: xray, format: imagefolder, location: x, privacy: clinical}
  - {name: tcia_ct, modality: ct, format: dicom, location: x, privacy: public}
""")
    assert [s.privacy for s in load_catalog(str(tmp_path / "c.yaml"))] == ["clinical", "public"]
    (tmp_path / "bad.yaml").write_text("sources:\n  - {name: a, modality: ct, format: dicom, location: x, "
                                       "privacy: private}\n")
    with pytest.raises(CatalogError, match=r"source #1 \(a\): bad privacy 'private'; one of \['clinical', 'public'\]"):
        load_catalog(str(tmp_path / "bad.yaml"))


def test_text_treatment_redistribution_and_download(tmp_path):
    (tmp_path / "c.yaml").write_text("""\
sources:
  - {name: mimic, modality: xray, kind: image_text, format: csv, location: x, text: report,
     redistribution: forbidden, download: https://physionet.org/content/mimic-cxr-jpg/}
  - {name: roco, modality: xray, kind: image_text, format: csv, location: x}
""")
    mimic, roco = load_catalog(str(tmp_path / "c.yaml"))
    assert (mimic.text, mimic.redistribution, roco.text, roco.redistribution) == ("report", "forbidden", "native", "unknown")
    assert mimic.fingerprint() == dataclasses.replace(mimic, download="elsewhere").fingerprint()  # not defining
    assert mimic.fingerprint() != dataclasses.replace(mimic, text="report_condensed").fingerprint()
    (tmp_path / "bad.yaml").write_text("sources:\n  - {name: a, modality: ct, format: csv, location: x, "
                                       "text: report, redistribution: maybe}\n")
    with pytest.raises(CatalogError) as e:
        load_catalog(str(tmp_path / "bad.yaml"))
    assert "text: report is for image_text sources" in str(e.value)
    assert "bad redistribution 'maybe'" in str(e.value)


def test_a_catalog_includes_others_after_its_own_sources(tmp_path):
    (tmp_path / "eval").mkdir()
    (tmp_path / "eval" / "suite.yaml").write_text(
        "sources:\n  - {name: test_set, modality: ct, format: imagefolder, location: ct, split: {fixed: test}}\n")
    (tmp_path / "train.yaml").write_text("include: [eval/suite.yaml]\nsources:\n"
                                         "  - {name: train_set, modality: ct, format: imagefolder, location: ct}\n")
    specs = load_catalog(str(tmp_path / "train.yaml"))
    assert [s.name for s in specs] == ["train_set", "test_set"]
    assert specs[1].location == str(tmp_path / "eval" / "ct")  # relative to the included file
    (tmp_path / "eval" / "suite.yaml").write_text("include: [../train.yaml]\nsources:\n"
                                                  "  - {name: test_set, modality: ct, format: imagefolder, location: ct}\n")
    with pytest.raises(CatalogError, match="includes a catalog that includes it"):
        load_catalog(str(tmp_path / "train.yaml"))
    (tmp_path / "eval" / "suite.yaml").write_text(
        "sources:\n  - {name: train_set, modality: ct, format: imagefolder, location: ct}\n")
    with pytest.raises(CatalogError, match=r"source name\(s\) \['train_set'\] appear in it and in a catalog"):
        load_catalog(str(tmp_path / "train.yaml"))


def test_all_mistakes_are_reported_together(tmp_path):
    (tmp_path / "bad.yaml").write_text("""\
sources:
  - {name: a, modality: xray, format: tiff_stack, location: x}
  - {name: b, modality: xray, format: imagefolder}
  - {name: c, modality: dermoscopy, format: imagefolder, location: x}
  - {name: d, modality: ct, format: dicom, location: x, options: {frame: all}}
  - {name: e, modality: ct, format: csv, location: x, split: {ratio: {train: -1}}}
  - {name: f, modality: ct, format: csv, location: x, lisence: MIT}
  - {name: "g h", modality: ct, kind: captions, format: csv, location: x, classes: [{description: no name}]}
  - {name: a, modality: ct, format: csv, location: x}
""")
    with pytest.raises(CatalogError) as err:
        load_catalog(str(tmp_path / "bad.yaml"))
    message = str(err.value)
    for expected in ("source #1 (a): unknown format 'tiff_stack'", "source #2 (b): missing location",
                     "source #3 (c): bad modality 'dermoscopy'", "source #4 (d): unknown option(s) ['frame']",
                     "source #5 (e): split ratio must map", "source #6 (f): unknown key(s) ['lisence']",
                     "name 'g h' must be", "bad kind 'captions'", "bad class {'description': 'no name'}",
                     "source name 'a' is used 2 times"):
        assert expected in message, expected
    assert len(message.splitlines()) == 10


@pytest.mark.parametrize("text, message", [("- [", "not valid YAML"), ("sources: []", "non-empty list"),
                                           ("[42]", "expected a mapping")])
def test_malformed_catalogs(tmp_path, text, message):
    (tmp_path / "c.yaml").write_text(text)
    with pytest.raises(CatalogError, match=message):
        load_catalog(str(tmp_path / "c.yaml"))


def test_a_catalog_entry_reads_its_source(tmp_path):
    for cls in ("benign", "malignant"):
        (tmp_path / "busi" / cls).mkdir(parents=True)
        Image.new("L", (8, 8), len(cls)).save(tmp_path / "busi" / cls / "1.png")
    (tmp_path / "c.yaml").write_text("sources:\n  - {name: busi, modality: US, format: imagefolder, "
                                     "location: busi, classes: [benign, malignant, normal]}\n")
    (spec,) = load_catalog(str(tmp_path / "c.yaml"))
    assert sorted((r.label, r.path) for r in read_source(spec).records) == [
        ("benign", "benign/1.png"), ("malignant", "malignant/1.png")]


def test_a_ratio_split_groups_by_a_manifest_column_or_a_path_pattern(tmp_path):
    (tmp_path / "c.yaml").write_text("""\
sources:
  - {name: a, modality: xray, format: csv, location: x, split: {ratio: {train: 1}, group: {column: patient}}}
  - {name: b, modality: xray, format: imagefolder, location: x, split: {ratio: {train: 1}, group: {path: 'patient[0-9]+'}}}
""")
    a, b = load_catalog(str(tmp_path / "c.yaml"))
    assert (a.split.group_column, b.split.group_pattern) == ("patient", "patient[0-9]+")
    (tmp_path / "bad.yaml").write_text("""\
sources:
  - {name: a, modality: xray, format: imagefolder, location: x, split: {ratio: {train: 1}, group: {column: p}}}
  - {name: b, modality: xray, format: csv, location: x, split: {ratio: {train: 1}, group: {path: '('}}}
  - {name: c, modality: xray, format: csv, location: x, split: {ratio: {train: 1}, group: patient}}
""")
    with pytest.raises(CatalogError) as err:
        load_catalog(str(tmp_path / "bad.yaml"))
    for expected in ("(a): split group {column: ...} needs a manifest", "(b): split group path '(' is not a regular",
                     "(c): bad split group 'patient'"):
        assert expected in str(err.value), expected


def test_a_given_split_may_name_the_group_too(tmp_path):
    (tmp_path / "c.yaml").write_text("""\
sources:
  - {name: a, modality: xray, format: csv, location: x, split: {column: fold, group: {column: patient}}}
  - {name: b, modality: xray, format: imagefolder, location: x, split: {group: {path: 'patient[0-9]+'}}}
""")
    a, b = load_catalog(str(tmp_path / "c.yaml"))
    assert (a.split.by, a.split.column, a.split.group_column) == ("given", "fold", "patient")
    assert (b.split.by, b.split.group_pattern) == ("given", "patient[0-9]+")


@pytest.mark.parametrize("split, message", [
    ("{fixed: eval}", "split 'eval' is not a split name"),
    ("{ratio: {train: 0.9, holdout: 0.1}}", "split 'holdout' is not a split name"),
])
def test_unknown_split_names_are_refused(tmp_path, split, message):
    (tmp_path / "c.yaml").write_text(
        f"sources:\n  - {{name: a, modality: xray, format: imagefolder, location: a, split: {split}}}\n")
    with pytest.raises(CatalogError, match=message):
        load_catalog(str(tmp_path / "c.yaml"))


def test_split_names_take_their_usual_spellings(tmp_path):
    (tmp_path / "c.yaml").write_text(
        "sources:\n  - {name: a, modality: xray, format: imagefolder, location: a,\n"
        "     split: {ratio: {Training: 0.8, validation: 0.1, test: 0.1}}}\n"
        "  - {name: b, modality: xray, format: imagefolder, location: b, split: {fixed: Valid}}\n")
    a, b = load_catalog(str(tmp_path / "c.yaml"))
    assert [name for name, _ in a.split.ratios] == ["train", "val", "test"]
    assert b.split.default == "val"


def test_locations_take_environment_variables(tmp_path, monkeypatch):
    (tmp_path / "c.yaml").write_text("sources:\n  - {name: a, modality: ct, format: imagefolder, "
                                     "location: '${MEDPAIRS_TEST_ROOT}/ct'}\n"
                                     "  - {name: b, modality: ct, format: imagefolder, location: '${MEDPAIRS_TEST_ROOT}'}\n")
    monkeypatch.delenv("MEDPAIRS_TEST_ROOT", raising=False)
    with pytest.raises(CatalogError) as err:
        load_catalog(str(tmp_path / "c.yaml"))
    assert [line.split(": ")[1] for line in str(err.value).splitlines()] == ["source #1 (a)", "source #2 (b)"]
    assert "uses ${MEDPAIRS_TEST_ROOT}, which is not set" in str(err.value)
    monkeypatch.setenv("MEDPAIRS_TEST_ROOT", str(tmp_path / "data"))
    assert [s.location for s in load_catalog(str(tmp_path / "c.yaml"))] == [
        str(tmp_path / "data" / "ct"), str(tmp_path / "data")]


def test_mixture_weight_or_cap_is_read_validated_and_not_part_of_the_fingerprint(tmp_path):
    (tmp_path / "c.yaml").write_text("""\
sources:
  - {name: roco, modality: xray, kind: image_text, format: csv, location: x, mixture: {weight: 2.5}}
  - {name: pmc, modality: pathology, kind: image_text, format: csv, location: x, mixture: {cap: 100}}
  - {name: plain, modality: ct, format: csv, location: x}
  - {format: synthetic, mixture: {weight: 3}}
""")
    roco, pmc, plain, *synthetic = load_catalog(str(tmp_path / "c.yaml"))
    assert (roco.mixture.weight, roco.mixture.cap, pmc.mixture.weight, pmc.mixture.cap) == (2.5, None, 1.0, 100)
    assert plain.mixture == SourceMixture() and {s.mixture.weight for s in synthetic} == {3.0}
    # The mixture changes the export, not ingest: no re-ingest, but a new catalog version.
    reweighted = dataclasses.replace(roco, mixture=SourceMixture(weight=1.0))
    assert roco.fingerprint() == reweighted.fingerprint()
    assert catalog_version([roco]) != catalog_version([reweighted])
    (tmp_path / "bad.yaml").write_text("""\
sources:
  - {name: a, modality: ct, format: csv, location: x, mixture: {weight: 0}}
  - {name: b, modality: ct, format: csv, location: x, mixture: {cap: 2.5}}
  - {name: c, modality: ct, format: csv, location: x, mixture: {weight: 2, cap: 10}}
  - {name: d, modality: ct, format: csv, location: x, mixture: 2}
  - {name: e, modality: ct, format: csv, location: x, mixture: {weight: true}}
""")
    with pytest.raises(CatalogError) as e:
        load_catalog(str(tmp_path / "bad.yaml"))
    message = str(e.value)
    assert "source #1 (a): mixture weight must be a number above 0, not 0" in message
    assert "source #2 (b): mixture cap must be a whole number of at least 1, not 2.5" in message
    assert "source #3 (c): bad mixture {'weight': 2, 'cap': 10}" in message
    assert "source #4 (d): bad mixture 2" in message
    assert "source #5 (e): mixture weight must be a number above 0, not True" in message


def test_a_split_from_list_files(tmp_path):
    (tmp_path / "c.yaml").write_text("""\
sources:
  - {name: a, modality: xray, format: csv, location: x.csv,
     split: {lists: {train: train_val_list.txt, Testing: test_list.txt}, group: {column: Patient ID}}}
  - {name: b, modality: xray, format: imagefolder, location: x, split: {lists: {test: t.txt}, default: train}}
""")
    a, b = load_catalog(str(tmp_path / "c.yaml"))
    assert (a.split.by, a.split.lists, a.split.default, a.split.group_column) == (
        "lists", (("train", "train_val_list.txt"), ("test", "test_list.txt")), "", "Patient ID")
    assert (b.split.lists, b.split.default) == ((("test", "t.txt"),), "train")
    (tmp_path / "bad.yaml").write_text("""\
sources:
  - {name: a, modality: xray, format: csv, location: x, split: {lists: [train.txt]}}
  - {name: b, modality: xray, format: csv, location: x, split: {lists: {holdout: h.txt}}}
""")
    with pytest.raises(CatalogError) as err:
        load_catalog(str(tmp_path / "bad.yaml"))
    assert "(a): split lists must map split names to list files" in str(err.value)
    assert "(b): split 'holdout' is not a split name" in str(err.value)
