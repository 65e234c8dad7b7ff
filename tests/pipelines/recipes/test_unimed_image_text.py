"""The image-text entries of the UniMed training recipe (pipelines/recipes/unimed.yaml, the real file) ingested
from miniatures of each dataset as its provider lays it out: MIMIC-CXR-JPG with MIMIC-CXR's reports, OpenI
(the real NLMCXR reports torchxrayvision ships), ROCOv2, PMC-OA, Quilt-1M and LLaVA-Med."""

from __future__ import annotations

import csv
import gzip
import io
import json
import tarfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from assets.sources.catalog_yaml import load_catalog
from assets.sources.readers import SourceError, read_source
from tests.assets.sources.readers.reader_helpers import nlmcxr_reports_tgz, run_ingest

CATALOG = str(Path(__file__).resolve().parents[3] / "pipelines" / "recipes" / "unimed.yaml")
IMAGE_TEXT = ["mimic_cxr", "openi", "rocov2", "rocov2_test", "pmc_oa", "quilt_1m", "llava_med_alignment",
              "llava_med_instruct"]
MIMIC_METADATA = ["dicom_id", "subject_id", "study_id", "PerformedProcedureStepDescription", "ViewPosition", "Rows",
                  "Columns", "StudyDate", "StudyTime", "ProcedureCodeSequence_CodeMeaning",
                  "ViewCodeSequence_CodeMeaning", "PatientOrientationCodeSequence_CodeMeaning"]
MIMIC_FINDINGS = ["Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Enlarged Cardiomediastinum", "Fracture",
                  "Lung Lesion", "Lung Opacity", "No Finding", "Pleural Effusion", "Pleural Other", "Pneumonia",
                  "Pneumothorax", "Support Devices"]
REPORT = """                                 FINAL REPORT
 EXAMINATION:  CHEST (PA AND LAT)

 INDICATION:  ___F with new onset ascites  // eval for infection

 FINDINGS:
 There is no focal consolidation, pleural effusion or pneumothorax.  Bilateral
 nodular opacities that most likely represent nipple shadows.

 IMPRESSION:
 No acute cardiopulmonary process.
"""


def _image(path: Path, seed: int, fmt: str = "JPEG") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (24, 24), dtype=np.uint8)
    Image.fromarray(pixels).convert("RGB" if fmt == "JPEG" else "L").save(path, format=fmt)


def _csv(path: Path, header: list[str], rows: list[list]) -> None:
    """A CSV as the dataset ships it (gzip-compressed where its name ends in .gz)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    csv.writer(buf).writerows([header, *rows])
    path.write_bytes(gzip.compress(buf.getvalue().encode()) if path.suffix == ".gz" else buf.getvalue().encode())


def _mimic(root: Path) -> None:
    """mimic-cxr-jpg/2.0.0/: files/p10/p10000032/s50414267/<dicom_id>.jpg, the three CSVs, the reports unzipped
    beside the study folders (files/p10/p10000032/s50414267.txt)."""
    base = root / "mimic-cxr-jpg" / "2.0.0"
    images = [  # dicom_id, subject, study, view, split (None: not in the split CSV), report
        ("02aa804e-bde0afdd-112c0b34-7bc16630-4e384014", "10000032", "50414267", "PA", "train", True),
        ("174413ec-4ec4c1f7-34ea26b7-c5f994f8-79ef1962", "10000032", "50414267", "LATERAL", "train", True),
        ("2a2277a9-b0ded155-c0de8eb9-c124d10e-82c5caab", "10000032", "53189527", "AP", "train", True),
        ("68b5c4b1-227d0485-9cc38c3f-7b84ab51-4b472714", "10000764", "57375967", "AP", "validate", True),
        ("096052b7-d256dc40-453a102b-fa7d01c6-1b22c6b4", "10000898", "50771383", "PA", "test", False),
        ("fcb8e2b5-f2a6f6b1-4c6e1d3c-8b6f3a8e-2f6c2f6e", "10000935", "51178377", "", "train", True),
        ("3b8b5c7e-1d0d6d6e-0b3c9f6a-6e0b7b8a-9a7b4c1d", "10000980", "54577367", "PA", None, True),
    ]
    meta, split = [], []
    for i, (dicom, subject, study, view, fold, report) in enumerate(images):
        study_dir = base / "files" / f"p{subject[:2]}" / f"p{subject}" / f"s{study}"
        _image(study_dir / f"{dicom}.jpg", i)
        report_file = study_dir.parent / f"s{study}.txt"
        if report and not report_file.exists():  # one report per study, numbered by its first image
            report_file.write_text(REPORT.replace("___F", f"___F {i}"))
        meta.append([dicom, subject, study, "CHEST (PA AND LAT)", view, 3056, 2544, 21800506, 213014.531,
                     "CHEST (PA AND LAT)", "postero-anterior" if view == "PA" else "", "Erect"])
        if fold:
            split.append([dicom, study, subject, fold])
    _csv(base / "mimic-cxr-2.0.0-metadata.csv.gz", MIMIC_METADATA, meta)
    _csv(base / "mimic-cxr-2.0.0-split.csv.gz", ["dicom_id", "study_id", "subject_id", "split"], split)
    labels = {("10000032", "50414267"): {"No Finding": "1.0"},  # one row per study; 51178377, 54577367: none
              ("10000032", "53189527"): {"Edema": "1.0", "Pleural Effusion": "-1.0"},
              ("10000764", "57375967"): {"Cardiomegaly": "1.0", "Edema": "0.0"}}
    _csv(base / "mimic-cxr-2.0.0-chexpert.csv.gz", ["subject_id", "study_id", *MIMIC_FINDINGS],
         [[*study, *(found.get(f, "") for f in MIMIC_FINDINGS)] for study, found in labels.items()])


def _openi(root: Path) -> list[str]:
    """openI/: three real reports re-packed as NLMCXR_reports.tgz (ecgen-radiology/1.xml, ...) and the PNGs of
    their parentImages in image/; returns the PNG names."""
    base = root / "openI"
    base.mkdir(parents=True)
    with tarfile.open(nlmcxr_reports_tgz()) as real, tarfile.open(base / "NLMCXR_reports.tgz", "w:gz") as mini:
        for name in ("ecgen-radiology/1.xml", "ecgen-radiology/2.xml", "ecgen-radiology/1068.xml"):
            member = real.getmember(name)
            mini.addfile(member, real.extractfile(member))
    pngs = ["CXR1_1_IM-0001-3001.png", "CXR1_1_IM-0001-4001.png", "CXR2_IM-0652-1001.png", "CXR2_IM-0652-2001.png"]
    for i, png in enumerate(pngs):
        _image(base / "image" / png, 100 + i, "PNG")
    return pngs


def _figures(root: Path) -> None:
    """ROCOv2, PMC-OA, Quilt-1M and LLaVA-Med, each with its own folder, file names and columns."""
    roco = root / "ROCOV2"
    for split, n in (("train", 3), ("test", 1)):
        rows = [[f"ROCOv2_2023_{split}_{i:06d}", f"Computed tomography of the chest showing lesion {i}.\n\n"]
                for i in range(1, n + 1)]
        for i, (image_id, _) in enumerate(rows):
            _image(roco / split / f"{image_id}.jpg", 200 + 10 * len(split) + i)
        _csv(roco / f"{split}_captions.csv", ["ID", "Caption"], rows)
    pmc = root / "pmc_oa"
    pmc.mkdir()
    lines = [{"image": "PMC212319_Fig3_4.jpg", "caption": "H&E staining of the tumour (x200).",
              "alignment_type": "hard", "alignment_score": 0.9},
             {"image": "PMC1064076_F2_2.jpg", "caption": " Axial MRI of the brain. \n"}]
    for i, line in enumerate(lines):
        _image(pmc / "caption_T060_filtered_top4_sep_v0_subfigures" / line["image"], 300 + i)
    (pmc / "pmc_oa.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    quilt = root / "Quilt"
    rows = [[0, "Here we see dense lymphocytic infiltrate.", "-0n3KfIzSvQ_image_0.jpg", "youtube", "train"],
            [1, "", "-0n3KfIzSvQ_image_1.jpg", "youtube", "train"],  # no caption: UniMed skips it
            [2, "Mitotic figures are frequent.", "PMC1234_img.jpg", "pubmed", "train"]]
    for i, row in enumerate(rows):
        _image(quilt / "quilt_1m" / row[2], 400 + i)
    _csv(quilt / "quilt_1M_lookup.csv", ["", "caption", "image_path", "subset", "split", "pathology", "roi_text",
                                         "noisy_text", "corrected_text", "med_umls_ids", "magnification", "height",
                                         "width"], [[*r, "['Lymph node']", "[]", "", "", "[]", 1, 24, 24] for r in rows])
    llava = root / "llava_med"
    alignment = [{"id": "34381_0", "image": "34381_fig1.jpg", "conversations": [
                     {"from": "human", "value": "<image>\nProvide a brief description of the given image."},
                     {"from": "gpt", "value": "Chest X-ray showing bilateral infiltrates."}]},
                 {"id": "77_0", "image": "77_fig2.jpg", "conversations": [
                     {"from": "human", "value": "Describe the image concisely.\n<image>"},
                     {"from": "gpt", "value": "CT of the abdomen with a renal mass."}]}]
    instruct = {"chest_xray": [{"pair_id": "15908055_F1", "fig_caption": "Posteroanterior chest radiograph.",
                                "in_text_mention": [{"tokens": "Figure 1 shows the radiograph."}],
                                "domain": {"chest_xray": True, "mri": False, "ct_scan": False, "histology": False,
                                           "gross": False}}],
                "histology": [{"pair_id": "16123456_F3", "fig_caption": "Biopsy specimen, H&E.",
                               "in_text_mention": None, "domain": {"chest_xray": False, "mri": False,
                                                                   "ct_scan": False, "histology": True,
                                                                   "gross": False}}]}
    for i, name in enumerate(["34381_fig1.jpg", "77_fig2.jpg", "15908055_F1.jpg", "16123456_F3.jpg"]):
        _image(llava / "images" / name, 500 + i)
    (llava / "llava_med_alignment_500k.json").write_text(json.dumps(alignment))
    (llava / "llava_med_instruct_fig_captions.json").write_text(json.dumps(instruct))


@pytest.fixture
def data_root(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "DATA"
    _mimic(root)
    _openi(root)
    _figures(root)
    monkeypatch.setenv("MEDPAIRS_DATA_ROOT", str(root))
    return root


def _ingest(name: str, out: Path):
    """(records, ingest stats) of the recipe's entry `name`, read twice: as records, and through ingest."""
    spec = {s.name: s for s in load_catalog(CATALOG)}[name]
    records = list(read_source(spec).records)
    stats, _, _ = run_ingest(read_source(spec), out / name)
    assert stats["rows_read"] == len(records)
    return records, stats


def test_mimic_cxr_frontal_views_with_their_study_reports_and_official_split(data_root, tmp_path):
    records, stats = _ingest("mimic_cxr", tmp_path)
    assert stats["ingested"] == 3
    assert stats["quarantine_reasons"] == {"excluded_by_filter": 2, "missing_caption": 1, "unmatched_join": 1}
    good = {r.path.split("/")[-2]: r for r in records if r.error is None}
    assert {study: r.split for study, r in good.items()} == {"s50414267": "train", "s53189527": "train",
                                                            "s57375967": "val"}  # validate -> val
    assert good["s50414267"].caption == REPORT.replace("___F", "___F 0").strip()
    assert {study: r.label for study, r in good.items()} == {
        "s50414267": "no finding", "s53189527": "Edema", "s57375967": "Cardiomegaly"}
    assert good["s53189527"].meta == {"ViewPosition": "AP", "uncertain_labels": ["Pleural Effusion"]}
    assert good["s50414267"].group_id == good["s53189527"].group_id != good["s57375967"].group_id  # by patient
    excluded = sorted(r.error_detail for r in records if r.error == "excluded_by_filter")
    assert excluded == ["column 'ViewPosition': '' is not one of ['PA', 'AP']",
                        "column 'ViewPosition': 'LATERAL' is not one of ['PA', 'AP']"]
    missing = next(r for r in records if r.error == "missing_caption")
    assert missing.error_detail == "caption file 'files/p10/p10000898/s50771383.txt' does not exist"


def test_openi_images_with_the_real_reports_findings_and_impression(data_root, tmp_path):
    records, stats = _ingest("openi", tmp_path)
    assert stats["ingested"] == 4 and stats["quarantine_reasons"] == {"missing_image": 1}  # 1068.xml names none
    captions = {r.path: r.caption for r in records if r.error is None}
    assert set(captions) == {"CXR1_1_IM-0001-3001.png", "CXR1_1_IM-0001-4001.png", "CXR2_IM-0652-1001.png",
                             "CXR2_IM-0652-2001.png"}
    assert captions["CXR1_1_IM-0001-3001.png"].startswith("FINDINGS: The cardiac silhouette and mediastinum size")
    assert captions["CXR1_1_IM-0001-3001.png"].endswith("\nIMPRESSION: Normal chest x-XXXX.")
    assert {r.split for r in records if r.error is None} == {"train"}


@pytest.mark.parametrize("name, ingested, quarantined, caption", [
    ("rocov2", 3, {}, "Computed tomography of the chest showing lesion 1."),
    ("rocov2_test", 1, {}, "Computed tomography of the chest showing lesion 1."),
    ("pmc_oa", 2, {}, "H&E staining of the tumour (x200)."),
    ("quilt_1m", 2, {"missing_caption": 1}, "Here we see dense lymphocytic infiltrate."),
    ("llava_med_alignment", 2, {}, "Chest X-ray showing bilateral infiltrates."),
    ("llava_med_instruct", 2, {}, "Posteroanterior chest radiograph."),
])
def test_figure_caption_sources(data_root, tmp_path, name, ingested, quarantined, caption):
    records, stats = _ingest(name, tmp_path)
    assert stats["ingested"] == ingested and stats["quarantine_reasons"] == quarantined
    good = [r for r in records if r.error is None]
    assert good[0].caption == caption and all(r.kind == "image_text" for r in good)
    assert {r.split for r in good} == {"test" if name == "rocov2_test" else "train"}


def test_every_entry_says_where_to_get_it_and_a_missing_one_fails_alone(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDPAIRS_DATA_ROOT", str(tmp_path / "nothing-here"))
    specs = {s.name: s for s in load_catalog(CATALOG)}
    assert set(IMAGE_TEXT) <= set(specs)
    for name in IMAGE_TEXT:
        spec = specs[name]
        assert spec.kind == "image_text" and spec.download and spec.license and spec.privacy == "public"
        assert spec.text == ("report" if name in ("mimic_cxr", "openi") else "native")
        with pytest.raises(SourceError) as err:
            read_source(spec)
        assert str(err.value) == f"source {name!r}: location {spec.location!r} does not exist"
    assert Counter(specs[n].redistribution for n in IMAGE_TEXT) == {"forbidden": 2, "unknown": 6}
