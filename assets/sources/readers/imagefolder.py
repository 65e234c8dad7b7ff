"""ImageFolder: one folder per class (`class/img.png`), optionally under split folders
(`train/class/img.png`, `test/class/img.png`). Hidden files are skipped; every other file
becomes a record, or an error record when its extension is not an image's. With `label_pattern` the
label is read from each file's name instead (PCam's `<id>_<label>.png`), and no class folder is needed.
With `label_from` the label joins several folder levels ("abd/pancreatitis"); with `modality_folder` each
file's modality is the one its folder at that level names (`modalities`), for a source that mixes them
(RadImageNet's `CT/abd/pancreatitis/`, `MR/knee/...`, `US/...`)."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import get_args

from fsspec import AbstractFileSystem

from assets.sources.catalog import Modality, SourceSpec
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
    # Folder levels (0: the first below the location, or below its split folder) joined with "/" into the
    # label (RadImageNet's [1, 2]: anatomy/finding); empty: the first level, the class folder.
    label_from: tuple[int, ...] = ()
    # The folder level naming each file's modality (-1: every file has the source's), and the modality each
    # folder name there stands for ({CT: ct, MR: mri, US: ultrasound}); a file under another name is
    # quarantined (unknown_modality).
    modality_folder: int = -1
    modalities: Mapping[str, str] = field(default_factory=dict)

    def validate(self) -> None:
        try:
            re.compile(self.label_pattern)
        except re.error as e:
            raise SourceError(f"option label_pattern {self.label_pattern!r} is not a regular expression: {e}") from None
        if not all(isinstance(i, int) and i >= 0 for i in (*self.label_from, max(self.modality_folder, 0))):
            raise SourceError("options label_from and modality_folder take folder levels (0, 1, ...)")
        if not isinstance(self.modalities, Mapping) or (self.modality_folder >= 0) != bool(self.modalities):
            raise SourceError("options modality_folder and modalities ({folder name: modality}) go together")
        bad = sorted(str(m) for m in self.modalities.values() if m not in get_args(Modality))
        if bad:
            raise SourceError(f"option modalities: {bad} are not modalities; one of {list(get_args(Modality))}")


def list_files(fs: AbstractFileSystem, location: str) -> list[str]:
    """Every non-hidden file under `location` (or `location` itself if it is a file), sorted."""
    paths = fs.find(location) if fs.isdir(location) else [location]
    return sorted(p for p in paths if not any(part.startswith(".") for part in
                                              relative(p, location).split("/")))


def read_imagefolder(spec: SourceSpec, fs: AbstractFileSystem, location: str) -> Iterator[SampleRecord]:
    opts = parse_options(ImageFolderOptions, spec.options, "imagefolder")
    labels = LabelResolver(spec)
    extensions = tuple(e.lower() for e in opts.extensions)
    modalities = {name.lower(): modality for name, modality in opts.modalities.items()}
    for full in list_files(fs, location):
        rel = relative(full, location)
        split, folder = folder_split_and_class(rel, use_split_folders=spec.split.by == "given")
        levels = rel.split("/")[:-1][1 if split else 0:]  # the folders below the split folder
        if opts.label_pattern:
            found = re.search(opts.label_pattern, posixpath.basename(rel))
            folder = (found.group(1) if found.groups() else found.group(0)) if found else None
        elif opts.label_from:
            folder = "/".join(levels[i] for i in opts.label_from) if max(opts.label_from) < len(levels) else None
        record = new_record(spec, rel, path=rel, split=split)
        named = levels[opts.modality_folder] if 0 <= opts.modality_folder < len(levels) else None
        if not rel.lower().endswith(extensions):
            yield fail(record, "unsupported_extension",
                       f"{posixpath.splitext(rel)[1] or 'no extension'} is not one of {list(extensions)}")
        elif opts.modality_folder >= 0 and (named or "").lower() not in modalities:
            shown = "its folder" if spec.clinical else f"folder {named!r}"  # a folder may name a patient
            yield fail(record, "unknown_modality", f"{shown} is none of {sorted(opts.modalities)}"
                       if named else f"file is not {opts.modality_folder + 1} folder(s) deep")
        elif folder is None and opts.label_pattern:
            yield fail(record, "no_label", f"file name does not match label_pattern {opts.label_pattern!r}")
        elif folder is None:
            yield fail(record, "no_class_folder", "file is not inside a class folder" if not opts.label_from
                       else f"file is not {max(opts.label_from) + 1} folder(s) deep (label_from {list(opts.label_from)})")
        else:
            try:
                record.label = labels.one(folder)
            except KeyError as e:
                yield fail(record, "unknown_label", str(e.args[0]))
                continue
            if named is not None:
                record.modality = modalities[named.lower()]
            yield record
