"""Captions from the native text of image-text sources: radiology reports and figure captions.

A report is split into sections (from the XML of the Indiana University / Open-i chest X-ray
collection, or from "FINDINGS:"-style headers in plain text); the chosen sections (impression,
then findings) are cleaned and joined into one caption of at most `max_words` words. Cleaning
- turns list numbering ("1. ", "2) ") into sentence breaks and drops section headers left
  inside the text,
- handles de-identification placeholders ("XXXX", "___", "[**...**]"): "no XXXX of pleural
  effusion" becomes "no pleural effusion", a masked item of a list ("the heart, pulmonary XXXX
  and mediastinum", "the thoracic spine and left XXXX XXXX.") is dropped with its comma or
  conjunction, and any other sentence that still holds a
  placeholder is dropped whole (its meaning is unknown: "The XXXX are intact."),
- drops sentences addressed to the referrer ("please call", "recommend follow-up"), sentences
  that compare with an earlier study (optional), repeated sentences and empty ones, and
  normalizes whitespace and punctuation.
A report that yields nothing says why (no impression or findings, only placeholders, too short).
"""

from __future__ import annotations

import re
import tarfile
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from assets.shared.nlmcxr import Report, parse_nlmcxr

PLACEHOLDER = r"(?:\bX{3,}(?:[-/]X{3,})*(?:'s)?\b|_{2,}|\[\*\*[^\]]*\*\*\])"
_PLACEHOLDER = re.compile(PLACEHOLDER)
_NUMBERING = re.compile(r"(?:(?<=^)|(?<=\s))\(?\d{1,2}[.)]\s+(?=[A-Za-z])")
_HEADER = re.compile(r"\b(?:[A-Z][A-Z/&()]*(?: [A-Z][A-Z/&()]*){0,3}):\s*")
_TEXT_HEADER = re.compile(r"(?:^|\n|(?<=[.\s]))\s*([A-Z][A-Z/&()]*(?: [A-Z][A-Z/&()]*){0,3})\s*:\s*")
# A placeholder that stands for "evidence"/"signs" after a negation: "no XXXX of effusion".
_NEGATED_NOUN = re.compile(
    rf"\b(no|without|negative for)\s+{PLACEHOLDER}(?:\s+{PLACEHOLDER})*\s+(?:of|for)\s+(?:(?:a|an|the)\s+)?",
    re.IGNORECASE)
# A masked item in a list: ", pulmonary XXXX" before a comma or a conjunction.
_LIST_ITEM = re.compile(rf",\s+(?:[a-z]+\s+)?{PLACEHOLDER}(?:\s+{PLACEHOLDER})*(?=\s*,|\s+(?:and|or)\s)")
# The masked last item of a list at the end of a clause: "... spine and left XXXX XXXX."
_LAST_ITEM = re.compile(rf",?\s+(?:and|or)\s+(?:[a-z]+\s+)?{PLACEHOLDER}(?:\s+{PLACEHOLDER})*(?=\s*[.;]|\s*$)")
_LAST_ITEM_MIN_WORDS = 3  # what is left must still say something ("Left and right XXXX." is dropped)
# Sentences addressed to the referrer, not about the image.
_ADMIN = re.compile(r"\b(?:please|discuss(?:ed)?|questions?|call(?:ed)?|notified|communicated|dictated|"
                    r"telephone|recommend(?:ed|ation)?|correlat(?:e|ion)|follow[- ]?up)\b", re.IGNORECASE)
_COMPARISON = re.compile(r"\b(?:compared (?:to|with)|comparison (?:to|with|is made)|in comparison|"
                         r"(?:prior|previous|earlier) (?:study|studies|exam|examination|radiograph|film|imaging))\b",
                         re.IGNORECASE)
_SENTENCE_END = re.compile(r"[.!?]\s+")
_ABBREVIATIONS = frozenset({"e.g", "i.e", "vs", "approx", "dr", "fig", "no", "cf", "incl", "st"})
DEFAULT_SECTIONS = ("impression", "findings")


@dataclass
class ReportCaption:
    caption: str | None
    reason: str | None  # why there is no caption (None when there is one)
    sections: list[str] = field(default_factory=list)  # the sections the caption drew on
    dropped_sentences: int = 0


def clean_sentence(sentence: str) -> str | None:
    """A sentence with placeholders resolved, or None if it must be dropped."""
    s = _NEGATED_NOUN.sub(lambda m: m.group(1) + " ", sentence)
    if _LIST_ITEM.search(s):
        s = _LIST_ITEM.sub("", s)
        s = re.sub(r"^([^,]*), (and|or) ", r"\1 \2 ", s)  # "The heart, and mediastinum" -> "The heart and ..."
    if _LAST_ITEM.search(s):
        s = _LAST_ITEM.sub("", s)
        if len(s.split()) < _LAST_ITEM_MIN_WORDS:
            return None
    if _PLACEHOLDER.search(s) or _ADMIN.search(s):
        return None
    s = re.sub(r"\s+([.,;:!?])", r"\1", re.sub(r"\s+", " ", s)).strip(" ,;:")
    s = re.sub(r"([,;])(?=[A-Za-z])", r"\1 ", s)
    s = re.sub(r"([.!?])[.\s]+$", r"\1", s)
    if not re.search(r"[A-Za-z]{2}", s):
        return None
    if s[-1] not in ".!?":
        s += "."
    return s[0].upper() + s[1:]


def clean_report_text(text: str, *, drop_comparisons: bool = True) -> tuple[list[str], int]:
    """Clean sentences of one section's (or a caption's) text, and how many were dropped."""
    text = _HEADER.sub(" ", _NUMBERING.sub(". ", text))
    text = re.sub(r"\s+", " ", text).strip()
    kept, dropped = [], 0
    for raw in sentences(text):
        if not raw.strip(" .,;:"):
            continue
        s = clean_sentence(raw)
        if s is None or (drop_comparisons and _COMPARISON.search(s)):
            dropped += 1
            continue
        kept.append(s)
    return kept, dropped


def report_caption(sections: Mapping[str, str], *, use: Sequence[str] = DEFAULT_SECTIONS, max_words: int = 60,
                   min_words: int = 2, drop_comparisons: bool = True) -> ReportCaption:
    """One caption from a report's sections: the cleaned sentences of `use`, in that order,
    repeats dropped, whole sentences up to `max_words` (a first sentence longer than that is cut)."""
    present = [name for name in use if (sections.get(name) or "").strip()]
    if not present:
        return ReportCaption(None, f"no {' or '.join(use)}")
    sentences, seen, used, dropped = [], set(), [], 0
    for name in present:
        kept, n = clean_report_text(sections[name], drop_comparisons=drop_comparisons)
        dropped += n
        fresh = [s for s in kept if _norm(s) not in seen]
        seen.update(_norm(s) for s in fresh)
        if fresh:
            used.append(name)
            sentences += fresh
    if not sentences:
        return ReportCaption(None, "only placeholders or comparisons", [], dropped)
    words: list[str] = []
    for s in sentences:
        if words and len(words) + len(s.split()) > max_words:
            break
        words += s.split()
    if len(words) > max_words:
        words = words[:max_words]
        words[-1] = words[-1].rstrip(",;:") + ("" if words[-1][-1] in ".!?" else ".")
    if len(words) < min_words:
        return ReportCaption(None, f"too short: {len(words)} words", used, dropped)
    return ReportCaption(" ".join(words), None, used, dropped)


def sentences(text: str) -> list[str]:
    """`text` split after . ! or ? and a space, except after an abbreviation ("e.g.", "vs.")."""
    out, start = [], 0
    for m in _SENTENCE_END.finditer(text):
        word = text[:m.start()].rsplit(None, 1)[-1].lower() if text[:m.start()].strip() else ""
        if word.lstrip("(") in _ABBREVIATIONS:
            continue
        out.append(text[start:m.end()].strip())
        start = m.end()
    out.append(text[start:].strip())
    return [s for s in out if s]


def _norm(sentence: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", sentence.lower()).strip()


def split_sections(text: str) -> dict[str, str]:
    """Sections of a plain-text report by their "HEADER:" lines or inline headers, lower-cased
    names; text before the first header is "preamble", a report with no header is all "text"."""
    matches = list(_TEXT_HEADER.finditer(text))
    if not matches:
        return {"text": text.strip()}
    out = {"preamble": text[: matches[0].start()].strip()} if text[: matches[0].start()].strip() else {}
    for m, nxt in zip(matches, [*matches[1:], None]):
        body = text[m.end(): nxt.start() if nxt else len(text)].strip()
        name = m.group(1).strip().lower()
        out[name] = (out[name] + " " + body).strip() if name in out else body
    return out


def iter_nlmcxr_reports(tgz_path: str) -> Iterator[Report]:
    """Every report in an NLMCXR_reports.tgz archive, in archive order."""
    with tarfile.open(tgz_path, "r:gz") as archive:
        for member in archive:
            if member.isfile() and member.name.endswith(".xml"):
                yield parse_nlmcxr(archive.extractfile(member).read())


def caption_reports(reports: Iterable[Report], **options) -> tuple[list[dict], dict]:
    """Rows {report_id, caption, reason, sections, dropped_sentences, image_ids}, one per report
    (caption None with a reason when it yields none), and counts: reports = captioned +
    sum(without_caption.values())."""
    rows = []
    for report in reports:
        result = report_caption(report.sections, **options)
        rows.append({"report_id": report.report_id, "caption": result.caption, "reason": result.reason,
                     "sections": result.sections, "dropped_sentences": result.dropped_sentences,
                     "image_ids": report.image_ids})
    reasons = Counter(r["reason"].split(":")[0] for r in rows if r["reason"])
    return rows, {"reports": len(rows), "captioned": sum(r["caption"] is not None for r in rows),
                  "without_caption": dict(reasons.most_common()),
                  "dropped_sentences": sum(r["dropped_sentences"] for r in rows)}
