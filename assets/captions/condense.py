"""Optional LLM condensation of native text (a cleaned report) into one caption sentence.

The caption must be a clean sentence (no meta-text, no echo of the request, a sane length), and
it must say nothing the report does not: nearly every content word of it (stemmed) must occur in
the report, and no word the report only denies ("no pneumothorax") may stand un-negated in it.
A rejected condensation falls back to the cleaned report text, with the reason kept.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from assets.captions.prompts import MODALITY_NOUNS
from assets.captions.validate import (
    _GENERIC,
    _META_ANY,
    _META_START,
    _NEGATION_CUES,
    _negated,
    _words,
    clean_caption,
    normalize,
    stem,
)

CONDENSE_VERSION = "condense-v2"
SYSTEM = ("You turn radiology reports into one-sentence image captions. State only what the report says, "
          "keep negations, and reply with the caption only.")
# A worked example: (report, caption).
EXAMPLE = ("The heart is normal in size. The lungs are clear. No pleural effusion. Mild degenerative changes of "
           "the thoracic spine.",
           "Chest radiograph with a normal heart size, clear lungs, no pleural effusion and mild degenerative "
           "changes of the thoracic spine.")
_ECHO_PREFIX = re.compile(r"^\s*(?:report|findings|impression)\b[^:\n]{0,40}:\s*", re.IGNORECASE)
MIN_WORDS, MAX_WORDS = 4, 40
MIN_SUPPORTED = 0.85  # share of a caption's content words that must occur in the report
_ECHO = re.compile(r"\b(?:report|summar\w*|caption|one sentence)\b", re.IGNORECASE)


def _request(text: str, noun: str) -> str:
    return f"{text}\n\nCaption {noun} with these findings in one sentence."


def condense_conversation(text: str, modality: str) -> list[dict[str, str]]:
    noun = MODALITY_NOUNS[modality]
    return [{"role": "system", "content": SYSTEM},
            {"role": "user", "content": _request(EXAMPLE[0], noun)}, {"role": "assistant", "content": EXAMPLE[1]},
            {"role": "user", "content": _request(text, noun)}]


def validate_condensed(caption: str, report: str) -> str | None:
    """None if `caption` is a faithful one-sentence caption of `report`, else why not."""
    words = _words(caption)
    if not words:
        return "empty"
    if _META_START.search(caption) or _META_ANY.search(caption) or _ECHO.search(caption):
        return "meta-text"
    if not MIN_WORDS <= len(words) <= MAX_WORDS:
        return f"length: {len(words)} words"
    source = {stem(w) for w in _words(report)}
    content = [w for w in words if w not in _GENERIC and not w.isdigit()]
    unsupported = [w for w in content if stem(w) not in source]
    if content and 1 - len(unsupported) / len(content) < MIN_SUPPORTED:
        return "unsupported words: " + ", ".join(dict.fromkeys(unsupported))
    denied, affirmed = _polarity(report)
    if flipped := [w for w in content if stem(w) in _polarity(caption)[1] and stem(w) in denied - affirmed]:
        return "contradicts report: " + ", ".join(dict.fromkeys(flipped))
    return None


def _polarity(text: str) -> tuple[set[str], set[str]]:
    """Stems of the words `text` mentions negated ("no effusion") and un-negated."""
    norm = normalize(text)
    denied, affirmed = set(), set()
    for m in re.finditer(r"[a-z0-9]+", norm):
        if m.group() in _NEGATION_CUES or m.group() in _GENERIC:
            continue
        (denied if _negated(norm, m.start(), m.group()) else affirmed).add(stem(m.group()))
    return denied, affirmed


def condense_texts(backend, texts: Sequence[str], modality: str, *, seed: int = 0, max_new_tokens: int = 64,
                   temperature: float = 0.3, top_p: float = 0.9, on_done=None) -> list[dict]:
    """One row per text: {text, caption, origin ("llm" or "native"), reason (why the LLM caption
    was not used), model_id, prompt_version}. One batched backend call (`on_done`: its progress)."""
    reporting = {"on_done": on_done} if on_done is not None else {}
    outputs = backend.generate([condense_conversation(t, modality) for t in texts], max_new_tokens=max_new_tokens,
                               temperature=temperature, top_p=top_p, seed=seed, **reporting)
    rows = []
    for text, raw in zip(texts, outputs, strict=True):
        caption = clean_caption(_ECHO_PREFIX.sub("", raw.strip()))
        reason = validate_condensed(caption, text)
        rows.append({"text": text, "caption": caption if reason is None else text,
                     "origin": "llm" if reason is None else "native", "reason": reason,
                     "model_id": backend.model_id, "prompt_version": CONDENSE_VERSION})
    return rows
