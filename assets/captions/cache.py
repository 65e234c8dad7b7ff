"""A content-addressed cache of caption sets: `<cache dir>/<key>.parquet` holds every row (valid
and rejected) that synthesis wrote for one target.

The key is a sha256 over everything that decides a target's captions: the model id, the backend
that runs it and whether its replies are constrained to JSON, the prompt version and a hash of the caption code (prompts, validation and its lexicon, templates, synthesis), the source
and modality, the target's class (name, description, synonyms) and kind, the terms of the
source's other classes (validation and the choice of worked examples read them), N, the seed,
the rounds and the sampling settings. Re-running with nothing changed loads every set and
generates nothing; changing one class's description regenerates that class alone. A set is
written to a temporary name and renamed when complete, so a crash leaves no half entry. The cache
holds one valid draw per key: the backend batches targets together, so which other targets were
missing can change the tokens a fresh run would draw.

A run's progress is checkpointed after every round (`_progress-<key>.json`, the key naming the
targets and settings of the run): a label's set is written as soon as it is complete, and a run
killed mid-way goes on from its last round with the same batches, so it ends with the captions an
uninterrupted run would have written. The checkpoint is removed when the run completes.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq

from assets.captions import lexicon, prompts, synthesize, templates, validate
from assets.captions import targets as targets_module
from assets.captions.synthesize import (
    Progress,
    final_stats,
    generation_stats,
    synthesize_captions,
)
from assets.captions.targets import CaptionTarget
from assets.shared.files import atomic_write
from assets.shared.progress import StepProgress

log = logging.getLogger(__name__)

_CODE = (prompts, validate, lexicon, templates, synthesize, targets_module)


def code_hash(modules=_CODE) -> str:
    """sha256 of the caption code (any edit to how captions are asked for, checked or filled in)."""
    digest = hashlib.sha256()
    for module in modules:
        digest.update(Path(module.__file__).read_bytes())
    return digest.hexdigest()[:16]


def caption_set_key(target: CaptionTarget, *, model_id: str, captions_per_class: int, seed: int, max_rounds: int,
                    max_new_tokens: int = 48, temperature: float = 0.7, top_p: float = 0.9,
                    max_oversample: float = 2.0, generation: dict | None = None, code: str | None = None) -> str:
    """The cache key of one target's caption set (64 hex digits). generation: what decides the text
    besides the model (backend name, structured output; see backend_generation)."""
    payload = {
        "model_id": model_id, "generation": generation or {}, "prompt_version": prompts.PROMPT_VERSION, "prompt_hash": prompts.prompt_hash(),
        "code": code or code_hash(), "source": target.source.name, "modality": target.source.modality,
        "kind": target.kind, "class": _class(target.cls), "findings": [_class(f) for f in target.findings],
        "siblings": sorted([c.name, *c.synonyms] for c in target.siblings),
        "n": captions_per_class, "seed": seed, "max_rounds": max_rounds, "max_new_tokens": max_new_tokens,
        "temperature": temperature, "top_p": top_p, "max_oversample": max_oversample,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _class(cls) -> list:
    return [cls.name, cls.description, list(cls.synonyms)]


def cached_synthesize(
    targets: list[CaptionTarget], cache_dir: str, *, model_id: str, backend, captions_per_class: int = 10,
    max_rounds: int = 3, seed: int = 0, generation: dict | None = None,
    step_progress: StepProgress | None = None, **options,
) -> tuple[list[dict], dict]:
    """synthesize_captions for the targets whose caption set is not in `cache_dir` (a local folder
    or fsspec URL), the others loaded from it. `backend` is a backend, or a function returning one,
    called only when something is missing (so a run with every set cached loads no model); its
    model id must be `model_id`. `step_progress` follows the generation (see synthesize_captions).
    Rows gain `cache_key`; stats gain cache_hits and cache_misses."""
    fs, root = fsspec.core.url_to_fs(cache_dir)
    fs.makedirs(root, exist_ok=True)
    code = code_hash()
    keys = {t.key: caption_set_key(t, model_id=model_id, captions_per_class=captions_per_class, seed=seed,
                                   max_rounds=max_rounds, generation=generation, code=code, **options)
            for t in targets}
    try:
        present = {Path(p).name for p in fs.ls(root, detail=False)}
    except FileNotFoundError:  # an object store prefix with nothing under it yet
        present = set()
    progress_name = f"_progress-{_run_key(keys, targets)}.json"
    progress_path = f"{root}/{progress_name}"
    progress = _load_progress(fs, progress_path) if progress_name in present else None
    # A resumed run synthesizes the targets the killed one did (in the same order), done ones included.
    resumed = set(progress["order"]) if progress else set()
    hits = [t for t in targets if f"{keys[t.key]}.parquet" in present and t.key not in resumed]
    misses = [t for t in targets if t not in hits]
    if progress and [t.key for t in misses] != progress["order"]:  # other sets gone since: start over
        log.warning("caption checkpoint %s does not match the cache: starting over", progress_path)
        progress = None
        hits = [t for t in targets if f"{keys[t.key]}.parquet" in present]
        misses = [t for t in targets if t not in hits]
    rows: list[dict] = []
    for t in hits:
        with fs.open(f"{root}/{keys[t.key]}.parquet", "rb") as f:
            rows += pq.read_table(f).to_pylist()
    run_stats = {**generation_stats([], [], 0.0, None), "resumed_after_round": 0}
    written: set[str] = {t.key for t in misses if f"{keys[t.key]}.parquet" in present}

    def write_sets(new_rows: list[dict], done: list[CaptionTarget]) -> None:
        by_target: dict[tuple[str, str], list[dict]] = {}
        for r in new_rows:
            by_target.setdefault((r["source"], r["label"]), []).append(r)
        for t in done:
            if t.key not in written:
                write_rows(fs, f"{root}/{keys[t.key]}.parquet",
                       [{**r, "cache_key": keys[t.key]} for r in by_target.get((t.source.name, t.label), [])])
                written.add(t.key)

    def checkpoint(p: Progress) -> None:
        write_sets(p.rows, [t for t in misses if len(p.targets[t.key]["accepted"]) >= captions_per_class])
        _write_json(fs, progress_path, {"order": [t.key for t in misses], **p.to_json()})

    if misses:
        engine = backend() if callable(backend) and not hasattr(backend, "generate") else backend
        if engine.model_id != model_id:
            raise ValueError(f"backend model {engine.model_id!r} is not {model_id!r}: cache keys would be wrong")
        resume = Progress(**{k: v for k, v in progress.items() if k != "order"}) if progress else None
        new_rows, stats = synthesize_captions(engine, misses, captions_per_class=captions_per_class,
                                              max_rounds=max_rounds, seed=seed, resume=resume, on_round=checkpoint,
                                              step_progress=step_progress, **options)
        run_stats = {k: stats[k] for k in run_stats}
        write_sets(new_rows, misses)
        key_of = {(t.source.name, t.label): keys[t.key] for t in misses}
        rows += [{**r, "cache_key": key_of[r["source"], r["label"]]} for r in new_rows]
        if fs.exists(progress_path):
            fs.rm(progress_path)
    log.info("caption cache %s: %d hits, %d misses%s", cache_dir, len(hits), len(misses),
             f", resumed after round {run_stats['resumed_after_round']}" if progress else "")
    return rows, {**final_stats(rows, targets, captions_per_class), **run_stats,
                  "cache_hits": len(hits), "cache_misses": len(misses),
                  "reused_generations": len(progress["rows"]) if progress else 0}


def _run_key(keys: dict[str, str], targets: list[CaptionTarget]) -> str:
    """Names a run by its targets (in order) and their cache keys, which hold every setting."""
    return hashlib.sha256(json.dumps([keys[t.key] for t in targets]).encode()).hexdigest()[:32]


def _load_progress(fs, path: str) -> dict | None:
    try:
        with fs.open(path, "rb") as f:
            return json.load(f)
    except (OSError, ValueError) as e:  # unreadable: start the run over
        log.warning("caption checkpoint %s unreadable (%s): starting over", path, e)
        return None


# Two runs may write one key at once: each under a temporary name of its own.
def _write_json(fs, path: str, payload: dict) -> None:
    atomic_write(fs, path, json.dumps(payload).encode(), unique=True)


def write_rows(fs, path: str, rows: list[dict]) -> None:
    atomic_write(fs, path, lambda f: pq.write_table(pa.Table.from_pylist(rows), f), unique=True)
