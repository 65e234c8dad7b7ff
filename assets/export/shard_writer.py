"""A WebDataset tar writer with the `write(sample)` / `close()` contract every MedPairs writer shares.

A shard is `{prefix}-{000000}.tar` holding, per sample, `{key}.{png|jpg}`, `{key}.txt` and `{key}.json`.
Shards are written under a temporary name (`.tar.tmp`) and renamed when complete, so a reader never sees a
partial tar; their bytes depend only on their contents (fixed mtime, owner and member order), so a re-run
with the same input gives identical files. Paths go through fsspec: local folders and `s3://` alike.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import tarfile
from dataclasses import dataclass
from typing import NamedTuple

import fsspec

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = ("png", "jpg")
SHARD_DIGITS = 6


@dataclass(frozen=True)
class ShardInfo:
    """One finished shard."""

    name: str
    path: str
    num_samples: int
    num_bytes: int
    sha256: str


class Written(NamedTuple):
    shard: str
    payload_bytes: int


def shard_name(prefix: str, index: int) -> str:
    return f"{prefix}-{index:0{SHARD_DIGITS}d}.tar"


def shard_pattern(out_dir: str, prefix: str, num_shards: int) -> str:
    """The shards in open_clip's brace form: `{out_dir}/train-{000000..000003}.tar`."""
    last = max(num_shards - 1, 0)
    return f"{out_dir.rstrip('/')}/{prefix}-{{{0:0{SHARD_DIGITS}d}..{last:0{SHARD_DIGITS}d}}}.tar"


def _tar_member(name: str, data: bytes) -> tuple[tarfile.TarInfo, io.BytesIO]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 0
    info.mode = 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info, io.BytesIO(data)


class ShardWriter:
    """Writes samples into size-bounded WebDataset tars.

    `write(sample)` takes a dict with `key` (str, no dots or slashes), `image` (bytes), `image_ext`
    ("png" or "jpg"), `txt` (str) and `json` (dict); it returns the shard the sample went to and the
    sample's payload bytes (image + txt + json).
    `close()` finishes the open shard. Finished shards are listed in `shards`.
    """

    def __init__(
        self,
        out_dir: str,
        prefix: str = "train",
        samples_per_shard: int = 1000,
        *,
        storage_options: dict | None = None,
    ):
        if samples_per_shard < 1:
            raise ValueError("samples_per_shard must be at least 1")
        self.out_dir = out_dir.rstrip("/")
        self.prefix = prefix
        self.samples_per_shard = samples_per_shard
        self.fs, self.root = fsspec.core.url_to_fs(self.out_dir, **(storage_options or {}))
        self.fs.makedirs(self.root, exist_ok=True)
        self.shards: list[ShardInfo] = []
        self._file = None
        self._tar: tarfile.TarFile | None = None
        self._hash = None
        self._count = 0
        self._bytes = 0

    # -- contract -----------------------------------------------------------------------------------
    def write(self, sample: dict) -> Written:
        key, ext = sample["key"], sample["image_ext"]
        if not key or "." in key or "/" in key:
            raise ValueError(f"sample key must be non-empty without '.' or '/': {key!r}")
        if ext not in IMAGE_EXTENSIONS:
            raise ValueError(f"image_ext must be one of {IMAGE_EXTENSIONS}, got {ext!r}")
        if self._tar is None:
            self._open_next()
        members = [
            (f"{key}.{ext}", bytes(sample["image"])),
            (f"{key}.txt", sample["txt"].encode("utf-8")),
            (f"{key}.json", json.dumps(sample["json"], sort_keys=True, ensure_ascii=False).encode("utf-8")),
        ]
        for name, data in members:
            self._tar.addfile(*_tar_member(name, data))
        self._count += 1
        shard = shard_name(self.prefix, len(self.shards))
        if self._count >= self.samples_per_shard:
            self._finish()
        return Written(shard, sum(len(data) for _, data in members))

    def close(self) -> list[ShardInfo]:
        if self._tar is not None:
            self._finish()
        return self.shards

    def __enter__(self) -> ShardWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self._abort()

    def url(self, name: str) -> str:
        """Filesystem path (fsspec, protocol stripped) of a file in the output folder."""
        return f"{self.root}/{name}"

    # -- internals ----------------------------------------------------------------------------------
    def _paths(self) -> tuple[str, str]:
        final = self.url(shard_name(self.prefix, len(self.shards)))
        return final, final + ".tmp"

    def _open_next(self) -> None:
        _, tmp = self._paths()
        self._file = self.fs.open(tmp, "wb")
        self._hash = hashlib.sha256()
        self._bytes = 0
        self._count = 0
        self._sink = _HashingWriter(self._file, self)
        self._tar = tarfile.open(fileobj=self._sink, mode="w|", format=tarfile.GNU_FORMAT)

    def _finish(self) -> None:
        final, tmp = self._paths()
        self._tar.close()
        self._file.close()
        self.fs.mv(tmp, final)
        info = ShardInfo(
            name=shard_name(self.prefix, len(self.shards)),
            path=f"{self.out_dir}/{shard_name(self.prefix, len(self.shards))}",
            num_samples=self._count,
            num_bytes=self._bytes,
            sha256=self._hash.hexdigest(),
        )
        self.shards.append(info)
        log.debug("finished shard %s: %d samples, %d bytes", info.name, info.num_samples, info.num_bytes)
        self._tar = self._file = None

    def _abort(self) -> None:
        if self._tar is None:
            return
        _, tmp = self._paths()
        self._sink.discard = True  # let tarfile finish its stream without touching the file
        self._tar.close()
        self._file.close()
        self.fs.rm(tmp)
        self._tar = self._file = None


class _HashingWriter:
    """A write-only stream that hashes and counts what passes to the shard file."""

    def __init__(self, file, writer: ShardWriter):
        self._file, self._writer = file, writer
        self.discard = False

    def write(self, data: bytes) -> int:
        if self.discard:
            return len(data)
        self._writer._hash.update(data)
        self._writer._bytes += len(data)
        return self._file.write(data)

    def close(self) -> None:  # the ShardWriter closes the real file
        pass
