"""The privacy check of the export: no identifier of a clinical source (kept by its ingest as keyed
digests, assets/ingest/chunked.py) appears in a shard member (.json values, .txt lines, any other text
member) or in the export's Parquet manifests. A hit names the file and member or column, never the value."""

from __future__ import annotations

import posixpath
import tarfile
from collections.abc import Callable

import fsspec

from assets.sources.readers.identifiers import (
    IdentifierLeak,
    KeyedIdentifiers,
    parquet_hits,
    text_values,
)

_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def check_no_identifiers(digests: list[str], shards: list[str], manifests: list[str], salt: Callable[[], bytes],
                         storage_options: dict | None = None) -> dict:
    """Search `shards` and `manifests` for the identifiers in the digest files `digests` (none: nothing
    to search, and `salt` is not asked for). On a hit, remove the shards, so no training reads them, and
    raise IdentifierLeak naming file and member; else return the check's counts."""
    if not digests:
        return {"identifiers_searched": 0, "files_searched": 0}
    identifiers = KeyedIdentifiers.read(digests, salt(), storage_options)
    hits = shard_hits(shards, identifiers, storage_options) + parquet_hits(manifests, identifiers, storage_options)
    if hits:
        for url in shards:
            fs, path = fsspec.core.url_to_fs(url, **(storage_options or {}))
            fs.rm(path)
        raise IdentifierLeak("identifying values of a clinical source found in " + "; ".join(
            f"{file} {member}" for file, member in hits) + " (shards removed)")
    return {"identifiers_searched": len(identifiers), "files_searched": len(shards) + len(manifests)}


def digest_files(samples_dir: str, name: str, storage_options: dict | None = None) -> list[str]:
    """The digest files (`name`) the clinical sources' ingests left in their folders under `samples_dir`."""
    fs, path = fsspec.core.url_to_fs(samples_dir, **(storage_options or {}))
    return [fs.unstrip_protocol(p) for p in sorted(fs.glob(posixpath.join(path, "*", name)))]


def shard_hits(shards: list[str], identifiers: KeyedIdentifiers,
               storage_options: dict | None = None) -> list[tuple[str, str]]:
    """(shard file name, member suffix) for each kind of text member of a shard that holds one of
    `identifiers` (or whose name does)."""
    hits: list[tuple[str, str]] = []
    for url in shards:
        name = posixpath.basename(url)
        with fsspec.open(url, "rb", **(storage_options or {})) as f, tarfile.open(fileobj=f, mode="r|") as tar:
            for member in tar:
                suffix = posixpath.splitext(member.name)[1]
                if not member.isfile() or (name, suffix) in hits:
                    continue
                if suffix in _IMAGE_SUFFIXES:
                    values = [member.name]
                else:
                    text = tar.extractfile(member).read().decode("utf-8", "replace")
                    values = [member.name, *(text_values(text) if suffix == ".json" else text.splitlines())]
                if any(identifiers.found_in(v) for v in values):
                    hits.append((name, suffix))
    return hits
