"""A content-addressed cache of LLM condensations of cleaned reports (condense.py).

An entry is keyed by everything that decides it: the model id, the backend and its output
constraint, the condensation prompt's version and a hash of its code (condense, validation and its
lexicon, prompts), the modality, the cleaned text, the seed and the sampling settings. Equal texts
(many reports read "No acute cardiopulmonary process.") are condensed once. The entries of one
backend batch are written together, `<cache dir>/<hash of their keys>.parquet`, whole (temporary
name, then rename) as soon as the batch completes: a killed run keeps its finished batches and a
re-run asks the LLM only for what is missing. As for class captions, the cache holds one draw per
key (which other texts shared a batch can change the tokens a fresh run would draw).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Sequence

import fsspec
import pyarrow.parquet as pq

from assets.captions import condense, lexicon, prompts, validate
from assets.captions.cache import code_hash, write_rows
from assets.captions.condense import CONDENSE_VERSION, condense_texts
from assets.shared.progress import StepProgress

log = logging.getLogger(__name__)

_CODE = (condense, validate, lexicon, prompts)


def condense_key(modality: str, text: str, *, model_id: str, generation: dict | None, seed: int,
                 max_new_tokens: int, temperature: float, top_p: float, code: str) -> str:
    payload = {"model_id": model_id, "generation": generation or {}, "prompt_version": CONDENSE_VERSION,
               "code": code, "modality": modality, "text": text, "seed": seed, "max_new_tokens": max_new_tokens,
               "temperature": temperature, "top_p": top_p}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def cached_condense(items: Sequence[tuple[str, str]], cache_dir: str, *, model_id: str, backend,
                    generation: dict | None = None, seed: int = 0, batch_size: int = 64,
                    step_progress: StepProgress | None = None, max_new_tokens: int = 64, temperature: float = 0.3,
                    top_p: float = 0.9) -> tuple[dict[tuple[str, str], dict], dict]:
    """{(modality, text): condense_texts row} for every item, from `cache_dir` (a local folder or
    fsspec URL) or condensed now, `batch_size` texts per backend call. `backend` is a backend or a
    function returning one, called only when something is missing (its model id must be
    `model_id`). Stats: cache_hits, cache_misses, seconds."""
    started = time.perf_counter()
    fs, root = fsspec.core.url_to_fs(cache_dir)
    fs.makedirs(root, exist_ok=True)
    code = code_hash(_CODE)
    sampling = {"seed": seed, "max_new_tokens": max_new_tokens, "temperature": temperature, "top_p": top_p}
    keys = {item: condense_key(*item, model_id=model_id, generation=generation, code=code, **sampling)
            for item in dict.fromkeys(items)}
    entries = _load(fs, root, set(keys.values()))
    misses = [item for item in keys if keys[item] not in entries]
    if misses:
        engine = backend() if callable(backend) and not hasattr(backend, "generate") else backend
        if engine.model_id != model_id:
            raise ValueError(f"backend model {engine.model_id!r} is not {model_id!r}: cache keys would be wrong")
        if step_progress is not None:
            step_progress.add_total(len(misses))
        for modality in dict.fromkeys(m for m, _ in misses):
            texts = [t for m, t in misses if m == modality]
            for start in range(0, len(texts), batch_size):
                batch = texts[start:start + batch_size]
                rows = condense_texts(engine, batch, modality, **sampling,
                                      on_done=step_progress.advance if step_progress is not None else None)
                new = [{"key": keys[modality, t], **{k: r[k] for k in ("caption", "origin", "reason", "model_id",
                                                                           "prompt_version")}}
                       for t, r in zip(batch, rows, strict=True)]
                name = hashlib.sha256("".join(e["key"] for e in new).encode()).hexdigest()[:32]
                write_rows(fs, f"{root}/{name}.parquet", new)
                entries.update({e["key"]: e for e in new})
    log.info("condensation cache %s: %d hits, %d misses", cache_dir, len(keys) - len(misses), len(misses))
    return ({item: entries[keys[item]] for item in keys},
            {"cache_hits": len(keys) - len(misses), "cache_misses": len(misses),
             "seconds": round(time.perf_counter() - started, 2)})


def _load(fs, root: str, wanted: set[str]) -> dict[str, dict]:
    """The cached entries among `wanted` keys."""
    out: dict[str, dict] = {}
    for path in fs.glob(f"{root}/*.parquet"):
        with fs.open(path, "rb") as f:
            out.update({r["key"]: r for r in pq.read_table(f).to_pylist() if r["key"] in wanted})
    return out
