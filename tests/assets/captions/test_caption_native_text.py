"""Captions from an image-text sample's own text: native text as it is, radiology reports (MIMIC-CXR
plain text, Open-i XML) cleaned, a sample whose text cleans to nothing kept with a reason, and LLM
condensation cached per text so a re-run asks the LLM for nothing."""

import pytest

from assets.captions.condense_cache import cached_condense
from assets.captions.native_text import caption_native_texts, clean_text

MIMIC = """                                 FINAL REPORT
 EXAMINATION:  CHEST (PA AND LAT)

 INDICATION:  ___ year old woman with cough  // pneumonia?

 COMPARISON:  ___

 FINDINGS:
 The cardiomediastinal silhouette is within normal limits.  No focal consolidation, pleural effusion or
 pneumothorax is seen.

 IMPRESSION:
 No acute cardiopulmonary process.  Findings were discussed with Dr. ___ at 10:15.
"""
OPENI = """<?xml version="1.0" encoding="utf-8"?>
<eCitation><uId id="CXR1"/><MedlineCitation><Article><Abstract>
<AbstractText Label="COMPARISON">None.</AbstractText>
<AbstractText Label="FINDINGS">The heart, pulmonary XXXX and mediastinum are within normal limits. No XXXX of
pleural effusion. The XXXX are intact.</AbstractText>
<AbstractText Label="IMPRESSION">Normal chest x-XXXX.</AbstractText>
</Abstract></Article></MedlineCitation><parentImage id="CXR1_1_IM-0001-3001"/></eCitation>"""


@pytest.mark.parametrize(("text", "treatment", "caption", "origin", "reason"), [
    ("  Axial CT of the\n abdomen showing a hepatic cyst. ", "native",
     "Axial CT of the abdomen showing a hepatic cyst.", "native", None),
    (" \n ", "native", None, None, "empty_caption"),
    (MIMIC, "report", ("No acute cardiopulmonary process. The cardiomediastinal silhouette is within normal limits. "
                       "No focal consolidation, pleural effusion or pneumothorax is seen."), "cleaned", None),
    (OPENI, "report", "The heart and mediastinum are within normal limits. No pleural effusion.", "cleaned", None),
    ("Heart size normal. Lungs are clear.", "report_condensed", "Heart size normal. Lungs are clear.", "cleaned", None),
    ("INDICATION: chest pain. COMPARISON: ___", "report", None, None, "report_without_findings"),
    ("FINDINGS: The XXXX are intact. XXXX XXXX.", "report", None, None, "report_only_placeholders"),
    ("IMPRESSION: Normal.", "report", None, None, "report_too_short"),
    ("", "report", None, None, "empty_caption"),
])
def test_clean_text(text, treatment, caption, origin, reason):
    got = clean_text(text, treatment)
    assert (got["caption"], got["origin"], got["reason"]) == (caption, origin, reason)
    assert (got["detail"] is None) == (reason is None)


class Condenser:
    """A backend that condenses faithfully (its reply says only what the report says), except for a
    report naming an effusion, where it invents a finding; it counts the texts it is asked for."""

    model_id = "condenser-1"

    def __init__(self):
        self.asked: list[str] = []

    def generate(self, conversations, *, max_new_tokens, temperature, top_p, seed, on_done=None):
        replies = []
        for conv in conversations:
            report = conv[-1]["content"].split("\n\n")[0]
            self.asked.append(report)
            replies.append("Chest X-ray with a large rib fracture and pneumonia." if "effusion" in report
                           else "Chest X-ray: " + report.rstrip(".").lower().replace(". ", ", ") + ".")
        if on_done:
            on_done(len(conversations))
        return replies


SAMPLES = [
    {"sample_id": "s1", "source": "mimic", "modality": "xray", "text": "FINDINGS: Lungs are clear. Heart size normal."},
    {"sample_id": "s2", "source": "mimic", "modality": "xray", "text": "IMPRESSION: Lungs are clear. Heart size normal."},
    {"sample_id": "s3", "source": "mimic", "modality": "xray", "text": "IMPRESSION: No pleural effusion is seen."},
    {"sample_id": "s4", "source": "mimic", "modality": "xray", "text": "INDICATION: cough"},
    {"sample_id": "s5", "source": "roco", "modality": "ct", "text": "CT of the chest with a nodule."},
]


def test_condensed_reports_are_cached_by_text_and_a_rerun_asks_nothing(tmp_path):
    backend = Condenser()
    runs = []

    def condense(items):
        return cached_condense(items, str(tmp_path / "cache"), model_id="condenser-1",
                               backend=lambda: runs.append(1) or backend, batch_size=1)

    treatments = {"mimic": "report_condensed"}
    rows, stats = caption_native_texts(SAMPLES, treatments, condense=condense)
    by_id = {r["sample_id"]: r for r in rows}
    assert by_id["s1"]["caption"] == by_id["s2"]["caption"] == "Chest X-ray: lungs are clear, heart size normal."
    assert by_id["s1"]["origin"] == "condensed" and by_id["s1"]["model_id"] == "condenser-1"
    # The invented finding fails the fidelity check: the cleaned report stands, with why.
    assert (by_id["s3"]["caption"], by_id["s3"]["origin"]) == ("No pleural effusion is seen.", "cleaned")
    assert by_id["s3"]["detail"].startswith("not condensed: unsupported words")
    assert (by_id["s4"]["caption"], by_id["s4"]["reason"]) == (None, "report_without_findings")
    assert (by_id["s5"]["origin"], by_id["s5"]["model_id"]) == ("native", None)  # roco: native text
    assert len(backend.asked) == 2  # s1 and s2 clean to one text: condensed once
    assert stats.pop("condense")["cache_misses"] == 2
    assert stats == {"samples": 5, "captioned": 4, "by_origin": {"mimic": {"condensed": 2, "cleaned": 1},
                                                                 "roco": {"native": 1}},
                     "by_reason": {"mimic": {"report_without_findings": 1}}}
    assert len(list((tmp_path / "cache").glob("*.parquet"))) == 2  # one file per batch, written as it completes

    again, stats = caption_native_texts(SAMPLES, treatments, condense=condense)
    assert again == rows and len(backend.asked) == 2 and runs == [1]  # the backend was not even built again
    assert (stats["condense"]["cache_hits"], stats["condense"]["cache_misses"]) == (2, 0)


def test_no_condensation_is_asked_for_without_a_report_condensed_source():
    rows, _ = caption_native_texts(SAMPLES, {"mimic": "report"})  # no condense given: none needed
    assert {r["origin"] for r in rows} == {"cleaned", "native", None}
    with pytest.raises(ValueError, match="report_condensed"):
        caption_native_texts(SAMPLES, {"mimic": "report_condensed"})
