"""The medical word knowledge caption validation matches terms with: derived word forms that
name the same finding, compound prefixes, and paraphrases of common findings.

A derived form is listed only where it names the finding ("edematous" lungs are edema); one that
does not stays apart ("cystic" components of a tumour are no cyst). A paraphrase is a pattern
over normalized text ("the heart is enlarged") that names a class holding the keyed term, as a
term of it would: naming it for its own captions and as a rival for its siblings' captions.
"""

from __future__ import annotations

import re

DERIVED: dict[str, str] = {
    "malignancy": "malignant", "edematous": "edema", "atelectatic": "atelectasis", "calculi": "calculus",
    "metastatic": "metastasis", "neoplastic": "neoplasm", "hemorrhagic": "hemorrhage",
    "glaucomatous": "glaucoma", "cataractous": "cataract", "lymphocytic": "lymphocyte", "pneumonic": "pneumonia",
}
# Prefixes that make a compound of a finding ("bronchopneumonia" is a pneumonia).
COMPOUND_PREFIXES: tuple[str, ...] = ("broncho", "macro", "micro")

_HEART = r"(?:heart|cardiac silhouette|cardiac shadow|heart size)"
PARAPHRASES: dict[str, tuple[str, ...]] = {
    "cardiomegaly": (rf"{_HEART}(?: \w+)? (?:is|appears|looks|seems)(?: \w+)? (?:enlarged|increased|large)\b",
                     rf"enlarged {_HEART}", r"(?:cardiac|heart) enlargement"),
    "pneumothorax": (r"air in the pleural space",),
    "stone": (r"calcul(?:us|i)\b",),
    "tumor": (r"(?:renal|kidney) neoplasm",),
}
_COMPILED = {term: [re.compile(rf"(?<![a-z0-9]){p}") for p in patterns] for term, patterns in PARAPHRASES.items()}


def paraphrases(norm_term: str) -> list[re.Pattern]:
    """The paraphrase patterns of a normalized class term (none for most)."""
    return _COMPILED.get(norm_term, [])
