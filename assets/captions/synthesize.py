"""Class-caption synthesis: every class of every source gets N validated LLM captions.

Round 1 asks the backend for N captions of every class at once (one batch across all classes);
each later round asks again for what is still missing, scaled up by how rarely that class's
captions passed so far, with new caption indices so prompts differ. What is missing after `max_rounds`
comes from templates (origin="template"). Every generation is a row, valid or not, so
generated = valid LLM captions + rejected.
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter
from dataclasses import dataclass, field

from assets.captions.prompts import ASPECTS, PROMPT_VERSION, build_conversation, usable_examples
from assets.captions.templates import template_captions
from assets.captions.validate import clean_caption, reason_code, validate_caption
from assets.sources.catalog import ClassInfo, SourceSpec

log = logging.getLogger(__name__)


@dataclass
class _ClassState:
    source: SourceSpec
    cls: ClassInfo
    accepted: list[str] = field(default_factory=list)
    next_index: int = 0  # caption index of the next request (selects examples, aspect, synonym)
    generated: int = 0


def _retry_count(st: _ClassState, missing: int, max_oversample: float) -> int:
    """Requests for a retry round: what is missing divided by the class's pass rate so far
    (smoothed), at most max_oversample times what is missing. Valid extras are kept as rejected
    rows with reason "surplus"."""
    rate = (len(st.accepted) + 1) / (st.generated + 2)
    return math.ceil(missing * min(max_oversample, 1 / rate))


def synthesize_class_captions(
    backend, sources: list[SourceSpec], *, captions_per_class: int = 10, max_rounds: int = 3, seed: int = 0,
    max_new_tokens: int = 48, temperature: float = 0.7, top_p: float = 0.9, max_oversample: float = 2.0,
) -> tuple[list[dict], dict]:
    """Rows {source, modality, label, caption, status, reason, origin, round, model_id,
    prompt_version, seed} (rejected generations included) and stats (counts, reasons, template
    fallbacks per class, tokens, seconds, throughput, pass rate)."""
    states = [_ClassState(s, c) for s in sources for c in s.classes]
    examples = {s.name: usable_examples(s.modality, s.classes) for s in sources}
    rows: list[dict] = []
    base = {"model_id": backend.model_id, "prompt_version": PROMPT_VERSION, "seed": seed}
    tokens_before = getattr(backend, "tokens_generated", None)
    started = time.perf_counter()
    per_round = []
    for round_no in range(1, max_rounds + 1):
        requests: list[_ClassState] = []
        for st in states:
            if (missing := captions_per_class - len(st.accepted)) > 0:
                requests += [st] * (missing if round_no == 1 else _retry_count(st, missing, max_oversample))
        if not requests:
            break
        conversations = []
        for st in requests:
            conversations.append(build_conversation(st.source.modality, st.cls, st.next_index, st.source.classes))
            st.next_index += 1
        round_started = time.perf_counter()
        outputs = backend.generate(conversations, max_new_tokens=max_new_tokens, temperature=temperature,
                                   top_p=top_p, seed=seed * 1009 + round_no)
        valid_before = sum(r["status"] == "valid" for r in rows)
        for st, raw in zip(requests, outputs, strict=True):
            caption = clean_caption(raw)
            if len(st.accepted) >= captions_per_class:
                reason = f"surplus: class already has {captions_per_class} captions"
            else:
                reason = validate_caption(caption, st.cls, st.source.classes, accepted=st.accepted,
                                          modality=st.source.modality, examples=examples[st.source.name],
                                          prompt_phrases=ASPECTS)
            st.generated += 1
            if reason is None:
                st.accepted.append(caption)
            rows.append(_row(st, caption or raw.strip(), reason, "llm", round_no, base))
        valid = sum(r["status"] == "valid" for r in rows) - valid_before
        per_round.append({"round": round_no, "requested": len(requests), "valid": valid,
                          "seconds": round(time.perf_counter() - round_started, 2)})
        log.info("caption round %d: %d requested, %d valid", round_no, len(requests), valid)
    seconds = time.perf_counter() - started

    fallbacks = {}
    for st in states:
        before = len(st.accepted)
        for caption in template_captions(st.source.modality, st.cls):
            if len(st.accepted) >= captions_per_class:
                break
            if validate_caption(caption, st.cls, st.source.classes, accepted=st.accepted) is None:
                st.accepted.append(caption)
                rows.append(_row(st, caption, None, "template", None, base))
        fallbacks[f"{st.source.name}/{st.cls.name}"] = len(st.accepted) - before
    return rows, _stats(rows, states, fallbacks, per_round, seconds, backend, tokens_before, captions_per_class)


def _row(st: _ClassState, caption: str, reason: str | None, origin: str, round_no: int | None, base: dict) -> dict:
    return {"source": st.source.name, "modality": st.source.modality, "label": st.cls.name, "caption": caption,
            "status": "valid" if reason is None else "rejected", "reason": reason, "origin": origin,
            "round": round_no, **base}


def _stats(rows, states, fallbacks, per_round, seconds, backend, tokens_before, captions_per_class) -> dict:
    llm = [r for r in rows if r["origin"] == "llm"]
    llm_valid = sum(r["status"] == "valid" for r in llm)
    final = sum(len(st.accepted) for st in states)
    tokens_after = getattr(backend, "tokens_generated", None)
    tokens = tokens_after - tokens_before if tokens_before is not None and tokens_after is not None else None
    return {
        "classes": len(states),
        "captions_per_class": captions_per_class,
        "generated": len(llm),
        "valid": final,
        "valid_llm": llm_valid,
        "rejected": len(llm) - llm_valid,
        "rejected_by_reason": dict(Counter(reason_code(r["reason"]) for r in llm if r["reason"]).most_common()),
        "template_fallbacks": fallbacks,
        "template_captions": sum(fallbacks.values()),
        "classes_short": [k for k, st in zip(fallbacks, states) if len(st.accepted) < captions_per_class],
        "llm_fraction": round(llm_valid / final, 4) if final else 0.0,
        "pass_rate": round(llm_valid / len(llm), 4) if llm else 0.0,
        "rounds": per_round,
        "tokens_generated": tokens,
        "seconds": round(seconds, 2),
        "tokens_per_s": round(tokens / seconds, 1) if tokens and seconds else None,
        "generations_per_s": round(len(llm) / seconds, 2) if seconds else None,
        "captions_per_s": round(llm_valid / seconds, 2) if seconds else None,
    }
