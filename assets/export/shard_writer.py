"""A WebDataset tar writer with the `write(sample)` / `close()` contract every MedPairs writer shares.

A shard is `{prefix}-{000000}.tar` holding, per sample, `{key}.{png|jpg}`, `{key}.txt` and `{key}.json`.
A shard closes when it holds `samples_per_shard` samples, or earlier when the next sample would take it past
`max_shard_bytes`; so where each sample lands depends only on the samples and these two numbers.

Shards are written under a temporary name (`.tar.tmp`), flushed to disk and renamed when complete, so a
reader never sees a partial tar; then `{name}_stats.json` records the shard's size and sha256. Bytes depend
only on contents (ustar headers with fixed mtime, owner and mode; members in write order), so the same
samples give byte-identical shards. With `resume`, a shard whose file and stats record match what it would
be (same sha256) is kept as is: a re-run after a kill writes the missing shards only.

Export is mostly copying bytes, so the writer avoids everything else: members are encoded here rather than
through `tarfile` (whose per-member header building and 10 KiB stream blocks cost more than the copying
itself; the output is the same POSIX ustar, read by `tarfile`, `webdataset` and GNU tar); a closed shard
is written by a background thread (hashed by another) while the caller builds the next; a local file gets
the samples' own buffers through `os.writev`, without joining them first. Paths go through fsspec: local
folders and `s3://` alike.
"""

from __future__ import annotations

import json
import logging
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import NamedTuple

import fsspec
from fsspec.implementations.local import LocalFileSystem

from assets.export.tar import (
    END_OF_ARCHIVE,
    IOV_MAX,
    coalesce,
    member_bytes,
    padding,
    sha256_of,
    tar_header,
    writev_all,
)
from assets.shared.files import atomic_write

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = ("png", "jpg")
SHARD_DIGITS = 6
DEFAULT_MAX_SHARD_BYTES = 1 << 30
STATS_SUFFIX = "_stats.json"
_JSON = json.JSONEncoder(sort_keys=True, ensure_ascii=False).encode  # one encoder, not one per sample


@dataclass(frozen=True)
class ShardInfo:
    """One finished shard, as recorded in its `_stats.json`."""

    name: str
    path: str
    num_samples: int
    num_bytes: int  # size of the tar file
    payload_bytes: int  # image + txt + json bytes, without tar headers and padding
    sha256: str
    reused: bool = False  # kept from an earlier run instead of written


class Written(NamedTuple):
    shard: str  # file name of the shard the sample went to
    offset: int  # byte offset of the sample's first tar header in that shard
    payload_bytes: int


def shard_name(prefix: str, index: int) -> str:
    return f"{prefix}-{index:0{SHARD_DIGITS}d}.tar"


def stats_name(shard: str) -> str:
    return shard.removesuffix(".tar") + STATS_SUFFIX


def shard_pattern(out_dir: str, prefix: str, num_shards: int) -> str:
    """The shards in open_clip's brace form: `{out_dir}/train-{000000..000003}.tar`."""
    last = max(num_shards - 1, 0)
    return f"{out_dir.rstrip('/')}/{prefix}-{{{0:0{SHARD_DIGITS}d}..{last:0{SHARD_DIGITS}d}}}.tar"


# -- the writer ---------------------------------------------------------------------------------------

class ShardWriter:
    """Writes samples into WebDataset tars bounded in samples and bytes.

    `write(sample)` takes a dict with `key` (str, no dots or slashes), `image` (bytes-like), `image_ext`
    ("png" or "jpg"), `txt` (str) and `json` (dict); it returns the shard the sample goes to, its offset
    there and its payload bytes. A shard is written when it closes; until then it is held in memory as
    references to the samples' bytes. `close()` writes the last shard and returns every `ShardInfo`.
    """

    def __init__(
        self,
        out_dir: str,
        prefix: str = "train",
        samples_per_shard: int = 1000,
        *,
        max_shard_bytes: int | None = DEFAULT_MAX_SHARD_BYTES,
        resume: bool = False,
        storage_options: dict | None = None,
    ):
        if samples_per_shard < 1:
            raise ValueError("samples_per_shard must be at least 1")
        self.out_dir = out_dir.rstrip("/")
        self.prefix = prefix
        self.samples_per_shard = samples_per_shard
        self.max_shard_bytes = max_shard_bytes
        self.resume = resume
        self.fs, self.root = fsspec.core.url_to_fs(self.out_dir, **(storage_options or {}))
        self.fs.makedirs(self.root, exist_ok=True)
        self.shards: list[ShardInfo] = []
        self._next_index = 0  # index of the open shard
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="shard-writer")
        self._hasher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="shard-hasher")
        self._storing: Future | None = None
        self._reset()

    # -- contract -----------------------------------------------------------------------------------
    def write(self, sample: dict) -> Written:
        key, ext = sample["key"], sample["image_ext"]
        if not key or "." in key or "/" in key:
            raise ValueError(f"sample key must be non-empty without '.' or '/': {key!r}")
        if ext not in IMAGE_EXTENSIONS:
            raise ValueError(f"image_ext must be one of {IMAGE_EXTENSIONS}, got {ext!r}")
        members = (
            (f"{key}.{ext}".encode(), sample["image"]),
            (f"{key}.txt".encode(), sample["txt"].encode("utf-8")),
            (f"{key}.json".encode(), _JSON(sample["json"]).encode()),
        )
        sizes = [len(data) for _, data in members]
        total = sum(member_bytes(n) for n in sizes)
        cap = self.max_shard_bytes
        if self._count and cap is not None and self._size + total + len(END_OF_ARCHIVE) > cap:
            self._finish()
        if cap is not None and total + len(END_OF_ARCHIVE) > cap:
            log.warning("sample %s alone (%d bytes) exceeds max_shard_bytes=%d; it gets a shard of its own",
                        key, total, cap)
        offset = self._size
        for (name, data), n in zip(members, sizes):
            self._chunks += (tar_header(name, n), data, padding(n))
        self._size += total
        self._payload += sum(sizes)
        self._count += 1
        written = Written(self._open_name, offset, sum(sizes))
        if self._count >= self.samples_per_shard:
            self._finish()
        return written

    def close(self) -> list[ShardInfo]:
        """Write the open shard, wait for every shard to be on disk, and return them in order."""
        try:
            if self._count:
                self._finish()
            self._collect()
        finally:
            self._shutdown()
        return self.shards

    def __enter__(self) -> ShardWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            # The open shard was never on disk; a shard being stored completes (whole, or not at all).
            self._reset()
            self._shutdown()

    def url(self, name: str) -> str:
        """Filesystem path (fsspec, protocol stripped) of a file in the output folder."""
        return f"{self.root}/{name}"

    # -- internals ----------------------------------------------------------------------------------
    def _shutdown(self) -> None:
        self._executor.shutdown(wait=True)
        self._hasher.shutdown(wait=True)

    def _reset(self) -> None:
        self._chunks: list = []
        self._count = self._size = self._payload = 0
        self._open_name = shard_name(self.prefix, self._next_index)

    def _finish(self) -> None:
        """Close the open shard and hand it to the storing thread, which writes it (and another thread
        hashes it) while the caller builds the next one; at most one shard is being stored at a time."""
        pending = _Pending(self._open_name, [*self._chunks, END_OF_ARCHIVE],
                           self._size + len(END_OF_ARCHIVE), self._count, self._payload)
        self._collect()
        self._storing = self._executor.submit(self._store, pending)
        self._next_index += 1
        self._reset()

    def _collect(self) -> None:
        if self._storing is not None:
            future, self._storing = self._storing, None
            self.shards.append(future.result())

    def _store(self, p: _Pending) -> ShardInfo:
        prior = self._earlier_record(p) if self.resume else None
        if prior is not None and prior.get("sha256") == sha256_of(p.chunks):
            sha, reused = prior["sha256"], True
        else:
            hashing = self._hasher.submit(sha256_of, p.chunks)
            self._write_atomically(self.url(p.name), p.chunks)
            sha, reused = hashing.result(), False
        info = ShardInfo(name=p.name, path=f"{self.out_dir}/{p.name}", num_samples=p.count, num_bytes=p.size,
                         payload_bytes=p.payload, sha256=sha, reused=reused)
        if not reused:
            record = {k: v for k, v in asdict(info).items() if k not in ("path", "reused")}
            atomic_write(self.fs, self.url(stats_name(p.name)), json.dumps(record, indent=1).encode())
        log.debug("shard %s: %d samples, %d bytes%s", p.name, p.count, p.size, " (kept)" if reused else "")
        return info

    def _earlier_record(self, p: _Pending) -> dict | None:
        """The stats record an earlier run left for this shard, if it and the shard file have this size."""
        try:
            with self.fs.open(self.url(stats_name(p.name)), "rb") as f:
                prior = json.loads(f.read())
            if prior.get("num_bytes") == p.size and self.fs.size(self.url(p.name)) == p.size:
                return prior
        except (FileNotFoundError, ValueError):
            pass
        return None

    def _write_atomically(self, final: str, chunks: list) -> None:
        local = isinstance(self.fs, LocalFileSystem)

        def write(f) -> None:
            if local:  # straight from the samples' buffers to the file, no copy
                for start in range(0, len(chunks), IOV_MAX):
                    writev_all(f.fileno(), chunks[start : start + IOV_MAX])
            else:
                for buf in coalesce(chunks):
                    f.write(buf)

        atomic_write(self.fs, final, write, durable=True)


@dataclass
class _Pending:
    """A closed shard waiting to be stored: its tar as a list of byte chunks."""

    name: str
    chunks: list
    size: int
    count: int
    payload: int
