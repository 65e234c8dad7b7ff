"""What of a DICOM header may leave the reader: an allow-list of technical tags and, from a public
source, two free-text descriptions after every name, date, ID and long number has been scrubbed from
them. A clinical source keeps free text only for the tags its catalog entry allow-lists, and then only
its known technical words (dicom_text.py, failing closed). Nothing else is ever copied, so no patient
identifier can pass by being forgotten in a deny-list."""

from __future__ import annotations

import re
from typing import Any

from pydicom.dataset import Dataset

from assets.sources.readers.dicom_text import enumerated, technical_words

# Copied as they are: technical, never identifying.
TECHNICAL_TAGS = ("Modality", "BodyPartExamined", "ViewPosition", "PhotometricInterpretation",
                  "Rows", "Columns", "BitsStored", "NumberOfFrames")
# Free text that can hold anything: a public source keeps these after scrub().
SCRUBBED_TAGS = ("SeriesDescription", "StudyDescription")
# Free text a clinical source may allow-list (option text_tags), kept as technical_words() only.
FREE_TEXT_TAGS = ("SeriesDescription", "StudyDescription", "ProtocolName", "ImageComments",
                  "PerformedProcedureStepDescription", "RequestedProcedureDescription")
_ENUMERATED = ("Modality", "PhotometricInterpretation")
# Values collected from the file itself and removed wherever they appear in kept text.
_IDENTIFYING = ("PatientName", "PatientID", "OtherPatientIDs", "OtherPatientNames", "PatientBirthName",
                "PatientMotherBirthName", "PatientAddress", "PatientTelephoneNumbers", "PatientBirthDate",
                "AccessionNumber", "InstitutionName", "InstitutionAddress", "InstitutionalDepartmentName",
                "StationName", "StudyID", "DeviceSerialNumber", "IssuerOfPatientID", "MedicalRecordLocator",
                "ReferringPhysicianName", "PerformingPhysicianName", "OperatorsName", "PhysiciansOfRecord",
                "NameOfPhysiciansReadingStudy", "RequestingPhysician")
_PERSONAL_VRS = {"PN", "DA", "DT"}
_PATTERNS = [
    re.compile(r"\b\d{4}[-./]\d{1,2}[-./]\d{1,2}\b"),  # 2021-03-04
    re.compile(r"\b\d{1,2}[-./]\d{1,2}[-./]\d{2,4}\b"),  # 04/03/2021
    re.compile(r"\b\d{1,2}[:h]\d{2}(?::\d{2})?\b"),  # 10:45
    re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+"),  # e-mail
    re.compile(r"\S*\^\S*"),  # DICOM person names: FAMILY^GIVEN
    re.compile(r"\S*\d{4,}\S*"),  # IDs, MRNs, dates written as digits
]
MAX_TEXT = 64


def identifying_values(ds: Dataset) -> list[str]:
    """Every identifying string in `ds` (names split into their parts too), longest first."""
    values: set[str] = set()

    def add(value: Any) -> None:
        items = value if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue" else [value]
        for item in items:
            text = str(item).strip()
            if len(text) >= 2:
                values.add(text)
                values.update(p for p in re.split(r"[\^\s,]+", text) if len(p) >= 2)

    for keyword in _IDENTIFYING:
        try:
            if keyword in ds:
                add(ds.data_element(keyword).value)
        except Exception:  # noqa: BLE001 - a malformed element is simply not read
            continue
    try:
        for elem in ds.iterall():
            if elem.VR in _PERSONAL_VRS and elem.value not in (None, ""):
                add(elem.value)
    except Exception:  # noqa: BLE001 - a broken sequence ends the walk; what was found counts
        pass
    return sorted(values, key=len, reverse=True)


def scrub(text: str, identifying: list[str], limit: int = MAX_TEXT) -> str:
    """`text` without the file's identifying values and without anything shaped like a date,
    time, e-mail, DICOM person name or long number; whitespace collapsed, at most `limit` chars."""
    for value in identifying:
        text = re.sub(rf"(?<!\w){re.escape(value)}(?!\w)", " ", text, flags=re.IGNORECASE)
    for pattern in _PATTERNS:
        text = pattern.sub(" ", text)
    text = re.sub(r"\s+", " ", text).strip(" -_,;:/")
    return text[:limit]


def safe_tags(ds: Dataset, identifying: list[str], *, clinical: bool = False,
              text_tags: tuple[str, ...] = ()) -> dict[str, Any]:
    """The allow-listed tags of `ds`: technical ones as they are, descriptions scrubbed; for a
    `clinical` source, enumerated tags only with a standard value, the other text tags and the
    free-text ones of `text_tags` reduced to their technical words (empty results left out)."""
    keywords = TECHNICAL_TAGS + (tuple(t for t in FREE_TEXT_TAGS if t in text_tags) if clinical else SCRUBBED_TAGS)
    out: dict[str, Any] = {}
    for keyword, value in _present(ds, keywords):
        if isinstance(value, (int, float)) and keyword in TECHNICAL_TAGS:
            out[keyword] = value
        elif not clinical:
            out[keyword] = scrub(str(value), identifying)
        elif keyword in _ENUMERATED:
            out[keyword] = enumerated(keyword, str(value))
        else:
            out[keyword] = technical_words(str(value), identifying)
    return {k: v for k, v in out.items() if v not in (None, "")}


def _present(ds: Dataset, keywords: tuple[str, ...]):
    """(keyword, value) for each of `keywords` that `ds` holds with a readable, non-empty value."""
    for keyword in keywords:
        try:
            value = ds.get(keyword)
        except Exception:  # noqa: BLE001 - a malformed element is simply not read
            continue
        if value is not None and value != "":
            yield keyword, value
