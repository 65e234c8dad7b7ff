"""Export of curated image-text pairs to WebDataset shards for open_clip's trainer.

`export_shards` reads the curated pairs Parquet in batches and writes the rows of one split through
`ShardWriter`: the image as stored, one caption as `.txt` (picked per sample by a seeded hash, so re-runs
agree), the sample's metadata and all its captions as `.json`. Beside the shards it writes `manifest.parquet`
(one row per sample: where it went) and `sizes.json` (samples per shard, which open_clip reads).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Iterator

import fsspec
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from assets.export.shard_writer import ShardInfo, ShardWriter, shard_name, shard_pattern

__all__ = ["MANIFEST_NAME", "SIZES_NAME", "ShardWriter", "choose_caption", "export_shards", "shard_name", "shard_pattern"]

log = logging.getLogger(__name__)

# image_format values seen in curated Parquet, mapped to the extension webdataset/open_clip decode by.
_FORMAT_TO_EXT = {"png": "png", "jpg": "jpg", "jpeg": "jpg"}
MANIFEST_NAME = "manifest.parquet"
SIZES_NAME = "sizes.json"  # {shard file name: samples}; open_clip reads it when --train-num-samples is absent

MANIFEST_SCHEMA = pa.schema(
    [
        ("sample_id", pa.string()),
        ("shard", pa.string()),  # shard file name, e.g. train-000000.tar
        ("key", pa.string()),  # webdataset __key__ inside the shard
        ("source", pa.string()),
        ("modality", pa.string()),
        ("label", pa.string()),
        ("bytes", pa.int64()),  # payload bytes of the sample in the tar: image + txt + json
    ]
)


# -- export of curated pairs -------------------------------------------------------------------------


def choose_caption(captions: list[str], sample_id: str, seed: int = 0) -> str:
    """One of `captions`, picked by a hash of (seed, sample_id): the same pick on every run and machine."""
    digest = hashlib.blake2b(f"{seed}\x00{sample_id}".encode(), digest_size=8).digest()
    return captions[int.from_bytes(digest, "big") % len(captions)]


_COLUMNS = ["sample_id", "source", "modality", "label", "split", "image", "image_format", "captions"]


def _samples(parquet_file: pq.ParquetFile, split: str, seed: int, batch_rows: int, counts: dict) -> Iterator[dict]:
    """Writer samples (without key) for the rows of `split`; rows lacking an image or a caption are
    counted in `counts` and dropped."""
    for batch in parquet_file.iter_batches(batch_size=batch_rows, columns=_COLUMNS):
        counts["rows_read"] += batch.num_rows
        for row in batch.filter(pc.equal(batch.column("split"), split)).to_pylist():
            image = (row["image"] or {}).get("bytes")
            captions = [c for c in (row["captions"] or []) if c and c.strip()]
            if not image:
                counts["no_image"] += 1
                continue
            if not captions:
                counts["no_caption"] += 1
                continue
            ext = _FORMAT_TO_EXT.get(str(row["image_format"]).lower())
            if ext is None:
                raise ValueError(f"unsupported image_format {row['image_format']!r} for {row['sample_id']}")
            meta = {k: row[k] for k in ("sample_id", "source", "modality", "label")}
            meta["captions"] = captions
            txt = choose_caption(captions, row["sample_id"], seed)
            yield {"image": image, "image_ext": ext, "txt": txt, "json": meta}


def export_shards(
    curated_parquet: str,
    out_dir: str,
    *,
    samples_per_shard: int = 1000,
    split: str = "train",
    seed: int = 0,
    batch_rows: int = 256,
    storage_options: dict | None = None,
) -> dict:
    """Write the rows of `split` in the curated pairs Parquet as WebDataset shards plus a Parquet manifest.

    Shards are named `{split}-{000000}.tar` with keys numbered in file order; stale shards of the same
    prefix from an earlier run are removed. Rows without image bytes or without any non-empty caption
    are skipped and counted. One `out_dir` holds one split (the manifest and sizes.json are per folder).
    """
    t0 = time.perf_counter()
    out_dir = out_dir.rstrip("/")
    in_fs, in_path = fsspec.core.url_to_fs(curated_parquet, **(storage_options or {}))
    manifest: dict[str, list] = {f.name: [] for f in MANIFEST_SCHEMA}
    counts = {"rows_read": 0, "no_image": 0, "no_caption": 0}
    writer = ShardWriter(out_dir, split, samples_per_shard, storage_options=storage_options)
    with writer, in_fs.open(in_path, "rb") as f:
        for i, sample in enumerate(_samples(pq.ParquetFile(f), split, seed, batch_rows, counts)):
            sample["key"] = f"{i:09d}"
            shard, payload = writer.write(sample)
            meta = sample["json"]
            for column, value in (("sample_id", meta["sample_id"]), ("shard", shard), ("key", sample["key"]),
                                  ("source", meta["source"]), ("modality", meta["modality"]),
                                  ("label", meta["label"]), ("bytes", payload)):
                manifest[column].append(value)
    shards = writer.shards
    _remove_stale_shards(writer, {s.name for s in shards})
    _write_manifest(writer, pa.table(manifest, schema=MANIFEST_SCHEMA))
    _write_sizes(writer, shards)
    seconds = time.perf_counter() - t0
    num_bytes = sum(s.num_bytes for s in shards)
    stats = {
        "num_samples": len(manifest["key"]),
        "num_shards": len(shards),
        "shards": shard_pattern(out_dir, split, len(shards)),
        "manifest": f"{out_dir}/{MANIFEST_NAME}",
        "rows_read": counts["rows_read"],
        "skipped": {"no_image": counts["no_image"], "no_caption": counts["no_caption"]},
        "bytes": num_bytes,
        "seconds": round(seconds, 4),
        "mb_per_s": round(num_bytes / 1e6 / seconds, 2) if seconds > 0 else None,
        "shard_sha256": {s.name: s.sha256 for s in shards},
    }
    log.info("exported %d %s samples into %d shards at %s", stats["num_samples"], split, len(shards), out_dir)
    return stats


def _remove_stale_shards(writer: ShardWriter, keep: set[str]) -> None:
    """Delete `{prefix}-*.tar` files an earlier, larger run left behind, so the folder holds this run only."""
    for path in writer.fs.glob(writer.url(f"{writer.prefix}-*.tar")):
        if path.rsplit("/", 1)[-1] not in keep:
            log.info("removing stale shard %s", path)
            writer.fs.rm(path)


def _atomic_write(writer: ShardWriter, name: str, write) -> None:
    final = writer.url(name)
    with writer.fs.open(final + ".tmp", "wb") as f:
        write(f)
    writer.fs.mv(final + ".tmp", final)


def _write_manifest(writer: ShardWriter, table: pa.Table) -> None:
    _atomic_write(writer, MANIFEST_NAME, lambda f: pq.write_table(table, f))


def _write_sizes(writer: ShardWriter, shards: list[ShardInfo]) -> None:
    sizes = {s.name: s.num_samples for s in shards}
    _atomic_write(writer, SIZES_NAME, lambda f: f.write(json.dumps(sizes, indent=1, sort_keys=True).encode()))
