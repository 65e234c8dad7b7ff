"""DICOM text a clinical source may keep, failing closed: a value is cut into words and only known
technical words survive (modalities, sequences, planes, body parts, views, numbers with a unit);
any other word, a name, a date, an ID, a bare number, is dropped. Enumerated tags keep a value only
when it is one the standard defines."""

from __future__ import annotations

import re
from collections.abc import Iterable

MODALITY_CODES = {"CR", "CT", "DX", "MG", "MR", "NM", "OT", "PT", "RF", "SC", "US", "XA", "IO", "PX", "ES", "OP",
                  "OPT", "SM", "XC", "GM", "BDUS", "IVUS", "OCT", "RG", "TG", "DG", "CTPROTOCOL"}
PHOTOMETRIC_VALUES = {"MONOCHROME1", "MONOCHROME2", "PALETTE COLOR", "RGB", "YBR_FULL", "YBR_FULL_422",
                      "YBR_PARTIAL_420", "YBR_ICT", "YBR_RCT", "XYB"}
UNITS = {"mm", "cm", "ms", "s", "sec", "t", "kv", "kvp", "mas", "ma", "deg", "mhz", "hz", "mgy", "ml", "slices"}
TECHNICAL_WORDS = {w.lower() for w in """
    ct mr mri us cr dx xr mg pet spect nm pt xa rf ot sc cta mra mrv pet-ct
    ax axial sag sagittal cor coronal obl oblique tra transverse 2d 3d mip minip mpr vr recon reformat
    t1 t2 t1w t2w t2star pd pdw flair stir dwi adc swi gre tse fse se ir epi mprage spgr fspgr tof dti bold
    space vibe haste trufi fiesta cube bravo lava dixon fat sat fs water in out opp phase
    gad gd contrast c+ iv oral non pre post with wo delayed arterial venous portal nephrographic
    head brain skull neck chest thorax lung lungs abdomen abd pelvis spine cervical thoracic lumbar
    sacrum knee hip shoulder ankle wrist hand foot elbow liver kidney kidneys renal heart cardiac breast
    sinus sinuses orbit orbits extremity upper lower left right bilateral lt rt
    pa ap lat lateral frontal portable supine erect upright decubitus prone
    scout localizer localiser survey topogram routine helical spiral axial standard sharp soft tissue bone
    window kernel dose low high resolution hr thin thick series scan exam view cine perfusion angio
    angiography venography diffusion localizer screening diagnostic mammo mammogram cc mlo
    """.split()}
_WORD = re.compile(r"\d+(?:\.\d+)?[A-Za-z]*|[A-Za-z][A-Za-z0-9]*\+?")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_NUMBER_WITH_UNIT = re.compile(r"\d+(?:\.\d+)?(" + "|".join(sorted(UNITS, key=len, reverse=True)) + ")")


def technical_words(text: str, identifying: Iterable[str] = (), limit: int = 64) -> str:
    """The known technical words of `text`, in order, space-separated, at most `limit` characters;
    words among the file's `identifying` values are dropped even when technical."""
    banned = {part.lower() for value in identifying for part in re.split(r"[^A-Za-z0-9]+", value) if part}
    words = _WORD.findall(text)
    kept = []
    for i, word in enumerate(words):
        low = word.lower()
        if low in banned:
            continue
        next_is_unit = i + 1 < len(words) and words[i + 1].lower() in UNITS
        if (low in TECHNICAL_WORDS or _NUMBER_WITH_UNIT.fullmatch(low)
                or (_NUMBER.fullmatch(low) and next_is_unit)
                or (low in UNITS and i > 0 and _NUMBER.fullmatch(words[i - 1]))):
            kept.append(word)
    return " ".join(kept)[:limit].strip()


def enumerated(keyword: str, value: str) -> str | None:
    """`value` when it is a value the standard defines for `keyword` (Modality,
    PhotometricInterpretation), else None."""
    allowed = {"Modality": MODALITY_CODES, "PhotometricInterpretation": PHOTOMETRIC_VALUES}[keyword]
    text = value.strip().upper()
    return text if text in allowed else None
