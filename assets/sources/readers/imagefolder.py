"""ImageFolder: one folder per class (`class/img.png`), optionally under split folders
(`train/class/img.png`, `test/class/img.png`). Hidden files are skipped; every other file
becomes a record, or an error record when its extension is not an image's."""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from dataclasses import dataclass

from fsspec import AbstractFileSystem

from assets.sources.catalog import SourceSpec
from assets.sources.readers.records import (
    IMAGE_EXTENSIONS,
    LabelResolver,
    SampleRecord,
    fail,
    folder_split_and_class,
    new_record,
    parse_options,
    relative,
)


@dataclass(frozen=True)
class ImageFolderOptions:
    # File name endings (lower case) read as images.
    extensions: tuple[str, ...] = IMAGE_EXTENSIONS


def list_files(fs: AbstractFileSystem, location: str) -> list[str]:
    """Every non-hidden file under `location` (or `location` itself if it is a file), sorted."""
    paths = fs.find(location) if fs.isdir(location) else [location]
    return sorted(p for p in paths if not any(part.startswith(".") for part in
                                              relative(p, location).split("/")))


def read_imagefolder(spec: SourceSpec, fs: AbstractFileSystem, location: str) -> Iterator[SampleRecord]:
    opts = parse_options(ImageFolderOptions, spec.options, "imagefolder")
    labels = LabelResolver(spec)
    extensions = tuple(e.lower() for e in opts.extensions)
    for full in list_files(fs, location):
        rel = relative(full, location)
        split, folder = folder_split_and_class(rel, use_split_folders=spec.split.by == "given")
        record = new_record(spec, rel, path=rel, split=split)
        if not rel.lower().endswith(extensions):
            yield fail(record, "unsupported_extension",
                       f"{posixpath.splitext(rel)[1] or 'no extension'} is not one of {list(extensions)}")
        elif folder is None:
            yield fail(record, "no_class_folder", "file is not inside a class folder")
        else:
            try:
                record.label = labels.one(folder)
            except KeyError as e:
                yield fail(record, "unknown_label", str(e.args[0]))
                continue
            yield record
