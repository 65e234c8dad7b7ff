"""ImageFolder: one folder per class (`class/img.png`), optionally under split folders
(`train/class/img.png`, `test/class/img.png`). Hidden files are skipped; every other file
becomes a record, or an error record when its extension is not an image's. With `label_pattern` the
label is read from each file's name instead (PCam's `<id>_<label>.png`), and no class folder is needed."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass

from fsspec import AbstractFileSystem

from assets.sources.catalog import SourceSpec
from assets.sources.readers.records import (
    IMAGE_EXTENSIONS,
    LabelResolver,
    SampleRecord,
    SourceError,
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
    # A regular expression searched in each file name; its first group (or its match) is the label.
    label_pattern: str = ""

    def validate(self) -> None:
        try:
            re.compile(self.label_pattern)
        except re.error as e:
            raise SourceError(f"option label_pattern {self.label_pattern!r} is not a regular expression: {e}") from None


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
        if opts.label_pattern:
            found = re.search(opts.label_pattern, posixpath.basename(rel))
            folder = (found.group(1) if found.groups() else found.group(0)) if found else None
        record = new_record(spec, rel, path=rel, split=split)
        if not rel.lower().endswith(extensions):
            yield fail(record, "unsupported_extension",
                       f"{posixpath.splitext(rel)[1] or 'no extension'} is not one of {list(extensions)}")
        elif folder is None and opts.label_pattern:
            yield fail(record, "no_label", f"file name does not match label_pattern {opts.label_pattern!r}")
        elif folder is None:
            yield fail(record, "no_class_folder", "file is not inside a class folder")
        else:
            try:
                record.label = labels.one(folder)
            except KeyError as e:
                yield fail(record, "unknown_label", str(e.args[0]))
                continue
            yield record
