"""Class-caption synthesis: every target (a class, a multi-label combination, or "no finding" of
a source; see targets.py) gets N validated LLM captions.

Round 1 asks the backend for N captions of every target at once (one batch across all targets);
each later round asks again for what is still missing, scaled up by how rarely that class's
captions passed so far, with new caption indices so prompts differ. What is missing after `max_rounds`
comes from templates (origin="template"). Every generation is a row, valid or not, so
generated = valid LLM captions + rejected.

A `step_progress` (assets/shared/progress.py) counts generations as the backend completes them, its
total raised by each round's requests, its status the round and the targets and captions done.
After each round, `on_round` receives a `Progress`: what every target has so far. A run that was
killed goes on from there (`resume=`) with the very batches the uninterrupted run would have sent, so
it draws the same captions: the backend batches targets together, so only the same batch gives the
same tokens.
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from assets.captions.prompts import (
    ASPECTS,
    NORMAL_ASPECTS,
    NORMAL_EXAMPLES,
    PROMPT_VERSION,
    build_target_conversation,
    target_examples,
)
from assets.captions.targets import CaptionTarget, targets_for_sources
from assets.captions.templates import template_captions
from assets.captions.validate import (
    clean_caption,
    near_duplicate,
    reason_code,
    validate_caption,
)
from assets.shared.progress import StepProgress
from assets.sources.catalog import SourceSpec

log = logging.getLogger(__name__)


@dataclass
class _ClassState:
    target: CaptionTarget
    accepted: list[str] = field(default_factory=list)
    next_index: int = 0  # caption index of the next request (selects examples, aspect, synonym)
    generated: int = 0


@dataclass
class Progress:
    """Synthesis after `round` rounds: every row so far, each target's accepted captions, caption
    index and generation count (by target key), and the per-round figures."""

    round: int
    rows: list[dict]
    targets: dict[str, dict]
    per_round: list[dict]

    def to_json(self) -> dict:
        return asdict(self)


def _retry_count(st: _ClassState, missing: int, max_oversample: float) -> int:
    """Requests for a retry round: what is missing divided by the class's pass rate so far
    (smoothed), at most max_oversample times what is missing. Valid extras are kept as rejected
    rows with reason "surplus"."""
    rate = (len(st.accepted) + 1) / (st.generated + 2)
    return math.ceil(missing * min(max_oversample, 1 / rate))


def validate_for_target(caption: str, target: CaptionTarget, accepted: list[str], *,
                        examples: list[tuple[str, str, str]] = (), checked_prompt: bool = True) -> str | None:
    """None if `caption` is a usable caption of `target`, else why not. checked_prompt=False for
    text no prompt asked for (templates): no modality, example or echo checks."""
    if checked_prompt and target.kind == "no_finding" and \
            near_duplicate(caption, [NORMAL_EXAMPLES[target.source.modality][1]]) is not None:
        return "copies worked example: normal study"
    extra = dict(modality=target.source.modality, examples=examples, prompt_phrases=(*ASPECTS, *NORMAL_ASPECTS)) \
        if checked_prompt else {}
    return validate_caption(caption, target.cls, target.siblings, accepted=accepted, findings=target.findings,
                            **extra)


def synthesize_class_captions(backend, sources: list[SourceSpec], **options) -> tuple[list[dict], dict]:
    """Captions for every class of every source (see synthesize_captions)."""
    return synthesize_captions(backend, targets_for_sources(sources), **options)


def synthesize_captions(
    backend, targets: list[CaptionTarget], *, captions_per_class: int = 10, max_rounds: int = 3, seed: int = 0,
    max_new_tokens: int = 48, temperature: float = 0.7, top_p: float = 0.9, max_oversample: float = 2.0,
    resume: Progress | None = None, on_round: Callable[[Progress], None] | None = None,
    step_progress: StepProgress | None = None,
) -> tuple[list[dict], dict]:
    """Rows {source, modality, label, kind, caption, status, reason, origin, round, model_id,
    prompt_version, seed} (rejected generations included) and stats (counts, reasons, template
    fallbacks per target, tokens, seconds, throughput, pass rate, rounds resumed). `resume`: the
    Progress of an earlier call with the same targets and settings; `on_round`: told after each round."""
    states = [_ClassState(t) for t in targets]
    rows: list[dict] = []
    base = {"model_id": backend.model_id, "prompt_version": PROMPT_VERSION, "seed": seed}
    per_round, first_round = [], 1
    if resume is not None:
        for st in states:
            saved = resume.targets[st.target.key]
            st.accepted, st.next_index, st.generated = list(saved["accepted"]), saved["next_index"], saved["generated"]
        rows, per_round, first_round = list(resume.rows), list(resume.per_round), resume.round + 1
        log.info("captions resumed after round %d: %d generations reused", resume.round, len(rows))
    tokens_before = getattr(backend, "tokens_generated", None)
    started = time.perf_counter()
    for round_no in range(first_round, max_rounds + 1):
        requests: list[_ClassState] = []
        for st in states:
            if (missing := captions_per_class - len(st.accepted)) > 0:
                requests += [st] * (missing if round_no == 1 else _retry_count(st, missing, max_oversample))
        if not requests:
            break
        conversations, indices = [], []
        for st in requests:
            conversations.append(build_target_conversation(st.target, st.next_index))
            indices.append(st.next_index)
            st.next_index += 1
        round_started = time.perf_counter()
        reporting = {}
        if step_progress is not None:
            step_progress.set_status(_status(states, captions_per_class, round_no, max_rounds))
            step_progress.add_total(len(requests))
            reporting = {"on_done": step_progress.advance}
        outputs = backend.generate(conversations, max_new_tokens=max_new_tokens, temperature=temperature,
                                   top_p=top_p, seed=seed * 1009 + round_no, **reporting)
        valid_before = sum(r["status"] == "valid" for r in rows)
        for st, index, raw in zip(requests, indices, outputs, strict=True):
            caption = clean_caption(raw)
            if len(st.accepted) >= captions_per_class:
                reason = f"surplus: class already has {captions_per_class} captions"
            else:
                reason = validate_for_target(caption, st.target, st.accepted,
                                             examples=target_examples(st.target, index))
            st.generated += 1
            if reason is None:
                st.accepted.append(caption)
            rows.append(_row(st, caption or raw.strip(), reason, "llm", round_no, base))
        valid = sum(r["status"] == "valid" for r in rows) - valid_before
        per_round.append({"round": round_no, "requested": len(requests), "valid": valid,
                          "seconds": round(time.perf_counter() - round_started, 2)})
        log.info("caption round %d: %d requested, %d valid", round_no, len(requests), valid)
        if step_progress is not None:
            step_progress.set_status(_status(states, captions_per_class, round_no, max_rounds))
        if on_round is not None:
            on_round(Progress(round_no, list(rows), {st.target.key: {"accepted": st.accepted, "next_index": st.next_index,
                                                                      "generated": st.generated} for st in states},
                              list(per_round)))
    seconds = time.perf_counter() - started

    for st in states:
        for caption in template_captions(st.target.source.modality, st.target.cls,
                                         normal=st.target.kind == "no_finding"):
            if len(st.accepted) >= captions_per_class:
                break
            if validate_for_target(caption, st.target, st.accepted, checked_prompt=False) is None:
                st.accepted.append(caption)
                rows.append(_row(st, caption, None, "template", None, base))
    tokens_after = getattr(backend, "tokens_generated", None)
    tokens = tokens_after - tokens_before if tokens_before is not None and tokens_after is not None else None
    stats = {**final_stats(rows, targets, captions_per_class), **generation_stats(rows, per_round, seconds, tokens),
             "resumed_after_round": resume.round if resume else 0}
    return rows, stats


def _status(states: list[_ClassState], captions_per_class: int, round_no: int, max_rounds: int) -> str:
    complete = sum(len(st.accepted) >= captions_per_class for st in states)
    valid = sum(min(len(st.accepted), captions_per_class) for st in states)
    return (f"round {round_no}/{max_rounds}, {complete}/{len(states)} classes complete, "
            f"{valid}/{captions_per_class * len(states)} captions valid")


def _row(st: _ClassState, caption: str, reason: str | None, origin: str, round_no: int | None, base: dict) -> dict:
    t = st.target
    return {"source": t.source.name, "modality": t.source.modality, "label": t.label, "kind": t.kind,
            "caption": caption, "status": "valid" if reason is None else "rejected", "reason": reason,
            "origin": origin, "round": round_no, **base}


def generation_stats(rows: list[dict], per_round: list[dict], seconds: float, tokens: int | None) -> dict:
    """What one run generated: LLM rows, rejections by reason, pass rate, tokens, throughput."""
    llm = [r for r in rows if r["origin"] == "llm"]
    llm_valid = sum(r["status"] == "valid" for r in llm)
    return {
        "generated": len(llm),
        "rejected": len(llm) - llm_valid,
        "rejected_by_reason": dict(Counter(reason_code(r["reason"]) for r in llm if r["reason"]).most_common()),
        "pass_rate": round(llm_valid / len(llm), 4) if llm else 0.0,
        "rounds": per_round,
        "tokens_generated": tokens,
        "seconds": round(seconds, 2),
        "tokens_per_s": round(tokens / seconds, 1) if tokens and seconds else None,
        "generations_per_s": round(len(llm) / seconds, 2) if seconds else None,
        "captions_per_s": round(llm_valid / seconds, 2) if seconds else None,
    }


def final_stats(rows: list[dict], targets: list[CaptionTarget], captions_per_class: int) -> dict:
    """What the targets end up with: valid captions, how many from templates, targets short."""
    valid = Counter((r["source"], r["label"], r["origin"]) for r in rows if r["status"] == "valid")
    fallbacks = {t.key: valid[t.source.name, t.label, "template"] for t in targets}
    final = {t.key: valid[t.source.name, t.label, "llm"] + fallbacks[t.key] for t in targets}
    total = sum(final.values())
    llm_valid = total - sum(fallbacks.values())
    return {
        "classes": len(targets),
        "kinds": dict(Counter(t.kind for t in targets)),
        "captions_per_class": captions_per_class,
        "valid": total,
        "valid_llm": llm_valid,
        "template_fallbacks": fallbacks,
        "template_captions": sum(fallbacks.values()),
        "classes_short": [k for k, n in final.items() if n < captions_per_class],
        "llm_fraction": round(llm_valid / total, 4) if total else 0.0,
    }
