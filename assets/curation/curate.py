"""Curation in DuckDB: quality filters, decontamination against every evaluation (test) image,
exact dedup by decoded-pixel hash and near-dup dedup by perceptual-hash clusters, then caption
assignment. Every input sample is either kept or logged with one reason.

Order of the steps (the first reason that applies is the one logged):
1. screening on statistics stored at ingest: too_small, bad_aspect_ratio, blank_image, then
   captions: an image-text sample whose text gave no caption (the reason native_text_captions
   gives, e.g. empty_caption, report_without_findings; no_text_caption without a row there),
   caption_too_short, caption_too_long, no_valid_caption; then a
   training sample whose patient (study, volume: the source's `group_id`) has a test image is an
   evaluation_patient;
2. decontamination, across all sources: a training sample (any split but test) with the pixels
   of a test image is an evaluation_duplicate, one within the radius of a test image an
   evaluation_near_duplicate;
3. exact dedup on each side (training, evaluation): one sample per pixel hash (exact_duplicate);
4. near-dup dedup on each side: down the keep order, a sample within the radius of a kept one is
   dropped for it (near_duplicate, at a distance within the radius); clusters do not chain.
The keep rule, everywhere: passing samples, image-text over classification, larger images,
earlier in `source_priority`, then sample_id.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field

import duckdb
import numpy as np
import pyarrow as pa

from assets.curation.near_dups import connected_components, find_near_pairs, keep_set
from assets.curation.sql_files import sql
from assets.shared import duckdb_fs
from assets.shared.files import published_together

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CurationParams:
    """Thresholds of the curation (CurationConfig in defs.py is made from this class)."""

    near_duplicate_radius: int = field(default=4, metadata={"description": (
        "Two images whose 64-bit perceptual hashes differ in at most this many bits are near duplicates. "
        "pHash distances are even (half the bits are set), so 4 and 5 act alike; the default 4 finds most "
        "re-encoded, resized and brightened copies and rarely joins distinct images (bench/curation.py "
        "measures recall and false positives per radius into bench/results/curation.md).")})
    min_side: int = field(default=28, metadata={"description": (
        "Images whose shorter side has fewer pixels are dropped (too_small).")})
    max_aspect_ratio: float = field(default=4.0, metadata={"description": (
        "Images whose longer side exceeds this many times the shorter are dropped (bad_aspect_ratio).")})
    min_pixel_std: float = field(default=2.0, metadata={"description": (
        "Images whose gray-level standard deviation (0..255 scale, stored at ingest) is below this are "
        "blank or constant (blank_image).")})
    min_caption_words: int = field(default=3, metadata={"description": (
        "Captions with fewer words are dropped (an image-text sample's own: caption_too_short; a class "
        "caption is left out of its class's list).")})
    max_caption_words: int = field(default=256, metadata={"description": (
        "Captions with more words are dropped likewise (caption_too_long).")})


def connect(paths: list[str], storage_options: dict | None = None) -> duckdb.DuckDBPyConnection:
    """A connection over `paths` (see assets/shared/duckdb_fs.py) with curation's SQL macros."""
    con = duckdb_fs.connect(paths, storage_options)
    con.execute(sql("macros"))
    return con


def _load_table(con: duckdb.DuckDBPyConnection, name: str, columns: dict[str, np.ndarray]) -> None:
    con.register("_arrow", pa.table(columns))
    con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM _arrow")  # name: ours, never input
    con.unregister("_arrow")


@contextmanager
def _timed(steps: dict[str, float], name: str) -> Iterator[None]:
    started = time.perf_counter()
    yield
    steps[name] = round(time.perf_counter() - started, 3)


def _components(con: duckdb.DuckDBPyConnection, vertices: str, edges_sql: str, table: str, column: str) -> None:
    """Connected components of `vertices` (a count query) joined by the pairs `edges_sql` returns,
    as table `table`(`column`, component)."""
    n = con.execute(vertices).fetchone()[0]
    a, b = (np.asarray(c) for c in con.execute(edges_sql).fetchnumpy().values())
    labels = connected_components(n, a, b)
    _load_table(con, table, {column: np.arange(n, dtype=np.uint32), "component": labels.astype(np.uint32)})


def _near_keep(con: duckdb.DuckDBPyConnection) -> None:
    """Table near_keep(sample_id, kept_id, distance): the sample each deduplicated sample is kept as
    (itself, or a kept one within the radius; see keep_set) and the Hamming distance to it."""
    members = con.execute(sql("dedup_order")).fetchnumpy()
    n = con.execute("SELECT count(*) FROM dedup_vertices").fetchone()[0]
    a, b = (np.asarray(c) for c in con.execute(sql("dedup_edges")).fetchnumpy().values())
    kept = keep_set(np.asarray(members["vertex"]), n, a, b)
    ids, phash = np.asarray(members["sample_id"]), np.asarray(members["phash"], dtype=np.int64)
    distance = np.bitwise_count((phash ^ phash[kept]).view(np.uint64)).astype(np.uint8)
    _load_table(con, "near_keep", {"sample_id": ids, "kept_id": ids[kept], "distance": distance})


def curate(
    raw_samples: str | list[str],
    class_captions: str,
    out_pairs: str,
    out_log: str,
    *,
    out_clusters: str | None = None,
    text_captions: str | None = None,
    params: CurationParams | None = None,
    source_priority: list[str] | None = None,
    threads: int | None = None,
    storage_options: dict | None = None,
) -> dict:
    """Curate raw samples into training/evaluation pairs.

    `raw_samples` is a Parquet path, glob or list of them. Writes the kept pairs (image bytes and
    captions) to `out_pairs`, one row per dropped sample to `out_log` and, if given, the
    near-duplicate clusters to `out_clusters`. An image-text sample's caption is its row of
    `text_captions` (native_text_captions; None: there are none, so no image-text sample is kept).
    `source_priority` lists sources, preferred first, for the keep rule. Returns stats whose counts
    always balance: `samples_in == kept + dropped`.
    Paths may be local or fsspec URLs (`s3://...`); `storage_options` go to their filesystem.
    """
    started = time.perf_counter()
    p = params or CurationParams()
    paths = [raw_samples] if isinstance(raw_samples, str) else list(raw_samples)
    con = connect([*paths, class_captions, out_pairs, out_log, *([out_clusters] if out_clusters else []),
                   *([text_captions] if text_captions else [])], storage_options)
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    words = {"min_caption_words": p.min_caption_words, "max_caption_words": p.max_caption_words}
    steps: dict[str, float] = {}
    with _timed(steps, "load"):
        con.execute(sql("load_text_captions"))
        if text_captions:
            con.execute(sql("insert_text_captions"), {"text_captions": text_captions})
        con.execute(sql("load_samples"), {"raw_samples": paths})
        con.execute(sql("load_groups"))
        if _has_column(con, paths, "group_id"):
            con.execute(sql("insert_groups"), {"raw_samples": paths})
        con.execute(sql("evaluation_groups"))
        con.execute(sql("load_captions"), {"class_captions": class_captions, **words})
    with _timed(steps, "screen"):
        con.execute(sql("screen"), {"min_side": p.min_side, "max_aspect_ratio": p.max_aspect_ratio,
                                    "min_pixel_std": p.min_pixel_std,
                                    "source_priority": list(source_priority or []), **words})
    with _timed(steps, "exact_dedup"):
        con.execute(sql("exact_dedup"))
    with _timed(steps, "near_duplicate_search"):
        search = find_near_pairs(con, p.near_duplicate_radius)
    with _timed(steps, "decontaminate_and_cluster"):
        _components(con, "SELECT count(*) FROM phash_nodes", "SELECT a, b FROM phash_edges", "node_components", "node")
        con.execute(sql("decontaminate"))
        _near_keep(con)
    with _timed(steps, "decide"):
        con.execute(sql("decisions"))
        con.execute(sql("clusters"))
    outputs = [out_pairs, out_log, *([out_clusters] if out_clusters else [])]
    with _timed(steps, "write"), published_together(outputs, storage_options) as temporary:
        con.execute(sql("write_curated_pairs"), {"raw_samples": paths, "out": temporary[0]})
        con.execute(sql("write_curation_log"), {"out": temporary[1]})
        if out_clusters:
            con.execute(sql("write_clusters"), {"out": temporary[2]})
    stats = _stats(con, p, search)
    con.close()
    stats["seconds_by_step"] = steps
    stats["seconds"] = round(time.perf_counter() - started, 3)
    log.info("curation: %s in, %s kept, dropped %s", stats["samples_in"], stats["kept"], stats["dropped_by_reason"])
    return stats


def _has_column(con: duckdb.DuckDBPyConnection, paths: list[str], column: str) -> bool:
    """Whether any of the Parquet files holds `column` (raw parts written before it was added do not)."""
    cur = con.execute("SELECT * FROM read_parquet($paths, union_by_name = true) LIMIT 0", {"paths": paths})
    return column in {d[0] for d in cur.description}


def _rows(con: duckdb.DuckDBPyConnection, name: str, params: dict | None = None) -> list[dict]:
    cur = con.execute(sql(name), params or {})
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()]


def _stats(con: duckdb.DuckDBPyConnection, params: CurationParams, search: dict) -> dict:
    summary = _rows(con, "summary")
    outcomes: Counter[str] = Counter()
    by_source: dict[str, Counter[str]] = {}
    kept_by_split: Counter[str] = Counter()
    for r in summary:
        outcomes[r["outcome"]] += r["n"]
        by_source.setdefault(r["source"], Counter())[r["outcome"]] += r["n"]
        if r["outcome"] == "kept":
            kept_by_split[r["split"]] += r["n"]
    kept = outcomes.pop("kept", 0)
    decontamination: dict[str, dict[str, int]] = {}
    for r in _rows(con, "decontamination_summary"):
        decontamination.setdefault(r["evaluation_set"], {})[r["reason"]] = r["n"]
    by_origin: dict[str, dict[str, int]] = {}
    for r in _rows(con, "origin_summary"):
        by_origin.setdefault(r["source"], {})[r["origin"]] = r["n"]
    n_clusters, clustered = con.execute("SELECT count(DISTINCT cluster_id), count(*) FROM clusters").fetchone()
    return {
        "samples_in": kept + sum(outcomes.values()),
        "kept": kept,
        "dropped": sum(outcomes.values()),
        "dropped_by_reason": dict(sorted(outcomes.items())),
        "kept_by_split": dict(sorted(kept_by_split.items())),
        "by_source": {s: dict(c) for s, c in sorted(by_source.items())},
        # Kept pairs by source and caption origin (origin_summary.sql), and by origin alone.
        "kept_by_caption_origin": by_origin,
        "kept_by_origin": dict(sorted(sum((Counter(c) for c in by_origin.values()), Counter()).items())),
        # (source, modality, split, outcome, n) rows: the summary by source, modality and reason.
        "summary": summary,
        "decontamination": decontamination,
        "near_duplicates": {**search, "clusters": n_clusters, "samples_in_clusters": clustered},
        "largest_clusters": _rows(con, "largest_clusters", {"n": 5}),
        "example_pairs": _rows(con, "example_pairs", {"n": 5}),
        "params": asdict(params),
    }


def check_invariants(
    curated_pairs: str,
    *,
    near_duplicate_radius: int | None = None,
    storage_options: dict | None = None,
) -> dict[str, int]:
    """Counts that must be 0, read back from the written pairs: training samples whose decoded
    pixels equal an evaluation sample's; training samples sharing a pixel hash; with a radius,
    training samples within it of an evaluation sample."""
    con = connect([curated_pairs], storage_options)
    row = con.execute(sql("check_invariants"), {"pairs": curated_pairs}).fetchone()
    out = {"train_eval_overlap": int(row[0]), "duplicate_train_hashes": int(row[1])}
    if near_duplicate_radius is not None:
        con.execute(sql("check_load_nodes"), {"pairs": curated_pairs})
        con.execute(sql("check_nodes"))
        find_near_pairs(con, near_duplicate_radius)
        out["train_eval_near_duplicates"] = int(con.execute(sql("check_near")).fetchone()[0])
    con.close()
    return out


def account(raw_samples: str | list[str], curated_pairs: str, curation_log: str,
            text_captions: str | None = None, storage_options: dict | None = None) -> dict[str, int]:
    """What the files hold, counted apart from the curation's stats: `raw_rows` (the raw samples'
    rows), `curated_rows`, `log_rows`, and `unaccounted_samples` (input samples not found exactly
    once in the pairs or the log, plus output rows that are no input sample). With `text_captions`
    (native_text_captions) also `unmatched_text_captions` (image-text samples without exactly one
    row there, and rows of no such sample), `text_without_caption` and `text_drops_not_logged` (of
    those, the ones the log does not hold with their reason). They balance when raw_rows ==
    curated_rows + log_rows and no sample is unaccounted, unmatched or unlogged."""
    raw = [raw_samples] if isinstance(raw_samples, str) else list(raw_samples)
    con = connect([*raw, curated_pairs, curation_log, *([text_captions] if text_captions else [])],
                  storage_options)
    queries = [("check_accounting", {"raw_samples": raw, "pairs": curated_pairs, "log": curation_log})]
    if text_captions:
        queries.append(("check_text_accounting", {"raw_samples": raw, "text_captions": text_captions,
                                                  "log": curation_log}))
    out: dict[str, int] = {}
    for name, params in queries:
        cur = con.execute(sql(name), params)
        out.update({d[0]: int(v) for d, v in zip(cur.description, cur.fetchone())})
    con.close()
    return out


def training_patients_with_evaluation(curated_pairs: str, raw_samples: str | list[str],
                                      storage_options: dict | None = None) -> int:
    """Training pairs whose patient (study, volume), read from the raw samples' `group_id`, has an
    evaluation pair: must be 0 (0 too where the raw samples name no groups)."""
    raw = [raw_samples] if isinstance(raw_samples, str) else list(raw_samples)
    con = connect([*raw, curated_pairs], storage_options)
    n = int(con.execute(sql("check_patients"), {"raw_samples": raw, "pairs": curated_pairs}).fetchone()[0]) \
        if _has_column(con, raw, "group_id") else 0
    con.close()
    return n


def balanced(accounts: dict[str, int]) -> bool:
    """Whether `account`'s counts balance: every raw row is one kept pair or one log row."""
    return (accounts["raw_rows"] == accounts["curated_rows"] + accounts["log_rows"]
            and accounts["unaccounted_samples"] == 0 and accounts.get("unmatched_text_captions", 0) == 0
            and accounts.get("text_drops_not_logged", 0) == 0)
