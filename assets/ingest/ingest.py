"""Ingest listed images into one Parquet file of normalized samples plus one of quarantined rows
(assets/ingest/chunked.py runs this over a source of any size, in parts). Every row read ends up in exactly one of the two outputs (`rows_read == ingested + quarantined`).
Files are read through fsspec (local paths and s3:// alike), written in row groups of
`batch_size` so memory stays bounded, under a temporary name renamed when complete.
"""

from __future__ import annotations

import hashlib
import json
import logging
import posixpath
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from itertools import islice

import fsspec
import pyarrow as pa

from assets.ingest.images import OUTPUT_FORMATS, NormalizedImage, normalize_image
from assets.shared.files import ParquetWriter

log = logging.getLogger(__name__)

NORMALIZER_VERSION = "1"
# kind: "classification" or "image_text" (rows that do not say are classification samples).
_STRING_COLUMNS = ("sample_id", "source", "modality", "label", "split", "kind")

SAMPLE_SCHEMA = pa.schema(
    [
        *(pa.field(name, pa.string()) for name in _STRING_COLUMNS),
        pa.field("image", pa.struct([("bytes", pa.binary()), ("path", pa.string())])),
        pa.field("image_format", pa.string()),
        pa.field("width", pa.int32()),
        pa.field("height", pa.int32()),
        pa.field("pixel_sha256", pa.string()),
        pa.field("phash", pa.int64()),
        pa.field("pixel_mean", pa.float32()),
        pa.field("pixel_std", pa.float32()),
        pa.field("orig_path", pa.string()),
        # A hash of the sample's patient, study or volume where its source names one (else null).
        pa.field("group_id", pa.string()),
        pa.field("provenance", pa.string()),
    ]
)
_HF_TYPES = {pa.string(): "string", pa.int32(): "int32", pa.int64(): "int64", pa.float32(): "float32"}
# The Hugging Face `datasets` feature spec, so load_dataset("parquet", ...) decodes `image` as Image.
SAMPLE_SCHEMA = SAMPLE_SCHEMA.with_metadata({"huggingface": json.dumps({"info": {"features": {
    f.name: {"_type": "Image"} if f.name == "image" else {"dtype": _HF_TYPES[f.type], "_type": "Value"}
    for f in SAMPLE_SCHEMA}}})})

QUARANTINE_SCHEMA = pa.schema([(name, pa.string()) for name in
                               ("sample_id", "source", "orig_path", "reason", "detail")])


def make_sample_id(source: str, path: str) -> str:
    """Stable id of a sample: sha1 of its source name and its path within the source."""
    return hashlib.sha1(f"{source}\x00{path}".encode()).hexdigest()


def _normalize_one(data: bytes | Exception, max_side: int, output_format: str,
                   search_text: bool) -> NormalizedImage | tuple[str, str]:
    """A normalized image, or (reason, detail) for the quarantine; `search_text`: see normalize_image."""
    if isinstance(data, FileNotFoundError):
        return "missing_file", str(data)
    if isinstance(data, Exception):
        return "read_error", f"{type(data).__name__}: {data}"
    try:
        return normalize_image(data, max_side=max_side, output_format=output_format, search_text=search_text)
    except Exception as e:  # noqa: BLE001 - any decoder failure is the input's fault
        reason = getattr(e, "reason", None)
        if reason is None:
            log.warning("unexpected %s while normalizing: %s", type(e).__name__, e)
        return reason or "unexpected_error", getattr(e, "detail", None) or f"{type(e).__name__}: {e}"


def _batched(rows: Iterable[dict], n: int) -> Iterator[list[dict]]:
    it = iter(rows)
    while batch := list(islice(it, n)):
        yield batch


def _read_each(fs, paths: list[str], pool: ThreadPoolExecutor | None) -> Iterator[bytes | Exception]:
    """Each file's bytes, or the exception reading it raised, in order: one at a time from a local
    disk, so one input is in memory at a time; by threads, a batch at a time, from remote storage."""
    def read(p):
        try:
            return fs.cat_file(p)
        except Exception as e:  # noqa: BLE001 - reported per row in the quarantine
            return e
    return pool.map(read, paths) if pool else map(read, paths)


def ingest_rows(
    rows: Iterable[dict], *, root: str, out_path: str, quarantine_path: str,
    max_side: int = 512, batch_size: int = 512, output_format: str = "png",
    storage_options: dict | None = None, record_root: bool = True,
) -> dict:
    """Read each row's image (row['path'] relative to `root`), normalize it and write it to
    `out_path`; bad rows go to `quarantine_path` with a reason. Rows need 'path' and 'source';
    a row with 'image_bytes' is not read from `root`, one with 'read_from' is read from there
    (a path the outputs must not show), one with 'search_text' is searched for burned-in text once
    decoded (a hit is quarantined as burned_in_text_suspected), one with 'error' (a reader's reason code,
    and 'error_detail') goes to the quarantine as it is;
    'modality', 'label', 'split' are copied; other keys are kept in the provenance JSON.
    `storage_options` go to fsspec for `root` and both outputs (S3 is usually configured by the
    AWS_* environment instead). `record_root`: write `root` into each sample's provenance (False
    for clinical sources). No output holds `root` otherwise: a read error's detail names the row's
    'path' instead. Runs in this process: `ingest_source` spreads chunks over several.
    Returns the stats dict."""
    if output_format not in OUTPUT_FORMATS:
        raise ValueError(f"output_format must be one of {sorted(OUTPUT_FORMATS)}, not {output_format!r}")
    started = time.perf_counter()
    fs, base = fsspec.core.url_to_fs(root, **(storage_options or {}))
    local = "file" in (fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,))
    seen: set[str] = set()
    stats = Counter()
    reasons: Counter = Counter()
    per_source: dict[str, Counter] = {}
    out = ParquetWriter(out_path, SAMPLE_SCHEMA, dictionary_columns=[*_STRING_COLUMNS[1:], "image_format"],
                        storage_options=storage_options)
    bad = ParquetWriter(quarantine_path, QUARANTINE_SCHEMA, dictionary_columns=["source", "reason"],
                        storage_options=storage_options)
    threads = None if local else ThreadPoolExecutor(16)
    try:
        with out, bad:  # published together when every batch is written; discarded on an error
            for batch in _batched(rows, batch_size):
                good: dict[str, list] = {f.name: [] for f in SAMPLE_SCHEMA}
                quarantined: dict[str, list] = {f.name: [] for f in QUARANTINE_SCHEMA}
                todo: list[tuple[dict, str, str]] = []  # (row, sample_id, full path)
                for row in batch:
                    src, rel = str(row.get("source") or ""), row.get("path")
                    sid = make_sample_id(src, str(rel))
                    reason = "bad_row" if not src or not rel else "duplicate_row" if sid in seen else None
                    if reason:
                        _quarantine(quarantined, sid, src, rel, reason, "needs 'source' and 'path'"
                                    if reason == "bad_row" else "same source and path listed twice")
                    elif row.get("error"):  # a reader's verdict on this input
                        seen.add(sid)
                        _quarantine(quarantined, sid, src, rel, str(row["error"]), str(row.get("error_detail") or ""))
                    else:
                        seen.add(sid)
                        file = str(row.get("read_from") or rel)
                        todo.append((row, sid, posixpath.join(base, file) if base else file))
                read = _read_each(fs, [p for r, _, p in todo if r.get("image_bytes") is None], threads)
                for row, sid, full in todo:
                    image = row["image_bytes"] if row.get("image_bytes") is not None else next(read)
                    stats["bytes_read"] += len(image) if isinstance(image, bytes) else 0
                    res = _normalize_one(image, max_side, output_format, bool(row.get("search_text")))
                    if isinstance(res, tuple):
                        reason, detail = res
                        detail = detail.replace(full, str(row["path"])).replace(base, "<root>") if base else detail
                        _quarantine(quarantined, sid, row["source"], row["path"], reason, detail)
                    else:
                        _append_sample(good, row, sid, res, root if record_root else None, max_side)
                        stats["bytes_written"] += len(res.image_bytes)
                stats["rows_read"] += len(batch)
                stats["ingested"] += len(good["sample_id"])
                for src in good["source"]:
                    per_source.setdefault(src, Counter())["ingested"] += 1
                for src, reason in zip(quarantined["source"], quarantined["reason"]):
                    per_source.setdefault(src, Counter())["quarantined"] += 1
                    reasons[reason] += 1
                out.write(good)
                bad.write(quarantined)
    finally:
        if threads:
            threads.shutdown()
    result = {**ingest_summary(stats, reasons, per_source, time.perf_counter() - started),
              "out_path": out_path, "quarantine_path": quarantine_path}
    log.info("ingested %d, quarantined %d of %d rows in %.1fs into %s", result["ingested"],
             result["quarantined"], result["rows_read"], result["seconds"], out_path)
    return result


def ingest_summary(stats: Counter, reasons: Counter, per_source: dict[str, Counter], seconds: float) -> dict:
    """The stats dict of an ingest from its counters."""
    return {
        "rows_read": stats["rows_read"],
        "ingested": stats["ingested"],
        "quarantined": sum(reasons.values()),
        "quarantine_reasons": dict(sorted(reasons.items())),
        "per_source": {s: {"ingested": c["ingested"], "quarantined": c["quarantined"]}
                       for s, c in sorted(per_source.items())},
        "bytes_read": stats["bytes_read"],
        "bytes_written": stats["bytes_written"],
        "seconds": round(seconds, 3),
        "images_per_s": round(stats["rows_read"] / seconds, 1) if seconds > 0 else None,
    }


def _quarantine(cols: dict[str, list], sid: str, source: str, path, reason: str, detail: str) -> None:
    for key, value in (("sample_id", sid), ("source", source), ("orig_path", None if path is None else str(path)),
                       ("reason", reason), ("detail", detail[:500])):
        cols[key].append(value)


_ROW_KEYS = {"path", "source", "modality", "label", "split", "kind", "image_bytes", "read_from", "group_id",
             "search_text"}


def _append_sample(cols: dict[str, list], row: dict, sid: str, img: NormalizedImage, root: str | None,
                   max_side: int) -> None:
    provenance = {
        **({"root": root} if root is not None else {}),
        "normalizer": {"version": NORMALIZER_VERSION, "max_side": max_side, "format": img.image_format},
        "input": {"format": img.source_format, "mode": img.source_mode,
                  "width": img.source_width, "height": img.source_height},
        "row": {k: v for k, v in sorted(row.items()) if k not in _ROW_KEYS},
    }
    values = {
        "sample_id": sid, "source": str(row["source"]),
        **{k: None if row.get(k) is None else str(row[k]) for k in ("modality", "label", "split")},
        "kind": str(row.get("kind") or "classification"),
        "image": {"bytes": img.image_bytes, "path": f"{sid}.{img.image_format}"},
        "image_format": img.image_format, "width": img.width, "height": img.height,
        "pixel_sha256": img.pixel_sha256, "phash": img.phash,
        "pixel_mean": img.pixel_mean, "pixel_std": img.pixel_std,
        "orig_path": str(row["path"]), "group_id": row.get("group_id"), "provenance": json.dumps(provenance, sort_keys=True, default=str),
    }
    for key, value in values.items():
        cols[key].append(value)
