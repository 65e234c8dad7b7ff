"""A source's data version: a fingerprint of its catalog entry and of the files at its location
(names, sizes, and modification times or S3 ETags), cheap enough for a sensor to take often."""

from __future__ import annotations

import hashlib
import posixpath

import fsspec

from assets.sources.catalog import SourceSpec
from assets.sources.readers.records import MissingSource, SourceError
from assets.sources.readers.registry import reader_for, split_list_file

# Keys fsspec filesystems use for a file's version, most specific first (s3fs: ETag, local: mtime).
_VERSION_KEYS = ("ETag", "etag", "md5Hash", "mtime", "LastModified", "last_modified", "created")


def list_source_files(spec: SourceSpec, storage_options: dict | None = None) -> tuple[str, dict[str, dict]]:
    """(the source's root, {path: fsspec info} of every file under it, of the location itself when it
    is a file outside it, as a manifest beside an image folder, of the further files its reader
    reads, as a manifest's join files, and of its split rule's list files). Raises MissingSource when the location does not exist,
    SourceError when it cannot be listed."""
    fs, location = fsspec.core.url_to_fs(spec.location, **(storage_options or {}))
    try:
        if not fs.exists(location):
            raise MissingSource(spec.missing_location())
        reader = reader_for(spec.format)
        root = reader.root(spec, fs, location)
        files = fs.find(root, detail=True, withdirs=False)
        if location != root and not fs.isdir(location):
            files[location] = fs.info(location)
        for path in reader.inputs(spec, fs, location):  # a manifest's join files, wherever they are
            if path not in files and fs.exists(path):
                files[path] = fs.info(path)
        for _, name in spec.split.lists:  # a changed split list changes the splits: its version counts
            list_fs, path = split_list_file(fs, posixpath.dirname(location), name)
            if list_fs is fs and path not in files and fs.exists(path):
                files[path] = fs.info(path)
    except SourceError:
        raise
    except Exception as e:  # noqa: BLE001 - permissions, network: the source cannot be listed
        detail = type(e).__name__ if spec.clinical else str(e)
        raise SourceError(f"source {spec.name!r}: cannot list {spec.shown_location()}: {detail}") from (
            None if spec.clinical else e)
    return root, files


def source_fingerprint(spec: SourceSpec, storage_options: dict | None = None) -> str:
    """sha256 over the entry's fingerprint and every file list_source_files lists. The embedded
    synthetic sources have no files until synthetic_source draws them: their version is their
    entry's. Raises SourceError (MissingSource) when the location cannot be listed."""
    digest = hashlib.sha256(spec.fingerprint().encode())
    if spec.synthetic:
        return digest.hexdigest()
    root, files = list_source_files(spec, storage_options)
    for name in sorted(files):
        info = files[name]
        version = next((str(info[k]) for k in _VERSION_KEYS if info.get(k) is not None), "")
        digest.update(f"{posixpath.relpath(name, root)}\0{info.get('size')}\0{version}\n".encode())
    return digest.hexdigest()
