"""Layout-faithful miniatures of UniMed's training sources, one builder per source family, each writing its
files under a data root (the `$DATA` of UniMed's docs) with the dataset's real file names, headers, label
encodings and folder shapes, and tiny noise images; `write_all` builds every family under one root.

Each family draws its images from its own seeds, so no two families share an image (curation would drop the
second copy of a shared one as a duplicate)."""

from __future__ import annotations

import csv
import gzip
import io
import json
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image

from tests.assets.sources.readers.reader_helpers import nlmcxr_reports_tgz

CHEXPERT_FINDINGS = ["No Finding", "Enlarged Cardiomediastinum", "Cardiomegaly", "Lung Opacity", "Lung Lesion", "Edema",
                     "Consolidation", "Pneumonia", "Atelectasis", "Pneumothorax", "Pleural Effusion", "Pleural Other",
                     "Fracture", "Support Devices"]
NIH_HEADER = ["Image Index", "Finding Labels", "Follow-up #", "Patient ID", "Patient Age", "Patient Gender",
              "View Position", "OriginalImage[Width", "Height]", "OriginalImagePixelSpacing[x", "y]"]
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
IDRID_GRADING = "03_IDRID/B.%20Disease%20Grading/B. Disease Grading/1. Original Images/a. Training Set/"


def image(path: Path, seed: int, mode: str = "L") -> None:
    """A tiny noise image in the format its name says (JPEG for .jpg, PNG otherwise)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (24, 24), dtype=np.uint8)
    Image.fromarray(pixels).convert(mode).save(path, format="JPEG" if path.suffix == ".jpg" else "PNG")


def write_csv(path: Path, header: list[str], rows: list[list]) -> None:
    """A CSV as the dataset ships it (gzip-compressed where its name ends in .gz)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    csv.writer(buf).writerows([header, *rows])
    path.write_bytes(gzip.compress(buf.getvalue().encode()) if path.suffix == ".gz" else buf.getvalue().encode())


def _chexpert_row(path: str, view: str, cells: dict[str, str]) -> list:
    return [path, "Female", 61, view, "AP" if view == "Frontal" else "", *(cells.get(f, "") for f in CHEXPERT_FINDINGS)]


def chexpert(root: Path) -> None:
    """CheXpert-v1.0-small/: train.csv (four frontal patients, one lateral view, an uncertain atelectasis) and
    valid.csv (one frontal, one lateral), with 1.0/0.0/-1.0/blank cells, and the images they name."""
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
    write_csv(root / "CheXpert-v1.0-small" / "train.csv", header, train)
    write_csv(root / "CheXpert-v1.0-small" / "valid.csv", header, valid)
    for i, row in enumerate(train + valid):
        image(root / row[0], i)


def chestxray14(root: Path, layout: str = "unimed_docs") -> None:
    """chest_xray8/: Data_Entry_2017_v2020.csv (pipe-separated findings), train_val_list.txt and test_list.txt
    (one image in neither), the images in images/ as UniMed's docs say or in images_00N/images/ as the Kaggle
    copy has them (`layout` "kaggle"); the last row's image is missing from the download."""
    base = root / "chest_xray8"
    rows = [("00000001_000.png", "Cardiomegaly", 1), ("00000001_001.png", "Cardiomegaly|Effusion", 1),
            ("00000002_000.png", "No Finding", 2), ("00000003_000.png", "Pleural_Thickening|Mass", 3),
            ("00000003_001.png", "Hernia", 3), ("00000004_000.png", "Nodule", 4), ("00000005_000.png", "Edema", 5)]
    write_csv(base / "Data_Entry_2017_v2020.csv", NIH_HEADER,
              [[name, labels, name[9:12], pid, 50, "M", "PA", 2500, 2048, 0.14, 0.14] for name, labels, pid in rows])
    for i, (name, _, pid) in enumerate(rows[:-1]):
        image(base / ("images" if layout == "unimed_docs" else f"images_00{1 + pid % 2}/images") / name, 20 + i)
    (base / "train_val_list.txt").write_text("00000001_000.png\n00000001_001.png\n00000002_000.png\n00000005_000.png\n")
    (base / "test_list.txt").write_text("00000003_000.png\n00000003_001.png\n")


def radimagenet(root: Path) -> None:
    """radimagenet/radiology_ai/{CT,MR,US}/<anatomy>/<label>/ (one label the recipe does not list) and UniMed's
    caption CSV beside them (a .csv file in the tree: counted, not an image)."""
    base = root / "radimagenet" / "radiology_ai"
    files = ["CT/abd/pancreatic lesion/ct-1.png", "CT/lung/Nodule/ct-2.png", "MR/knee/acl_pathology/mr-1.png",
             "MR/mriabd/normal/mr-2.png", "US/gb/gb/us-1.png", "US/thyroid/thyroid/us-2.png", "CT/abd/unlisted/ct-3.png"]
    for i, rel in enumerate(files):
        image(base / rel, 40 + i)
    write_csv(base / "radimagenet_with_captions_training_set.csv", ["filename", "label", "captions"], [])


def flair_dataframe(root: Path, name: str, rows: list[tuple[str, str]], seed: int) -> None:
    """One FLAIR pretraining dataframe as prepare_partitions.py writes it (pandas index, image, atributes,
    categories) in Retina-Datasets/pretraining/<name>.csv, with the images it names under Retina-Datasets/."""
    base = root / "Retina-Datasets"
    write_csv(base / "pretraining" / f"{name}.csv", ["", "image", "atributes", "categories"],
              [[i, path, "[]", categories] for i, (path, categories) in enumerate(rows)])
    for i, (path, _) in enumerate(rows):
        image(base / path, seed + i)


def flair(root: Path) -> None:
    """Two of FLAIR's 26 dataframes: 03_IDRID (multi-label grading and lesion rows, one category of no class
    of its entry) and 23_HRF (one row with no category, as FLAIR lists a noise-only image)."""
    flair_dataframe(root, "03_IDRID", [
        (IDRID_GRADING + "IDRiD_001.jpg", "['moderate diabetic retinopathy', 'diabetic macular edema']"),
        (IDRID_GRADING + "IDRiD_002.jpg", "['no diabetic retinopathy', 'no referable diabetic macular edema']"),
        ("03_IDRID/A.%20Segmentation/A. Segmentation/1. Original Images/a. Training Set/IDRiD_03.jpg",
         "['microaneurysms', 'haemorrhages', 'hard exudates']"),
        (IDRID_GRADING + "IDRiD_004.jpg", "['retinitis pigmentosa']"),
    ], seed=60)
    flair_dataframe(root, "23_HRF", [("23_HRF/documents/01_dr.jpg", "['diabetic retinopathy']"),
                                     ("23_HRF/Noise/01_bad.jpg", "[]")], seed=70)


def mimic_cxr(root: Path) -> None:
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
        image(study_dir / f"{dicom}.jpg", 80 + i, "RGB")
        report_file = study_dir.parent / f"s{study}.txt"
        if report and not report_file.exists():  # one report per study, numbered by its first image
            report_file.write_text(REPORT.replace("___F", f"___F {i}"))
        meta.append([dicom, subject, study, "CHEST (PA AND LAT)", view, 3056, 2544, 21800506, 213014.531,
                     "CHEST (PA AND LAT)", "postero-anterior" if view == "PA" else "", "Erect"])
        if fold:
            split.append([dicom, study, subject, fold])
    write_csv(base / "mimic-cxr-2.0.0-metadata.csv.gz", MIMIC_METADATA, meta)
    write_csv(base / "mimic-cxr-2.0.0-split.csv.gz", ["dicom_id", "study_id", "subject_id", "split"], split)
    labels = {("10000032", "50414267"): {"No Finding": "1.0"},  # one row per study; 51178377, 54577367: none
              ("10000032", "53189527"): {"Edema": "1.0", "Pleural Effusion": "-1.0"},
              ("10000764", "57375967"): {"Cardiomegaly": "1.0", "Edema": "0.0"}}
    write_csv(base / "mimic-cxr-2.0.0-chexpert.csv.gz", ["subject_id", "study_id", *MIMIC_FINDINGS],
              [[*study, *(found.get(f, "") for f in MIMIC_FINDINGS)] for study, found in labels.items()])


def openi(root: Path) -> None:
    """openI/: three real reports re-packed as NLMCXR_reports.tgz (ecgen-radiology/1.xml, ...; 1068.xml names
    an image that is not there) and the PNGs of their parentImages in image/."""
    base = root / "openI"
    base.mkdir(parents=True)
    with tarfile.open(nlmcxr_reports_tgz()) as real, tarfile.open(base / "NLMCXR_reports.tgz", "w:gz") as mini:
        for name in ("ecgen-radiology/1.xml", "ecgen-radiology/2.xml", "ecgen-radiology/1068.xml"):
            member = real.getmember(name)
            mini.addfile(member, real.extractfile(member))
    pngs = ["CXR1_1_IM-0001-3001.png", "CXR1_1_IM-0001-4001.png", "CXR2_IM-0652-1001.png", "CXR2_IM-0652-2001.png"]
    for i, png in enumerate(pngs):
        image(base / "image" / png, 100 + i)


def rocov2(root: Path) -> None:
    """ROCOV2/: train/ and test/ images named by ID, train_captions.csv and test_captions.csv (ID, Caption)."""
    base = root / "ROCOV2"
    for split, n in (("train", 3), ("test", 1)):
        rows = [[f"ROCOv2_2023_{split}_{i:06d}", f"Computed tomography of the chest showing lesion {i}.\n\n"]
                for i in range(1, n + 1)]
        for i, (image_id, _) in enumerate(rows):
            image(base / split / f"{image_id}.jpg", 200 + 10 * len(split) + i, "RGB")
        write_csv(base / f"{split}_captions.csv", ["ID", "Caption"], rows)


def pmc_oa(root: Path) -> None:
    """pmc_oa/: pmc_oa.jsonl (image, caption, alignment fields) and its subfigures folder."""
    base = root / "pmc_oa"
    base.mkdir(parents=True)
    lines = [{"image": "PMC212319_Fig3_4.jpg", "caption": "H&E staining of the tumour (x200).",
              "alignment_type": "hard", "alignment_score": 0.9},
             {"image": "PMC1064076_F2_2.jpg", "caption": " Axial MRI of the brain. \n"}]
    for i, line in enumerate(lines):
        image(base / "caption_T060_filtered_top4_sep_v0_subfigures" / line["image"], 300 + i, "RGB")
    (base / "pmc_oa.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))


def quilt_1m(root: Path) -> None:
    """Quilt/: quilt_1M_lookup.csv with its 13 columns (one row without a caption) and quilt_1m/ images."""
    base = root / "Quilt"
    rows = [[0, "Here we see dense lymphocytic infiltrate.", "-0n3KfIzSvQ_image_0.jpg", "youtube", "train"],
            [1, "", "-0n3KfIzSvQ_image_1.jpg", "youtube", "train"],  # no caption: UniMed skips it
            [2, "Mitotic figures are frequent.", "PMC1234_img.jpg", "pubmed", "train"]]
    for i, row in enumerate(rows):
        image(base / "quilt_1m" / row[2], 400 + i, "RGB")
    write_csv(base / "quilt_1M_lookup.csv", ["", "caption", "image_path", "subset", "split", "pathology", "roi_text",
                                             "noisy_text", "corrected_text", "med_umls_ids", "magnification", "height",
                                             "width"], [[*r, "['Lymph node']", "[]", "", "", "[]", 1, 24, 24] for r in rows])


def llava_med(root: Path) -> None:
    """llava_med/: llava_med_alignment_500k.json (conversations), llava_med_instruct_fig_captions.json (figure
    captions by domain) and images/."""
    base = root / "llava_med"
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
        image(base / "images" / name, 500 + i, "RGB")
    (base / "llava_med_alignment_500k.json").write_text(json.dumps(alignment))
    (base / "llava_med_instruct_fig_captions.json").write_text(json.dumps(instruct))


# Every family's builder, by the name its recipe entries start with.
FAMILIES = {"chexpert": chexpert, "chestxray14": chestxray14, "radimagenet": radimagenet, "flair": flair,
            "mimic_cxr": mimic_cxr, "openi": openi, "rocov2": rocov2, "pmc_oa": pmc_oa, "quilt_1m": quilt_1m,
            "llava_med": llava_med}


def write_all(root: Path, without: tuple[str, ...] = ()) -> None:
    """Every family's miniature under `root`, but those named in `without` (keys of FAMILIES)."""
    for name, build in FAMILIES.items():
        if name not in without:
            build(root)
