"""Curation in DuckDB: exact dedup by decoded-pixel hash, decontamination against the evaluation
(test) split, and caption assignment. Every input sample is either kept or logged with a reason."""

from __future__ import annotations

import logging
import time
from collections import Counter

import duckdb
import fsspec

from assets.curation.sql_files import sql

log = logging.getLogger(__name__)


def connect(paths: list[str], storage_options: dict | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection that reads and writes `paths`: each remote protocol among them (s3://, gs://,
    ...) is served by its fsspec filesystem, so DuckDB needs no extension download (httpfs)."""
    con = duckdb.connect()
    for protocol in sorted({p.split("://", 1)[0] for p in paths if "://" in p} - {"file"}):
        con.register_filesystem(fsspec.filesystem(protocol, **(storage_options or {})))
    return con


def curate(
    raw_samples: str | list[str],
    class_captions: str,
    out_pairs: str,
    out_log: str,
    *,
    threads: int | None = None,
    storage_options: dict | None = None,
) -> dict:
    """Curate raw samples into training/evaluation pairs.

    `raw_samples` is a Parquet path, glob or list of paths. Writes the kept pairs (with image bytes
    and their class's valid captions) to `out_pairs` and one row per dropped sample to `out_log`.
    Returns counts that always balance: `samples_in == kept + dropped`. Paths may be local or
    fsspec URLs (`s3://...`); `storage_options` go to their filesystem.
    """
    started = time.perf_counter()
    paths = [raw_samples] if isinstance(raw_samples, str) else list(raw_samples)
    con = connect([*paths, class_captions, out_pairs, out_log], storage_options)
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    con.execute(sql("load_samples"), {"raw_samples": raw_samples})
    con.execute(sql("load_captions"), {"class_captions": class_captions})
    con.execute(sql("exact_dedup"))
    con.execute(sql("decisions"))
    con.execute(sql("write_curated_pairs"), {"raw_samples": raw_samples, "out": out_pairs})
    con.execute(sql("write_curation_log"), {"out": out_log})
    summary = con.execute(sql("summary")).fetchall()
    con.close()

    outcomes: Counter[str] = Counter()
    by_source: dict[str, Counter[str]] = {}
    kept_by_split: Counter[str] = Counter()
    for source, split, outcome, n in summary:
        outcomes[outcome] += n
        by_source.setdefault(source, Counter())[outcome] += n
        if outcome == "kept":
            kept_by_split[split] += n
    kept = outcomes.pop("kept", 0)
    stats = {
        "samples_in": kept + sum(outcomes.values()),
        "kept": kept,
        "dropped": sum(outcomes.values()),
        "dropped_by_reason": dict(sorted(outcomes.items())),
        "kept_by_split": dict(sorted(kept_by_split.items())),
        "by_source": {s: dict(c) for s, c in sorted(by_source.items())},
        "seconds": round(time.perf_counter() - started, 3),
    }
    log.info("curation: %s in, %s kept, dropped %s", stats["samples_in"], kept, stats["dropped_by_reason"])
    return stats


def check_invariants(curated_pairs: str, *, storage_options: dict | None = None) -> dict[str, int]:
    """Counts that must be zero in curated pairs: training samples whose decoded pixels equal an
    evaluation sample's, and training samples sharing a pixel hash with another training sample."""
    con = connect([curated_pairs], storage_options)
    row = con.execute(sql("check_invariants"), {"pairs": curated_pairs}).fetchone()
    con.close()
    return {"train_eval_overlap": int(row[0]), "duplicate_train_hashes": int(row[1])}
