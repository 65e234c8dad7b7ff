"""The curated pairs Parquet read for export: the rows of one split as `ShardWriter` samples.

Export is mostly moving bytes, so reading does little else: image bytes are handed on as memoryviews of
Arrow's buffers (no copy), a thread decodes the next batch while the caller writes the current one, and a
sample's caption text is built once per distinct caption list (classification sets share one per class).
"""

from __future__ import annotations

import hashlib
import queue
import threading
from collections import Counter
from collections.abc import Iterator
from typing import Literal

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from fsspec.implementations.local import LocalFileSystem

CaptionMode = Literal["all", "one"]
# image_format values seen in curated Parquet, mapped to the extension webdataset/open_clip decode by.
FORMAT_TO_EXT = {"png": "png", "jpg": "jpg", "jpeg": "jpg"}
REQUIRED = ["sample_id", "source", "modality", "label", "split", "image", "image_format", "captions"]
# Copied into each sample's .json when the curated Parquet has them (caption_origin: native, cleaned,
# condensed, llm or template; see assets/curation/sql/screen.sql).
PROVENANCE = ["pixel_sha256", "width", "height", "caption_origin"]
_CACHE_LIMIT = 4096  # distinct caption lists remembered


def choose_caption(captions: list[str], sample_id: str, seed: int = 0) -> str:
    """One of `captions`, picked by a hash of (seed, sample_id): the same pick on every run and machine."""
    digest = hashlib.blake2b(f"{seed}\x00{sample_id}".encode(), digest_size=8).digest()
    return captions[int.from_bytes(digest, "big") % len(captions)]


def clean_captions(captions: list | None) -> list[str]:
    """The non-empty captions, whitespace inside each (newlines included) collapsed to single spaces."""
    return [" ".join(c.split()) for c in (captions or []) if c and c.strip()]


def caption_text(captions: list[str], sample_id: str, mode: CaptionMode = "all", seed: int = 0) -> str:
    """The `.txt` of a sample: every caption on its own line ("all"), or the seeded pick ("one")."""
    clean = clean_captions(captions)
    if mode == "all":
        return "\n".join(clean)
    if mode == "one":
        return choose_caption(clean, sample_id, seed)
    raise ValueError(f"captions must be 'all' or 'one', not {mode!r}")


def _binary_views(arr: pa.Array) -> list:
    """Each value of a binary array as a memoryview of its Arrow buffer (no copy), None where null."""
    if not (pa.types.is_binary(arr.type) or pa.types.is_large_binary(arr.type)):
        return arr.to_pylist()
    valid = arr.is_valid().to_numpy(zero_copy_only=False)
    _, offsets_buf, data_buf = arr.buffers()
    dtype = np.int64 if pa.types.is_large_binary(arr.type) else np.int32
    offsets = np.frombuffer(offsets_buf, dtype=dtype)[arr.offset : arr.offset + len(arr) + 1].tolist()
    data = memoryview(data_buf) if data_buf is not None else memoryview(b"")
    return [data[offsets[i] : offsets[i + 1]] if valid[i] else None for i in range(len(arr))]


def _columns(batch: pa.RecordBatch, split: str, small: list[str]) -> dict | None:
    """The rows of `split` in a batch as Python columns (images as views), or None when it has none."""
    in_split = pc.fill_null(pc.equal(batch.column("split"), split), False).to_numpy(zero_copy_only=False)
    if not in_split.any():
        return None
    image, captions = batch.column("image"), batch.column("captions")
    # Caption lists as one string each: the cache key (exact unless a caption holds a NUL; then no cache).
    keys = [None] * len(batch)
    if not pc.any(pc.match_substring(pc.list_flatten(captions), "\x00")).as_py():
        keys = pc.binary_join(captions, "\x00").to_pylist()
    return {"rows": np.flatnonzero(in_split).tolist(), "views": _binary_views(pc.struct_field(image, "bytes")),
            "paths": pc.struct_field(image, "path").to_pylist(), "keys": keys, "captions": captions,
            **{name: batch.column(name).to_pylist() for name in small}}


def _prefetched(items: Iterator, depth: int = 2) -> Iterator:
    """`items` produced by a thread, up to `depth` ahead of the caller."""
    q: queue.Queue = queue.Queue(depth)
    done, stop = object(), threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        q.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        pass
                if stop.is_set():
                    return
            q.put(done)
        except BaseException as exc:  # handed to the caller
            q.put(exc)

    thread = threading.Thread(target=produce, name="parquet-reader", daemon=True)
    thread.start()
    try:
        while (item := q.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join()  # before the caller closes the file the thread reads


def _counted(parquet_file: pq.ParquetFile, columns: list[str], batch_rows: int, counts: Counter) -> Iterator:
    for batch in parquet_file.iter_batches(batch_size=batch_rows, columns=columns):
        counts["rows_read"] += batch.num_rows
        yield batch


def split_counts(url: str, storage_options: dict | None = None) -> dict[str, int]:
    """{split: rows} of the curated pairs Parquet."""
    with fsspec.open(url, "rb", **(storage_options or {})) as f:
        column = pq.read_table(f, columns=["split"]).column("split")
    return {str(v["values"]): int(v["counts"]) for v in pc.value_counts(column).to_pylist()}


def read_samples(url: str, split: str, *, captions: CaptionMode = "all", seed: int = 0, batch_rows: int = 512,
                 counts: Counter | None = None, dropped: list | None = None,
                 storage_options: dict | None = None) -> Iterator[dict]:
    """Writer samples (without key) for the rows of `split`, in file order. Rows lacking an image or a
    caption are counted in `counts` (`no_image`, `no_caption`), appended to `dropped` as
    {sample_id, source, modality, label, reason} when it is given, and not yielded; `rows_read` counts
    every row."""
    if captions not in ("all", "one"):
        raise ValueError(f"captions must be 'all' or 'one', not {captions!r}")
    counts = counts if counts is not None else Counter()
    fs, path = fsspec.core.url_to_fs(url, **(storage_options or {}))
    handle = None if isinstance(fs, LocalFileSystem) else fs.open(path, "rb")
    parquet_file = pq.ParquetFile(path, memory_map=True) if handle is None else pq.ParquetFile(handle)
    provenance = [c for c in PROVENANCE if c in parquet_file.schema_arrow.names]
    small = ["sample_id", "source", "modality", "label", "split", "image_format", *provenance]
    cache: dict[str, tuple[list[str], str]] = {}
    try:
        batches = _counted(parquet_file, REQUIRED + provenance, batch_rows, counts)
        for cols in _prefetched(_columns(b, split, small) for b in batches):
            if cols is None:
                continue
            for i in cols["rows"]:
                data, key, sample_id = cols["views"][i], cols["keys"][i], cols["sample_id"][i]
                if key in cache:
                    clean, text = cache[key]
                else:
                    clean = clean_captions(cols["captions"][i].as_py())
                    text = "\n".join(clean)
                    if key is not None:
                        if len(cache) >= _CACHE_LIMIT:
                            cache.clear()
                        cache[key] = (clean, text)
                reason = "no_image" if not data else "no_caption" if not clean else None
                if reason:
                    counts[reason] += 1
                    if dropped is not None:
                        dropped.append({**{k: cols[k][i] for k in ("sample_id", "source", "modality", "label")},
                                        "reason": reason})
                    continue
                ext = FORMAT_TO_EXT.get(str(cols["image_format"][i]).lower())
                if ext is None:
                    raise ValueError(f"unsupported image_format {cols['image_format'][i]!r} for {sample_id}")
                meta = {k: cols[k][i] for k in ("sample_id", "source", "modality", "label", "split")}
                meta.update({k: cols[k][i] for k in provenance if cols[k][i] is not None})
                if cols["paths"][i]:
                    meta["path"] = cols["paths"][i]
                meta["captions"] = clean
                yield {"image": data, "image_ext": ext, "json": meta,
                       "txt": text if captions == "all" else choose_caption(clean, sample_id, seed)}
    finally:
        parquet_file.close()
        if handle is not None:
            handle.close()
