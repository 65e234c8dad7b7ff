"""Prompts that ask a chat model for one caption of an image of a class (UniMed's method).

Each request is a short chat: a system line fixing the style, two worked examples for the
modality (classes outside the source's own, so a copied example fails validation), then the
request naming the class, its description, the term to mention and one aspect to focus on. The
caption index picks the examples, the aspect and (every third caption) a synonym, so the captions
of a class differ. The parts every request of a modality shares come first, and the varying
aspect last, so a backend can reuse the shared prefix. PROMPT_VERSION changes with any text here.

A multi-label combination asks for a caption naming every finding it holds; "no finding" asks
for a normal study, after a worked example of one (assets/captions/targets.py says which is which).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

from assets.captions.targets import CaptionTarget
from assets.captions.validate import names_any
from assets.sources.catalog import ClassInfo

PROMPT_VERSION = "captions-v3"

SYSTEM = "You write one-sentence captions for medical images, like a radiology report. Reply with the caption only."

MODALITY_NOUNS: dict[str, str] = {
    "xray": "an X-ray", "ct": "a CT scan", "mri": "an MRI scan", "ultrasound": "an ultrasound image",
    "pathology": "a histopathology image", "fundus": "a fundus photograph",
}

# Worked examples per modality: (class, short description, caption). Factual, one sentence each.
EXAMPLES: dict[str, tuple[tuple[str, str, str], ...]] = {
    "xray": (
        ("rib fracture", "a break in a rib", "Frontal chest X-ray showing a displaced fracture of the right sixth rib."),
        ("pleural effusion", "fluid at the lung base",
         "Blunting of the left costophrenic angle with a meniscus, consistent with a left pleural effusion."),
        ("pneumothorax", "air in the pleural space",
         "Chest radiograph with a visible pleural line and no lung markings at the right apex, in keeping with pneumothorax."),
        ("osteoarthritis", "a worn hip joint",
         "Pelvic radiograph showing joint space narrowing and osteophytes of the left hip, typical of osteoarthritis."),
    ),
    "ct": (
        ("appendicitis", "an inflamed appendix",
         "Axial CT of the abdomen showing a dilated appendix with surrounding fat stranding, consistent with appendicitis."),
        ("liver metastases", "several low-density liver lesions",
         "Multiple round hypodense lesions throughout the liver on portal venous CT, typical of liver metastases."),
        ("pulmonary embolism", "a clot in a lung artery",
         "CT pulmonary angiogram with a filling defect in the right pulmonary artery, diagnostic of pulmonary embolism."),
        ("aortic aneurysm", "a widened aorta",
         "Axial CT showing fusiform dilation of the infrarenal abdominal aorta, an abdominal aortic aneurysm."),
    ),
    "mri": (
        ("multiple sclerosis", "white matter lesions",
         "Axial FLAIR MRI with ovoid periventricular white matter hyperintensities, typical of multiple sclerosis."),
        ("acute stroke", "restricted diffusion in one vascular territory",
         "Diffusion-weighted MRI showing restricted diffusion in the left MCA territory, consistent with acute stroke."),
        ("hydrocephalus", "enlarged ventricles",
         "Axial T2-weighted MRI with markedly enlarged lateral ventricles, in keeping with hydrocephalus."),
        ("ACL tear", "a torn knee ligament",
         "Sagittal knee MRI showing discontinuity of the anterior cruciate ligament fibres, an ACL tear."),
    ),
    "ultrasound": (
        ("gallstones", "stones in the gallbladder",
         "Ultrasound of the gallbladder showing echogenic gallstones with posterior acoustic shadowing."),
        ("hydronephrosis", "a dilated renal collecting system",
         "Longitudinal renal ultrasound with a dilated renal pelvis and calyces, in keeping with hydronephrosis."),
        ("deep vein thrombosis", "a clot in a leg vein",
         "Compression ultrasound of the femoral vein, which does not compress and holds echogenic thrombus: deep vein thrombosis."),
        ("thyroid nodule", "a nodule in the thyroid",
         "Transverse thyroid ultrasound with a solid, well-circumscribed thyroid nodule in the right lobe."),
    ),
    "pathology": (
        ("granuloma", "a granuloma",
         "H&E-stained section showing a granuloma of epithelioid histiocytes with a multinucleated giant cell."),
        ("fibrosis", "collagen replacing tissue",
         "Trichrome-stained section with dense blue collagen bands replacing normal tissue, typical of fibrosis."),
        ("hyaline cartilage", "cartilage",
         "H&E section of hyaline cartilage with chondrocytes sitting in lacunae within a glassy matrix."),
        ("necrosis", "dead tissue",
         "Histopathology image of necrosis, with pink amorphous debris and scattered nuclear fragments."),
    ),
    "fundus": (
        ("retinal detachment", "a detached retina",
         "Fundus photograph showing a grey, elevated, folded retina, consistent with retinal detachment."),
        ("papilledema", "a swollen optic disc",
         "Fundus photograph of papilledema with a swollen optic disc and blurred disc margins."),
        ("macular hole", "a defect at the fovea",
         "Colour fundus image with a round, sharply defined defect at the fovea, consistent with a macular hole."),
        ("choroidal nevus", "a pigmented spot under the retina",
         "Colour fundus photograph showing a flat, slate-grey pigmented lesion under the retina, a choroidal nevus."),
    ),
}

# One aspect per caption index (cycled), so the captions of one class are not all alike.
ASPECTS: tuple[str, ...] = (
    "the main finding", "where it is", "its shape and size", "its brightness or colour",
    "its margins or texture", "the overall impression", "the key diagnostic sign",
    "what a reader notices first", "the imaging appearance", "the typical pattern",
)
EXAMPLES_PER_PROMPT = 2
SYNONYM_EVERY = 3  # every third caption asks for a synonym instead of the class name

# A normal study per modality, (description, caption): the worked example of a "no finding" request.
NORMAL_EXAMPLES: dict[str, tuple[str, str]] = {
    "xray": ("a normal chest", "Frontal chest radiograph with clear lungs, a normal heart size and sharp costophrenic angles."),
    "ct": ("a normal abdomen", "Axial CT of the abdomen with a normal liver, spleen and kidneys and no free fluid."),
    "mri": ("a normal brain", "Axial T2-weighted MRI with normal ventricles and preserved grey-white matter differentiation."),
    "ultrasound": ("a normal liver", "Ultrasound of the liver with a homogeneous echotexture and smooth contours."),
    "pathology": ("normal tissue", "H&E section of colonic mucosa with regular crypts and an intact surface epithelium."),
    "fundus": ("a healthy retina", "Fundus photograph with a pink optic disc, a clear macula and regular retinal vessels."),
}
NORMAL_NAME = "a normal study"
NORMAL_ASPECTS: tuple[str, ...] = (
    "the overall impression", "what looks normal", "the structures that appear healthy",
    "why it counts as normal", "the key reassuring sign",
)


def _request(noun: str, name: str, description: str, mentions: str | Sequence[str], aspect: str) -> str:
    mentions = [mentions] if isinstance(mentions, str) else list(mentions)
    quoted = " and ".join(f'"{m}"' for m in mentions)
    return f"Caption {noun} of {name} ({description}). Mention {quoted}. Focus on {aspect}."


def _mention(cls: ClassInfo, index: int) -> str:
    """The class name, or every third caption one of its synonyms."""
    if cls.synonyms and index % SYNONYM_EVERY == SYNONYM_EVERY - 1:
        return cls.synonyms[(index // SYNONYM_EVERY) % len(cls.synonyms)]
    return cls.name


def _short(description: str) -> str:
    description = description.strip().rstrip(".")
    return description if description[1:2].isupper() else description[:1].lower() + description[1:]


def usable_examples(modality: str, classes: Sequence[ClassInfo]) -> list[tuple[str, str, str]]:
    """The modality's worked examples whose class is not one of `classes` (nor named by them)."""
    class_terms = " ; ".join(t for c in classes for t in c.terms)
    return [ex for ex in EXAMPLES[modality]
            if not names_any(ex[0], classes) and not names_any(class_terms, [ClassInfo(ex[0])])]


def shown_examples(modality: str, classes: Sequence[ClassInfo], index: int) -> list[tuple[str, str, str]]:
    """The worked examples the prompt of caption number `index` shows (the caption index picks them)."""
    pool = usable_examples(modality, classes)
    return [pool[(index + k) % len(pool)] for k in range(min(EXAMPLES_PER_PROMPT, len(pool)))]


def build_conversation(modality: str, cls: ClassInfo, index: int,
                       classes: Sequence[ClassInfo] = ()) -> list[dict[str, str]]:
    """The chat for caption number `index` of class `cls` in a source of `modality` whose
    classes are `classes` (used to keep worked examples off the source's own classes)."""
    noun = MODALITY_NOUNS[modality]
    messages = [{"role": "system", "content": SYSTEM}]
    for k, (name, description, caption) in enumerate(shown_examples(modality, classes or [cls], index)):
        messages += [{"role": "user", "content": _request(noun, name, description, name, ASPECTS[k])},
                     {"role": "assistant", "content": caption}]
    description = _short(cls.description) if cls.description else cls.name
    messages.append({"role": "user", "content": _request(noun, cls.name, description, _mention(cls, index),
                                                         ASPECTS[index % len(ASPECTS)])})
    return messages


def build_target_conversation(target: CaptionTarget, index: int) -> list[dict[str, str]]:
    """The chat for caption number `index` of a target: a class as build_conversation; a
    combination names each of its findings; "no finding" asks for a normal study."""
    modality = target.source.modality
    if target.kind == "class":
        return build_conversation(modality, target.cls, index, target.source.classes)
    if target.kind == "combination":
        messages = build_conversation(modality, target.findings[0], index, target.source.classes)[:-1]
        request = _request(MODALITY_NOUNS[modality], target.label, _short(target.cls.description),
                           [_mention(f, index) for f in target.findings], ASPECTS[index % len(ASPECTS)])
        return [*messages, {"role": "user", "content": request}]
    noun = MODALITY_NOUNS[modality]
    example_description, example_caption = NORMAL_EXAMPLES[modality]
    synonyms = target.cls.synonyms or (target.cls.name,)
    return [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": _request(noun, NORMAL_NAME, example_description, "normal", NORMAL_ASPECTS[0])},
        {"role": "assistant", "content": example_caption},
        {"role": "user", "content": _request(noun, NORMAL_NAME, _short(target.cls.description),
                                             synonyms[index % len(synonyms)],
                                             NORMAL_ASPECTS[index % len(NORMAL_ASPECTS)])},
    ]


def target_examples(target: CaptionTarget, index: int) -> list[tuple[str, str, str]]:
    """The worked examples the prompt of a target's caption number `index` shows, which its
    caption must not borrow from, as (class, description, caption). None for "no finding": its example's phrases ("clear lungs")
    are what any normal study says, so only a near-copy of it is rejected (see synthesize.py)."""
    if target.kind == "no_finding":
        return []
    return shown_examples(target.source.modality, target.source.classes, index)


def prompt_hash() -> str:
    """A fingerprint of every prompt text, for caching captions by prompt."""
    payload = json.dumps([PROMPT_VERSION, SYSTEM, MODALITY_NOUNS, EXAMPLES, ASPECTS, SYNONYM_EVERY,
                          NORMAL_EXAMPLES, NORMAL_NAME, NORMAL_ASPECTS, _request("{n}", "{c}", "{d}", "{m}", "{a}")],
                         sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]
