"""The validator over the hand-labelled set (bench/data/caption_validation.jsonl) meets its
thresholds, and each fault the set was written for is fixed."""

import pytest

from assets.captions.prompts import target_examples
from assets.captions.synthesize import validate_for_target
from assets.captions.targets import label_target
from assets.captions.validate import reason_code
from bench.caption_validation import load_cases, load_sources, score, verdicts

SOURCES = load_sources()


@pytest.mark.parametrize("split", ["dev", "heldout"])
def test_labelled_set_meets_thresholds(split):
    cases = [c for c in load_cases() if c["split"] == split]
    result = score(cases, verdicts(cases, SOURCES))
    assert result["precision"] >= 0.97 and result["recall"] >= 0.90, result


@pytest.mark.parametrize(
    ("source", "label", "index", "text", "expected"),
    [
        ("synthetic_xray", "pneumonia", 0, "Below are ten captions for pneumonia on a chest radiograph.", "meta-text"),
        ("synthetic_xray", "pneumonia", 0, "1. Chest X-ray showing a right lower lobe consolidation.", "meta-text"),
        ("synthetic_ct", "cyst", 0, "Axial CT showing a renal cyst, no hydronephrosis, and an obstructing kidney stone.",
         "names sibling class"),
        ("chexpert", "pneumonia", 0, "Chest radiograph showing pneumonia in the right lower lobe; the heart is enlarged.",
         "names sibling class"),
        ("synthetic_xray", "pneumonia", 0,
         "Frontal chest radiograph showing right lower lobe consolidation and a normal heart size.", None),
        ("synthetic_ct", "tumor", 0, "Axial CT showing a renal mass with cystic components arising from the left kidney.",
         None),
        ("synthetic_ct", "normal", 0, "Axial CT showing free fluid in the pelvis with unremarkable kidneys.", None),
        ("chexpert", "cardiomegaly", 0, "Chest X-ray without effusion showing marked cardiomegaly.", None),
        ("synthetic_xray", "pneumonia", 0, "Chest radiograph with consolidation and coarse lung markings at the right apex.",
         None),  # the phrase is the pneumothorax example's, which prompt 0 does not show
        ("synthetic_xray", "pneumonia", 2, "Chest radiograph with consolidation and coarse lung markings at the right apex.",
         "copies worked example"),  # prompt 2 shows it
        ("synthetic_mri", "glioma", 0, "Axial T2*-weighted MRI of a glioblastoma with susceptibility from haemorrhage.",
         None),
        ("chexpert", "pneumonia", 0, "Chest radiograph with left lower lobe bronchopneumonia and no pleural effusion.",
         None),
    ],
)
def test_named_faults(source, label, index, text, expected):
    target = label_target(SOURCES[source], label)
    reason = validate_for_target(text, target, [], examples=target_examples(target, index))
    assert (reason and reason_code(reason)) == expected, reason
