"""Caption cleaning and validation: naming the class, not a sibling, negation, meta-text, length,
repetition, copying worked examples, near-duplicates, multi-label combinations and "no finding"."""

import pytest

from assets.captions.prompts import NORMAL_EXAMPLES
from assets.captions.synthesize import validate_for_target
from assets.captions.targets import label_target
from assets.captions.validate import (
    clean_caption,
    near_duplicate,
    reason_code,
    stem,
    validate_caption,
)
from assets.sources.catalog import ClassInfo, SourceSpec

BREAST = (
    ClassInfo("normal", "normal breast tissue", ("no focal lesion",)),
    ClassInfo("benign", "an oval circumscribed mass", ("fibroadenoma", "benign breast mass")),
    ClassInfo("malignant", "an irregular spiculated mass", ("breast cancer", "breast carcinoma")),
)
BRAIN = (
    ClassInfo("glioma", "an intra-axial ring-enhancing mass", ("glioblastoma",)),
    ClassInfo("meningioma", "an extra-axial mass", ()),
    ClassInfo("pituitary tumor", "a sellar mass", ("pituitary adenoma",)),
    ClassInfo("no tumor", "a normal brain", ("normal brain", "no intracranial mass")),
)
KIDNEY = (ClassInfo("tumor", "a renal mass", ("kidney tumour",)), ClassInfo("stone", "a calcification", ("kidney stone",)))


def _cls(classes, name):
    return next(c for c in classes if c.name == name)


@pytest.mark.parametrize(
    ("classes", "label", "text", "expected"),
    [
        (BREAST, "benign", "Breast ultrasound showing an oval circumscribed fibroadenoma.", None),
        (BREAST, "malignant", "Ultrasound of an irregular spiculated breast carcinoma with shadowing.", None),
        (BREAST, "benign", "Ultrasound of the breast showing a benign malignancy with shadowing.",
         "names sibling class"),
        (BREAST, "benign", "Ultrasound of the breast showing a benign mass, not malignant, wider than tall.", None),
        (BREAST, "malignant", "Ultrasound of the breast showing a spiculated mass with shadowing.",
         "does not name class"),
        (BRAIN, "no tumor", "Axial MRI of the brain with no tumor and no mass effect.", None),
        (BRAIN, "no tumor", "Axial MRI of a normal brain, no evidence of glioma, meningioma or pituitary tumor.", None),
        (BRAIN, "no tumor", "Axial MRI showing no evidence of glioma, meningioma or pituitary tumor.",
         "does not name class"),
        (BRAIN, "pituitary tumor", "Axial MRI showing an enhancing sellar mass, a pituitary tumor.", None),
        (BRAIN, "glioma", "Axial MRI with a ring-enhancing glioma and no tumor elsewhere.", "names sibling class"),
        (BRAIN, "pituitary tumor", "Axial MRI of a normal brain with a small pituitary adenoma.",
         "names sibling class"),
        (KIDNEY, "tumor", "Axial CT showing a large heterogeneous kidney tumour arising from the left kidney.", None),
        (KIDNEY, "stone", "Axial CT showing two dense kidney stones in the renal pelvis.", None),
        (KIDNEY, "stone", "Axial CT showing no stone but a small renal tumor in the kidney.", "names sibling class"),
        (KIDNEY, "stone", "Axial CT of the kidney with no kidney stone in the renal pelvis.", "negates class"),
        (BRAIN, "meningioma", "Axial MRI of a non-enhancing, extra-axial meningioma along the falx.", None),
        (BRAIN, "meningioma", "Axial MRI of an extra-axial mass along the falx, non meningioma.", "negates class"),
    ],
)
def test_class_naming(classes, label, text, expected):
    reason = validate_caption(text, _cls(classes, label), classes)
    assert (reason and reason_code(reason)) == expected, reason


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Sure! Here is a caption for a breast ultrasound with a fibroadenoma.", "meta-text"),
        ("As an AI, I cannot see the fibroadenoma on this breast ultrasound.", "meta-text"),
        ("Breast ultrasound of a fibroadenoma. Mention the fibroadenoma and focus on its margins.", "prompt echo"),
        ("Benign fibroadenoma.", "too short"),
        ("Breast ultrasound showing " + "a very large and " * 15 + "fibroadenoma.", "too long"),
        ("Breast ultrasound showing a fibroadenoma with a mass, fibroadenoma, mass, fibroadenoma, mass,"
         " fibroadenoma mass fibroadenoma mass.", "repetitive"),
        ("Breast ultrasound with a fibroadenoma fibroadenoma in the upper quadrant.", "repetitive"),
        ("Breast ultrasound showing an oval, circumscribed fibroadenoma with", "incomplete sentence"),
        ("Fibroadenoma, benign breast mass, oval mass, wider than tall, circumscribed mass.", "list of terms"),
        ("Axial CT of the breast showing an oval circumscribed fibroadenoma.", "wrong modality"),
        ("Ultrasound of the gallbladder showing gallstones next to a fibroadenoma.", "copies worked example"),
        ("Breast ultrasound showing a fibroadenoma with posterior acoustic shadowing.", "copies worked example"),
        ("Breast ultrasound showing an oval, circumscribed fibroadenoma wider than tall.", None),
    ],
)
def test_rejections(text, expected):
    examples = [("gallstones", "stones in the gallbladder",
                 "Ultrasound of the gallbladder showing echogenic gallstones with posterior acoustic shadowing.")]
    reason = validate_caption(text, BREAST[1], BREAST, modality="ultrasound", examples=examples)
    assert (reason and reason_code(reason)) == expected, reason


def test_prompt_phrases_are_echo():
    text = "Breast ultrasound of a fibroadenoma, described by its shape and size."
    assert validate_caption(text, BREAST[1], BREAST, prompt_phrases=["its shape and size"]) == "prompt echo"
    assert validate_caption(text, BREAST[1], BREAST) is None


def test_near_duplicates_collapse_within_a_class():
    kept = ["Breast ultrasound showing an oval circumscribed fibroadenoma.",
            "Ultrasound image of a benign breast mass that is wider than tall."]
    assert validate_caption("Breast ultrasound showing an oval, circumscribed fibroadenoma!", BREAST[1], BREAST,
                            accepted=kept) == "near-duplicate of caption 0"
    assert validate_caption("An ultrasound image of a benign breast mass, wider than tall.", BREAST[1], BREAST,
                            accepted=kept) == "near-duplicate of caption 1"
    assert validate_caption("Sonogram of a smooth hypoechoic fibroadenoma in the left breast.", BREAST[1], BREAST,
                            accepted=kept) is None
    assert near_duplicate("anything at all", []) is None


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ('Sure! Here is a caption: "Breast ultrasound showing a fibroadenoma." I hope this helps.',
         "Breast ultrasound showing a fibroadenoma."),
        ("Caption: breast ultrasound showing a fibroadenoma. It is benign.", "Breast ultrasound showing a fibroadenoma."),
        ("Figure 2: Axial CT showing a 2.5 cm kidney stone. Next, the", "Axial CT showing a 2.5 cm kidney stone."),
        ("**Breast ultrasound with a fibroadenoma**", "Breast ultrasound with a fibroadenoma."),
        ("Caption:\nAxial MRI with a glioma\nmore text", "Axial MRI with a glioma."),
        ("   ", ""),
    ],
)
def test_clean_caption(raw, clean):
    assert clean_caption(raw) == clean


def test_stems_meet_word_forms():
    assert stem("malignant") == stem("malignancy") == stem("malignancies")
    assert stem("stone") == stem("stones") and stem("tumor") == stem("tumors")
    assert stem("normal") != stem("abnormal")


CXR = (ClassInfo("cardiomegaly", "an enlarged cardiac silhouette", ("enlarged heart",)),
       ClassInfo("pleural effusion", "fluid at the lung base", ("effusion",)),
       ClassInfo("pneumothorax", "air in the pleural space", ()))


@pytest.mark.parametrize(
    ("label", "text", "expected"),
    [
        ("cardiomegaly and pleural effusion",
         "Chest X-ray showing cardiomegaly with a small right pleural effusion.", None),
        ("cardiomegaly and pleural effusion", "Chest X-ray showing an enlarged heart and a left effusion.", None),
        ("cardiomegaly and pleural effusion", "Chest X-ray showing marked cardiomegaly and clear lung bases.",
         "misses finding"),
        ("cardiomegaly and pleural effusion", "Chest X-ray with cardiomegaly but no pleural effusion at the bases.",
         "misses finding"),
        ("cardiomegaly and pleural effusion",
         "Chest X-ray with cardiomegaly, a pleural effusion and a right apical pneumothorax.", "names sibling class"),
        ("cardiomegaly and pleural effusion",
         "Chest X-ray with cardiomegaly and a pleural effusion, without pneumothorax.", None),
        ("no finding", "Frontal chest X-ray within normal limits, with no pleural effusion or pneumothorax.", None),
        ("no finding", "Unremarkable chest radiograph apart from mild cardiomegaly.", "names sibling class"),
        ("no finding", "Chest radiograph with clear lungs and a sharp outline of the diaphragm.",
         "does not name class"),
        ("no finding", "Chest radiograph that is not normal, with blunted angles.", "negates class"),
    ],
)
def test_combinations_and_no_finding(label, text, expected):
    target = label_target(SourceSpec("cxr", "xray", classes=CXR), label)
    reason = validate_for_target(text, target, [])
    assert (reason and reason_code(reason)) == expected, reason


def test_a_near_copy_of_the_normal_example_is_rejected():
    target = label_target(SourceSpec("cxr", "xray", classes=CXR), "no finding")
    copy = NORMAL_EXAMPLES["xray"][1].replace("Frontal", "PA")
    assert validate_for_target(copy, target, []) == "copies worked example: normal study"
