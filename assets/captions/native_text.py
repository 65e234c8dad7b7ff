"""Captions from the native text of image-text samples, chosen per source by the catalog's `text`:

- native: the text as it is (a figure caption), whitespace collapsed: origin "native";
- report: a radiology report cleaned by report_text.py (sections, placeholders, headers): "cleaned";
- report_condensed: cleaned, then condensed by the caption LLM (condense.py); a condensation that
  fails its fidelity check falls back to the cleaned text: "condensed" or "cleaned".
A sample whose text yields no caption keeps its row, with a reason code (curation drops it with
that reason): every image-text sample has exactly one row. The codes: empty_caption (no text),
report_without_findings (neither an impression nor findings, nor text without headers),
report_only_placeholders (every sentence masked or a comparison), report_too_short.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable, Mapping, Sequence

import pyarrow as pa

from assets.captions.report_text import parse_nlmcxr, report_caption, split_sections
from assets.shared.duckdb_fs import connect

# A report's sections a caption draws on, in this order; "text" is a report without headers.
REPORT_SECTIONS = ("impression", "findings", "text")
# report_caption's reasons (before any ":") as reason codes.
_REPORT_REASONS = {"only placeholders or comparisons": "report_only_placeholders", "too short": "report_too_short"}
SCHEMA = pa.schema([
    ("sample_id", pa.string()), ("source", pa.string()), ("modality", pa.string()),
    ("treatment", pa.string()),  # the source's catalog `text`: native, report or report_condensed
    ("caption", pa.string()),  # null when the text yields none
    ("origin", pa.string()),  # native, cleaned or condensed; null without a caption
    ("reason", pa.string()),  # why there is no caption (a reason code), else null
    ("detail", pa.string()),  # the reason in words, or why a condensation was not used
    ("model_id", pa.string()),  # the condensing LLM, where one was asked
])
# (modality, cleaned text) pairs -> ({(modality, text): condense_texts row}, stats); see condense_cache.py.
Condense = Callable[[list[tuple[str, str]]], tuple[Mapping[tuple[str, str], dict], dict]]


def image_text_samples(parts: list[str], storage_options: dict | None = None) -> list[dict]:
    """{sample_id, source, modality, text} of every image-text sample in the raw-sample parts (its
    text from the reader's row, as ingest keeps it in the provenance), in sample id order."""
    if not parts:
        return []
    con = connect(parts, storage_options)
    cur = con.execute(
        "SELECT sample_id, source, modality, json_extract_string(provenance, '$.row.caption') AS text "
        "FROM read_parquet($parts, union_by_name = true) WHERE kind = 'image_text' ORDER BY sample_id",
        {"parts": parts})
    names = [d[0] for d in cur.description]
    rows = [dict(zip(names, r)) for r in cur.fetchall()]
    con.close()
    return rows


def report_sections(text: str) -> dict[str, str]:
    """A report's sections: from NLMCXR (Open-i) XML when the text is that, else from its headers."""
    if text.lstrip().startswith("<"):
        try:
            return parse_nlmcxr(text).sections
        except ET.ParseError:
            pass
    return split_sections(text)


def clean_text(text: str | None, treatment: str) -> dict:
    """{caption, origin, reason, detail} of one sample's text before any condensation."""
    if treatment == "native":
        caption = " ".join((text or "").split())
        return {"caption": caption or None, "origin": "native" if caption else None,
                "reason": None if caption else "empty_caption", "detail": None if caption else "no text"}
    if not (text or "").strip():
        return {"caption": None, "origin": None, "reason": "empty_caption", "detail": "no text"}
    result = report_caption(report_sections(text), use=REPORT_SECTIONS)
    if result.caption is None:
        head = result.reason.split(":")[0]
        return {"caption": None, "origin": None, "detail": result.reason,
                "reason": _REPORT_REASONS.get(head, "report_without_findings")}
    return {"caption": result.caption, "origin": "cleaned", "reason": None, "detail": None}


def caption_native_texts(samples: Sequence[Mapping], treatments: Mapping[str, str], *,
                         condense: Condense | None = None) -> tuple[list[dict], dict]:
    """One row (SCHEMA) per sample; `treatments` maps a source to its text treatment (native where
    unlisted). `condense` is called once, with the distinct (modality, cleaned text) pairs of the
    report_condensed sources, and only if there are any. Stats: samples, captioned, by_origin and
    by_reason ({source: {key: n}}), and condense (condense's own stats; empty when not called)."""
    rows = []
    for s in samples:
        treatment = treatments.get(s["source"], "native")
        rows.append({"sample_id": s["sample_id"], "source": s["source"], "modality": s["modality"],
                     "treatment": treatment, **clean_text(s["text"], treatment), "model_id": None})
    wanted = [r for r in rows if r["treatment"] == "report_condensed" and r["caption"]]
    condense_stats: dict = {}
    if wanted:
        if condense is None:
            raise ValueError("a source asks for report_condensed but no condensation was given")
        results, condense_stats = condense(list(dict.fromkeys((r["modality"], r["caption"]) for r in wanted)))
        for r in wanted:
            got = results[r["modality"], r["caption"]]
            accepted = got["origin"] == "llm"
            r.update(caption=got["caption"] if accepted else r["caption"], origin="condensed" if accepted else "cleaned",
                     detail=None if accepted else f"not condensed: {got['reason']}", model_id=got["model_id"])
    by_origin: dict[str, Counter] = {}
    by_reason: dict[str, Counter] = {}
    for r in rows:
        if r["caption"]:
            by_origin.setdefault(r["source"], Counter())[r["origin"]] += 1
        else:
            by_reason.setdefault(r["source"], Counter())[r["reason"]] += 1
    return rows, {"samples": len(rows), "captioned": sum(bool(r["caption"]) for r in rows),
                  "by_origin": {s: dict(c) for s, c in sorted(by_origin.items())},
                  "by_reason": {s: dict(c) for s, c in sorted(by_reason.items())}, "condense": condense_stats}
