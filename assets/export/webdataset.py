"""Export of curated image-text pairs to WebDataset shards for open_clip's trainer.

`export_shards` streams the rows of one split of the curated pairs Parquet (`assets.export.curated`)
through `ShardWriter`: the image bytes as stored (no re-encoding), the captions as `.txt`, the sample's
metadata, all its captions, where they came from (`caption_origin`) and its provenance as `.json`.

`.txt` holds either every candidate caption, one per line (`captions="all"`, UniMed's multi-caption style:
`models.clip.train_entry` draws one line at random each time the trainer loads the sample), or one caption
picked by a seeded hash of the sample id (`captions="one"`, for consumers that read `.txt` as the caption).
Whitespace inside a caption is collapsed to single spaces, here and in the `.json` caption list.

A source mixture (`assets.export.mixture`: per-source weights or caps from the catalog) decides how many
copies of each training pair are written: a first pass writes every pair kept once, and pass k writes the
k-th copy of the pairs with more than k, so the copies of a pair land in other shards, not in one batch.

Beside the shards it writes `manifest.parquet` (one row per written sample: shard, key, offset, copy, caption origin),
`export_log.parquet` (one row per pair of the split not exported, with its reason), `mixture.json` (per
source: weight or cap, pairs read, exported and dropped, samples written), `shards.parquet` (one row per
shard: size, sha256, samples per source and modality) and `sizes.json` (samples per shard, which
open_clip reads). A re-run keeps every shard an earlier run completed with the same bytes.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Mapping

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from assets.export.curated import (
    CaptionMode,
    caption_text,
    choose_caption,
    read_samples,
    split_counts,
)
from assets.export.mixture import (
    MIXED_SPLIT,
    MIXTURE_CAP,
    MIXTURE_DOWNSAMPLED,
    MIXTURE_NAME,
    drop_reason,
    mixture_plan,
    mixture_record,
)
from assets.export.shard_writer import (
    DEFAULT_MAX_SHARD_BYTES,
    STATS_SUFFIX,
    ShardInfo,
    ShardWriter,
    shard_name,
    shard_pattern,
    stats_name,
)
from assets.shared.files import atomic_write
from assets.sources.catalog import SourceMixture

__all__ = ["EXPORT_LOG_NAME", "MANIFEST_NAME", "MIXTURE_NAME", "SHARDS_NAME", "SIZES_NAME", "ShardWriter",
           "caption_text", "choose_caption", "export_shards", "shard_name", "shard_pattern"]

log = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.parquet"
EXPORT_LOG_NAME = "export_log.parquet"
SHARDS_NAME = "shards.parquet"
# The split benchmark_report evaluates (its suite's default split); export leaves it to the report.
EVALUATED_SPLIT = "test"
SIZES_NAME = "sizes.json"  # {shard file name: samples}; open_clip reads it when --train-num-samples is absent

MANIFEST_SCHEMA = pa.schema(
    [
        ("sample_id", pa.string()),
        ("shard", pa.string()),  # shard file name, e.g. train-000000.tar
        ("key", pa.string()),  # webdataset __key__ inside the shard
        ("offset", pa.int64()),  # byte offset of the sample's first tar header in the shard
        ("source", pa.string()),
        ("modality", pa.string()),
        ("label", pa.string()),
        ("bytes", pa.int64()),  # payload bytes of the sample in the tar: image + txt + json
        ("caption_origin", pa.string()),  # where its captions came from (null: curated pairs without it)
        ("copy", pa.int32()),  # 0 for a pair's first copy, k for its (k+1)-th (an upsampled source)
    ]
)
EXPORT_LOG_SCHEMA = pa.schema([(name, pa.string()) for name in ("sample_id", "source", "modality", "label", "reason")])
DROP_REASONS = ("no_image", "no_caption", MIXTURE_CAP, MIXTURE_DOWNSAMPLED)
_COUNTS = pa.map_(pa.string(), pa.int64())
SHARDS_SCHEMA = pa.schema(
    [
        ("shard", pa.string()),
        ("num_samples", pa.int64()),
        ("bytes", pa.int64()),  # tar file size
        ("payload_bytes", pa.int64()),
        ("sha256", pa.string()),
        ("sources", _COUNTS),  # samples per source
        ("modalities", _COUNTS),  # samples per modality
    ]
)

# -- export ---------------------------------------------------------------------------------------------

def export_shards(
    curated_parquet: str,
    out_dir: str,
    *,
    samples_per_shard: int = 1000,
    max_shard_bytes: int | None = DEFAULT_MAX_SHARD_BYTES,
    split: str = "train",
    captions: CaptionMode = "all",
    seed: int = 0,
    mixture: Mapping[str, SourceMixture] | None = None,
    batch_rows: int = 512,
    resume: bool = True,
    storage_options: dict | None = None,
) -> dict:
    """Write the rows of `split` in the curated pairs Parquet as WebDataset shards plus Parquet manifests.

    Shards are named `{split}-{000000}.tar`, keys are numbered in write order, and a shard closes at
    `samples_per_shard` samples or before passing `max_shard_bytes`. `mixture` ({source: SourceMixture},
    drawn with `seed`) sets how many copies of a source's training pairs are written (another split is
    written as it is); a source it does not name is written once. With `resume`, shards an earlier run
    completed with identical bytes are kept (`shards_reused`); files of the same prefix this run does not
    produce are removed. Rows without image bytes or without any non-empty caption, and pairs the mixture
    drops, are logged (export_log.parquet) and counted.
    One `out_dir` holds one split (the manifests and sizes.json are per folder).
    """
    t0 = time.perf_counter()
    out_dir = out_dir.rstrip("/")
    mixture = dict(mixture or {}) if split == MIXED_SPLIT else {}
    plan = mixture_plan(curated_parquet, mixture, seed, storage_options)
    manifest: dict[str, list] = {f.name: [] for f in MANIFEST_SCHEMA}
    counts: Counter = Counter(rows_read=0)
    dropped: list[dict] = []
    writer = ShardWriter(out_dir, split, samples_per_shard, max_shard_bytes=max_shard_bytes, resume=resume,
                         storage_options=storage_options)
    key = 0
    with writer:
        # Pass k writes copy k of every pair planned for more than k copies (pass 0: every pair kept).
        for copy in range(max([1, *plan.values()])):
            samples = read_samples(curated_parquet, split, captions=captions, seed=seed, batch_rows=batch_rows,
                                   counts=counts if copy == 0 else Counter(),
                                   dropped=dropped if copy == 0 else None, storage_options=storage_options)
            for sample in samples:
                meta = sample["json"]
                copies = plan.get(meta["sample_id"], 1)
                if copies == 0 and copy == 0:
                    dropped.append({**{k: meta[k] for k in ("sample_id", "source", "modality", "label")},
                                    "reason": drop_reason(mixture[meta["source"]])})
                if copies <= copy:
                    continue
                sample["key"] = f"{key:09d}"
                key += 1
                shard, offset, payload = writer.write(sample)
                for column, value in (("sample_id", meta["sample_id"]), ("shard", shard), ("key", sample["key"]),
                                      ("offset", offset), ("source", meta["source"]), ("modality", meta["modality"]),
                                      ("label", meta["label"]), ("bytes", payload),
                                      ("caption_origin", meta.get("caption_origin")), ("copy", copy)):
                    manifest[column].append(value)
    shards = writer.shards
    manifest_table = pa.table(manifest, schema=MANIFEST_SCHEMA)
    log_table = pa.Table.from_pylist(dropped, schema=EXPORT_LOG_SCHEMA)
    record = mixture_record(mixture, list(zip(manifest["source"], manifest["copy"])),
                            [(r["source"], r["reason"]) for r in dropped], seed, split)
    _remove_stale_files(writer, {s.name for s in shards})
    atomic_write(writer.fs, writer.url(MANIFEST_NAME), lambda f: pq.write_table(manifest_table, f))
    atomic_write(writer.fs, writer.url(EXPORT_LOG_NAME), lambda f: pq.write_table(log_table, f))
    atomic_write(writer.fs, writer.url(MIXTURE_NAME), json.dumps(record, indent=1, sort_keys=True).encode())
    shard_table = _shard_table(shards, manifest_table)
    atomic_write(writer.fs, writer.url(SHARDS_NAME), lambda f: pq.write_table(shard_table, f))
    sizes = {s.name: s.num_samples for s in shards}
    atomic_write(writer.fs, writer.url(SIZES_NAME), json.dumps(sizes, indent=1, sort_keys=True).encode())
    seconds = time.perf_counter() - t0
    num_bytes = sum(s.num_bytes for s in shards)
    skipped = Counter(r["reason"] for r in dropped)
    stats = {
        "num_samples": manifest_table.num_rows,
        "num_pairs": sum(c == 0 for c in manifest["copy"]),  # distinct pairs written
        "num_shards": len(shards),
        "shards": shard_pattern(out_dir, split, len(shards)),
        "manifest": f"{out_dir}/{MANIFEST_NAME}",
        "export_log": f"{out_dir}/{EXPORT_LOG_NAME}",
        "mixture_path": f"{out_dir}/{MIXTURE_NAME}",
        "shard_index": f"{out_dir}/{SHARDS_NAME}",
        "rows_read": counts["rows_read"],
        "skipped": {reason: skipped[reason] for reason in DROP_REASONS},
        "by_caption_origin": {v["values"] or "none": v["counts"]
                              for v in pc.value_counts(manifest_table.column("caption_origin")).to_pylist()},
        "mixture": record["sources"],
        "bytes": num_bytes,
        "shards_written": sum(not s.reused for s in shards),
        "shards_reused": sum(s.reused for s in shards),
        "reused": [s.name for s in shards if s.reused],  # kept from an earlier run rather than written
        "seconds": round(seconds, 4),
        "mb_per_s": round(num_bytes / 1e6 / seconds, 2) if seconds > 0 else None,
        "shard_sha256": {s.name: s.sha256 for s in shards},
    }
    stats["splits"] = split_outcomes(split_counts(curated_parquet, storage_options), split,
                                     exported=stats["num_pairs"], samples=stats["num_samples"],
                                     skipped=stats["skipped"])
    log.info("exported %d %s pairs as %d samples into %d shards at %s (%d kept from an earlier run)",
             stats["num_pairs"], split, stats["num_samples"], len(shards), out_dir, stats["shards_reused"])
    return stats


def split_outcomes(rows: dict[str, int], exported_split: str, *, exported: int, samples: int,
                   skipped: dict[str, int]) -> dict[str, dict]:
    """What became of each split of the curated pairs: `exported_split` is exported (its distinct pairs,
    the samples written with the mixture's copies, and the rows skipped by reason), EVALUATED_SPLIT is
    left to benchmark_report, and every other split is counted as skipped, with the reason."""
    out = {}
    for name, n in rows.items():
        if name == exported_split:
            out[name] = {"rows": n, "outcome": "exported", "exported": exported, "samples": samples,
                         "skipped": skipped}
        elif name == EVALUATED_SPLIT:
            out[name] = {"rows": n, "outcome": "evaluated", "reason": "held out for benchmark_report"}
        else:
            out[name] = {"rows": n, "outcome": "skipped",
                         "reason": f"split {name!r} is neither exported for training nor evaluated"}
    return out


def _shard_table(shards: list[ShardInfo], manifest: pa.Table) -> pa.Table:
    per_shard: dict[str, dict[str, Counter]] = {s.name: {"sources": Counter(), "modalities": Counter()} for s in shards}
    for shard, source, modality in zip(*(manifest.column(c).to_pylist() for c in ("shard", "source", "modality"))):
        per_shard[shard]["sources"][source] += 1
        per_shard[shard]["modalities"][modality] += 1
    rows = [{"shard": s.name, "num_samples": s.num_samples, "bytes": s.num_bytes, "payload_bytes": s.payload_bytes,
             "sha256": s.sha256,
             "sources": sorted(per_shard[s.name]["sources"].items()),
             "modalities": sorted(per_shard[s.name]["modalities"].items())} for s in shards]
    return pa.Table.from_pylist(rows, schema=SHARDS_SCHEMA)


def _remove_stale_files(writer: ShardWriter, keep: set[str]) -> None:
    """Delete shards, their stats and temporary files of this prefix that this run did not produce
    (an earlier, larger run; a run killed midway), so the folder holds this run only."""
    keep_files = keep | {stats_name(name) for name in keep}
    for path in writer.fs.glob(writer.url(f"{writer.prefix}-*")):
        name = path.rsplit("/", 1)[-1]
        ours = name.endswith((".tar", STATS_SUFFIX, ".tmp"))
        if ours and name not in keep_files:
            log.info("removing stale file %s", path)
            writer.fs.rm(path)
