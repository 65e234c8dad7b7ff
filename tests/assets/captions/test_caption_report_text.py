"""Report cleaning: placeholders, numbering, headers, section choice and length, on small cases and
on the 3,955 real Indiana University chest X-ray reports that torchxrayvision ships
(data/NLMCXR_reports.tgz, found in the installed package, never downloaded)."""

import json
import importlib.util
import re
from pathlib import Path

import pytest

from assets.captions.report_text import (
    caption_reports,
    clean_report_text,
    clean_sentence,
    iter_nlmcxr_reports,
    parse_nlmcxr,
    report_caption,
    sentences,
    split_sections,
)


@pytest.mark.parametrize(("raw", "clean"), [
    ("The heart, pulmonary XXXX and mediastinum are within normal limits.",
     "The heart and mediastinum are within normal limits."),
    ("The heart, XXXX, and mediastinum are normal.", "The heart and mediastinum are normal."),
    ("No XXXX of pleural effusions.", "No pleural effusions."),
    ("There are no XXXX of a large pleural effusion.", "There are no large pleural effusion."),
    ("Degenerative disease is seen in the thoracic spine and left XXXX XXXX.",
     "Degenerative disease is seen in the thoracic spine."),
    ("The XXXX are intact.", None),
    ("Lungs are XXXX without focal airspace disease.", None),
    ("Left and right XXXX.", None),  # too little left once the masked item goes
    ("If one would like to discuss this case further, please XXXX.", None),
    ("Findings were communicated to Dr. ___ at 10:30.", None),
    ("Stable [**Hospital1 18**] appearance.", None),
    ("normal heart size ,no effusion", "Normal heart size, no effusion."),
    ("No acute disease. .", "No acute disease."),
])
def test_clean_sentence(raw, clean):
    assert clean_sentence(raw) == clean


def test_numbering_headers_comparisons_and_abbreviations():
    kept, dropped = clean_report_text(
        "1. Low lung volumes 2. Stable cardiomegaly, e.g. 2.5 cm larger than before. "
        "IMPRESSION: 3. No change compared with the prior study. 4. The XXXX are intact.")
    assert kept == ["Low lung volumes.", "Stable cardiomegaly, e.g. 2.5 cm larger than before."]
    assert dropped == 2
    kept, dropped = clean_report_text("No change compared with the prior study.", drop_comparisons=False)
    assert kept == ["No change compared with the prior study."] and dropped == 0
    assert sentences("Heart normal. lungs clear vs. prior. Done") == ["Heart normal.", "lungs clear vs. prior.", "Done"]


def test_sections_order_dedup_and_length():
    sections = {"findings": "The lungs are clear. No pleural effusion. Normal heart size.",
                "impression": "No pleural effusion.", "indication": "Cough."}
    result = report_caption(sections)
    assert result.caption == "No pleural effusion. The lungs are clear. Normal heart size."
    assert result.sections == ["impression", "findings"] and result.reason is None
    short = report_caption(sections, max_words=7)
    assert short.caption == "No pleural effusion. The lungs are clear."  # whole sentences only
    long = report_caption({"impression": " ".join(["word"] * 100) + "."}, max_words=10)
    assert len(long.caption.split()) == 10 and long.caption.endswith(".")
    assert report_caption({"indication": "Cough."}).reason == "no impression or findings"
    assert report_caption({"impression": "The XXXX are intact."}).reason == "only placeholders or comparisons"
    assert report_caption({"impression": "Negative."}).reason == "too short: 1 words"


def test_plain_text_sections():
    text = ("EXAMINATION: CHEST (PA AND LAT)\nINDICATION: ___ year old woman with cough\n"
            "FINDINGS: The lungs are clear. No effusion.\nIMPRESSION: 1. No acute process. 2. Normal heart size.")
    sections = split_sections(text)
    assert set(sections) == {"examination", "indication", "findings", "impression"}
    assert report_caption(sections).caption == "No acute process. Normal heart size. The lungs are clear. No effusion."
    assert split_sections("Just a figure caption.") == {"text": "Just a figure caption."}


def _nlmcxr_tgz() -> Path:
    spec = importlib.util.find_spec("torchxrayvision")  # located, not imported (its imports are heavy)
    if spec is None:
        pytest.skip("torchxrayvision is not installed (a dev dependency)")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "NLMCXR_reports.tgz"


@pytest.fixture(scope="module")
def nlmcxr_reports():
    return list(iter_nlmcxr_reports(str(_nlmcxr_tgz())))


def test_real_reports_parse(nlmcxr_reports):
    assert len(nlmcxr_reports) == 3955
    ids = {r.report_id for r in nlmcxr_reports}
    assert len(ids) == 3955 and all(i.startswith("CXR") for i in ids)
    with_findings = sum(bool(r.sections.get("findings")) for r in nlmcxr_reports)
    with_impression = sum(bool(r.sections.get("impression")) for r in nlmcxr_reports)
    assert with_findings > 3000 and with_impression > 3800
    assert sum(len(r.image_ids) for r in nlmcxr_reports) > 7000  # frontal and lateral views
    assert parse_nlmcxr(b"<eCitation><uId id='CXR1'/></eCitation>").sections == {}


def test_real_reports_yield_clean_captions(nlmcxr_reports):
    rows, stats = caption_reports(nlmcxr_reports, max_words=60)
    assert stats["reports"] == stats["captioned"] + sum(stats["without_caption"].values())
    assert stats["captioned"] / stats["reports"] > 0.98
    assert set(stats["without_caption"]) <= {"no impression or findings", "only placeholders or comparisons",
                                             "too short"}
    captions = [r["caption"] for r in rows if r["caption"]]
    raw_with_placeholder = sum("XXXX" in " ".join(r.sections.values()) for r in nlmcxr_reports)
    assert raw_with_placeholder > 2000  # the de-identification left its mark on most reports ...
    assert not [c for c in captions if re.search(r"XXXX|___|\[\*\*", c)]  # ... and on no caption
    assert not [c for c in captions if re.search(r"\b(?:FINDINGS|IMPRESSION|INDICATION|COMPARISON)\s*:", c)]
    assert not [c for c in captions if re.search(r"(?:^|\s)\d{1,2}\.\s+[A-Z]", c)]  # list numbering
    assert all(len(c.split()) <= 60 and c == " ".join(c.split()) and c[-1] in ".!?" for c in captions)
    # Reports with neither section come back with that reason, not as an empty caption.
    neither = [r for r in nlmcxr_reports if not r.sections.get("findings", "").strip()
               and not r.sections.get("impression", "").strip()]
    reasons = {row["report_id"]: row["reason"] for row in rows}
    assert neither and all(reasons[r.report_id] == "no impression or findings" for r in neither)


def test_cli_cleans_the_reports_of_an_archive(tmp_path, capsys):
    from assets.captions.cli import main

    out = tmp_path / "reports.jsonl"
    stats = main(["--reports", str(_nlmcxr_tgz()), "--limit", "40", "--out", str(out), "--sample", "3"])
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == stats["reports"] == 40  # every report accounted for: a caption or a reason
    assert stats["captioned"] + sum(stats["without_caption"].values()) == 40
    assert all((r["caption"] is None) == (r["status"] == "rejected") and r["origin"] == "cleaned" for r in rows)
    assert not any("XXXX" in r["caption"] for r in rows if r["caption"])
    assert "--- valid (sample of 3" in capsys.readouterr().out
