"""Existing WebDataset shards (`*.tar`, also compressed): consecutive members sharing a key
(`000123.jpg`, `000123.txt`, `000123.json`) form one sample: the image, its caption (`.txt`,
or the JSON's "caption"), its label (`.cls`, or the JSON's "label") and the JSON as provenance.
Tars are streamed, one sample in memory at a time.
"""

from __future__ import annotations

import json
import posixpath
import re
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass

from fsspec import AbstractFileSystem

from assets.sources.catalog import SourceSpec
from assets.sources.readers.imagefolder import list_files
from assets.sources.readers.records import (
    LabelResolver,
    SampleRecord,
    fail,
    new_record,
    parse_options,
    relative,
)

_KEY_EXT = re.compile(r"^((?:.*/|)[^./]+)\.([^/]*)$")
IMAGE_EXTS = ("jpg", "jpeg", "png", "webp", "tif", "tiff", "bmp")
TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")


@dataclass(frozen=True)
class WebDatasetOptions:
    # Members larger than this are not read (the sample is quarantined).
    max_member_bytes: int = 256 * 2**20
    # JSON sidecars larger than this are not kept in provenance.
    max_json_bytes: int = 16384


def read_webdataset(spec: SourceSpec, fs: AbstractFileSystem, location: str) -> Iterator[SampleRecord]:
    opts = parse_options(WebDatasetOptions, spec.options, "webdataset")
    root = location if fs.isdir(location) else posixpath.dirname(location)
    labels = LabelResolver(spec)
    for path in (p for p in list_files(fs, location) if p.lower().endswith(TAR_SUFFIXES)):
        rel = relative(path, root)
        with fs.open(path, "rb") as f:
            yield from _read_tar(spec, opts, f, rel, labels)


def _read_tar(spec, opts, f, rel: str, labels: LabelResolver) -> Iterator[SampleRecord]:
    key, parts = None, {}
    try:
        with tarfile.open(fileobj=f, mode="r|*") as tar:
            for member in tar:
                match = _KEY_EXT.match(member.name)
                if not member.isfile() or not match:
                    continue
                if match.group(1) != key:
                    if key is not None:
                        yield _sample(spec, opts, rel, key, parts, labels)
                    key, parts = match.group(1), {}
                ext = match.group(2).lower()
                if member.size > opts.max_member_bytes:
                    parts[ext] = ValueError(f"{member.name} is {member.size} bytes > {opts.max_member_bytes}")
                else:
                    parts[ext] = tar.extractfile(member).read()
        if key is not None:
            yield _sample(spec, opts, rel, key, parts, labels)
    except (tarfile.TarError, EOFError, OSError, ValueError) as e:
        at = f"@{key}" if key else ""  # the sample being read when the archive broke
        yield fail(new_record(spec, f"{rel}#unreadable{at}"), "corrupt_archive", f"{type(e).__name__}: {e}")


def _sample(spec: SourceSpec, opts: WebDatasetOptions, rel: str, key: str, parts: dict,
            labels: LabelResolver) -> SampleRecord:
    record = new_record(spec, f"{rel}#{key}")
    too_big = [v for v in parts.values() if isinstance(v, Exception)]
    if too_big:
        return fail(record, "too_large", str(too_big[0]))
    image_ext = next((e for e in IMAGE_EXTS if e in parts), None)
    if image_ext is None:
        return fail(record, "missing_image", f"no image among {sorted(parts)}")
    meta: dict = {}
    if "json" in parts:
        try:
            meta = json.loads(parts["json"].decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            return fail(record, "bad_row", f"{key}.json is not UTF-8 JSON: {e}")
        meta = meta if isinstance(meta, dict) else {"json": meta}
    caption = parts.get("txt")
    try:
        caption = caption.decode("utf-8") if caption is not None else meta.get("caption")
        label = parts["cls"].decode("utf-8") if "cls" in parts else meta.get("label")
    except UnicodeDecodeError as e:
        return fail(record, "bad_encoding", f"caption or label is not UTF-8: {e}")
    record.caption = caption.strip() if isinstance(caption, str) and caption.strip() else None
    if spec.kind == "image_text" and not record.caption:
        return fail(record, "missing_caption", f"no {key}.txt and no caption in {key}.json")
    if label is not None and str(label).strip():
        try:
            record.label = labels.one(label)
        except KeyError as e:
            return fail(record, "unknown_label", str(e.args[0]))
    elif spec.kind == "classification":
        return fail(record, "missing_label", f"no {key}.cls and no label in {key}.json")
    extra = {k: v for k, v in meta.items() if k not in ("caption", "label")}
    if extra and len(parts.get("json", b"")) <= opts.max_json_bytes:
        record.meta["json"] = extra
    record.image_bytes = parts[image_ext]
    return record
