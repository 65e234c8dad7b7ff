"""CSV / TSV / JSONL manifests: one row per image with its path, label(s), caption and split.

Labels come from one column (`label_column`; several labels in it when `label_separator` is
set, as NIH ChestX-ray14's "Finding Labels" = "Effusion|Mass"), or from one-hot columns
(`label_columns`, CheXpert style 1 / 0 / -1 / blank, with configurable policies for -1 and
blank). A multi-label sample's label is its sorted positives joined by " and ", or "no finding".
The file is streamed; compressed manifests (.gz, .zst, ...) are read transparently. A CSV/TSV column
may be named by its position (0-based) where the header is not documented, and `list_columns` holds
cells written as a Python list literal ("['glaucoma']"), read as their first item: both as UniMed-CLIP's
evaluation loaders read their CSVs. Where a download spreads its images over several folders, `image_folders`
finds each row's file by its name (NIH ChestX-ray14's images_001/images/ ... images_012/images/), and
`label_list` reads a label column of list literals as every item a label (FLAIR's categories).

Where a dataset's table is not one row per image with its path and caption, options build them:
`path_template` makes the path from the row's columns (ROCOv2's `{ID}.jpg`; readers/templates.py),
`caption_file` reads the caption from a file named by the row's columns (MIMIC-CXR's report of the
study, `files/p{subject_id:.2}/p{subject_id}/s{study_id}.txt`, relative to the image root; a missing file
is quarantined as `missing_caption`), and `join` adds columns from other CSVs by key (MIMIC-CXR's split
and label CSVs; readers/joins.py), before the filter, the labels and the templates read the row. In JSON
and JSONL rows (and JSON documents: readers/json_manifest.py) a column may be a dotted path into nested
objects and lists (`conversations.1.value`: the second turn's text).
"""

from __future__ import annotations

import ast
import csv
import io
import json
import posixpath
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

from fsspec import AbstractFileSystem

from assets.sources.catalog import SourceSpec
from assets.sources.readers.joins import JoinSpec, JoinTable, parse_joins
from assets.sources.readers.labels import Policy, UncertainLabel, onehot_findings
from assets.sources.readers.records import (
    SPLIT_NAMES,
    LabelResolver,
    SampleRecord,
    SourceError,
    fail,
    multilabel_text,
    new_record,
    parse_options,
)
from assets.sources.readers.templates import CaptionFiles, RowTemplate

_POLICIES = ("positive", "negative", "uncertain", "quarantine")


@dataclass(frozen=True)
class ManifestOptions:
    # A column is named by its header, or (CSV/TSV) by its 0-based position.
    path_column: str | int = "path"
    label_column: str | int = "label"
    # Splits label_column into several labels (e.g. "|"); empty: one label per row.
    label_separator: str = ""
    # One-hot finding columns (CheXpert, NIH one-hot exports); overrides label_column.
    label_columns: tuple[str, ...] = ()
    # What a -1 cell and an empty cell mean in label_columns.
    uncertain: Policy = "uncertain"
    blank: Policy = "negative"
    caption_column: str = "caption"
    # Column holding a stable sample id; empty: the image path is the id.
    id_column: str = ""
    # Folder the image paths are relative to, relative to the manifest's folder (e.g. "..").
    image_root: str = ""
    # Folders (glob patterns relative to image_root) where each row's image is found by its file name,
    # for downloads that spread images over several folders (NIH ChestX-ray14: images/, or
    # images_001/images/ ... images_012/images/); a row whose file is in none is quarantined (missing_file).
    image_folders: tuple[str, ...] = ()
    # Further columns copied into the sample's provenance (none by default: they may identify people).
    keep_columns: tuple[str, ...] = ()
    # Columns whose cells are a Python list literal ("['normal']", "['a/b.png']"): read as the first item.
    list_columns: tuple[str | int, ...] = ()
    # label_column holds a Python list literal of labels, every item a label of a multi-label sample
    # (FLAIR's categories: "['moderate diabetic retinopathy', 'diabetic macular edema']"); an empty list
    # is no label (missing_label).
    label_list: bool = False
    # Rows kept: {column: value or [values]}, every column matching (CheXpert's {Frontal/Lateral: Frontal},
    # MIMIC-CXR's {ViewPosition: [PA, AP]}); any other row is accounted for as `excluded_by_filter`.
    filter: Mapping[str, Any] = field(default_factory=dict)
    # The image path built from the row's columns instead of read from path_column (readers/templates.py):
    # ROCOv2's "{ID}.jpg", MIMIC-CXR-JPG's "files/p{subject_id:.2}/p{subject_id}/s{study_id}/{dicom_id}.jpg".
    path_template: str = ""
    # The caption read from the file this template names, relative to the image root, instead of from
    # caption_column (MIMIC-CXR's report of the study); a row whose file is missing is `missing_caption`.
    caption_file: str = ""
    # Columns joined from other CSVs by key (readers/joins.py): [{file, key: [...], columns: [...], required}].
    join: tuple[JoinSpec, ...] = ()

    def validate(self) -> None:
        for name in ("uncertain", "blank"):
            if getattr(self, name) not in _POLICIES:
                raise SourceError(f"option {name} must be one of {list(_POLICIES)}, not {getattr(self, name)!r}")
        if not isinstance(self.filter, Mapping):
            raise SourceError(f"option filter must map a column to its kept value(s), not {self.filter!r}")
        object.__setattr__(self, "filter", {column: _kept_values(values) for column, values in self.filter.items()})
        object.__setattr__(self, "join", parse_joins(self.join))
        for name in ("path_template", "caption_file"):
            _template(self, name)

    def joined_columns(self) -> list[str]:
        """The columns option join adds to every row."""
        return [c for j in self.join for c in j.columns]

    def columns(self, spec: SourceSpec) -> list[str]:
        """Every column these options read from a row (before joins add theirs)."""
        path = _template(self, "path_template")
        caption = _template(self, "caption_file")
        needed = [*(path.fields if path else [self.path_column]), *self.label_columns, *self.filter,
                  *(caption.fields if caption else []), *(c for j in self.join for c in j.key),
                  *([spec.split.group_column] if spec.split.group_column else [])]
        if spec.kind == "image_text" and not caption:
            needed.append(self.caption_column)
        elif spec.kind != "image_text" and not self.label_columns:
            needed.append(self.label_column)
        return needed

    def by_header(self, header: list[str], where: str) -> ManifestOptions:
        """These options with every column given by position replaced by its header name."""
        def name(column):
            if not isinstance(column, int) or isinstance(column, bool):
                return column
            if not 0 <= column < len(header):
                raise SourceError(f"manifest {where} has {len(header)} column(s); no column at position {column}")
            return header[column]
        return replace(self, path_column=name(self.path_column), label_column=name(self.label_column),
                       list_columns=tuple(name(c) for c in self.list_columns),
                       filter={name(c): kept for c, kept in self.filter.items()})


def _template(opts: ManifestOptions, name: str) -> RowTemplate | None:
    """The template of option `name` (SourceError when it is not one), None when unset."""
    return RowTemplate(getattr(opts, name), name) if getattr(opts, name) else None


def _kept_values(values: Any) -> tuple[str, ...]:
    """A filter's kept values as stripped strings (one value, or a list of them)."""
    values = values if isinstance(values, (list, tuple)) else [values]
    if not values:
        raise SourceError("a filter column needs at least one kept value")
    return tuple(str(v).strip() for v in values)


def manifest_root(spec: SourceSpec, fs: AbstractFileSystem, location: str) -> str:
    """The folder image paths are relative to: image_root, relative to the manifest's folder (the
    options are validated before any root is asked for)."""
    image_root = str((spec.options or {}).get("image_root") or "")
    return posixpath.normpath(posixpath.join(posixpath.dirname(location), image_root))


def manifest_inputs(spec: SourceSpec, fs: AbstractFileSystem, location: str) -> list[str]:
    """The join files the manifest at `location` reads (relative to its folder)."""
    return [j.path(location) for j in parse_joins((spec.options or {}).get("join"))]


def read_csv(spec: SourceSpec, fs: AbstractFileSystem, location: str, delimiter: str = ",") -> Iterator[SampleRecord]:
    opts = parse_options(ManifestOptions, spec.options, spec.format or "csv")
    with fs.open(location, "rb", compression="infer") as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8", errors="surrogateescape", newline="")
        reader = csv.DictReader(text, delimiter=delimiter)
        where = spec.shown_location() if spec.clinical else repr(location)
        opts = opts.by_header(reader.fieldnames or [], where)
        _check_header(reader.fieldnames or [], opts, spec, location)
        rows = RowReader(spec, opts, fs, location)
        for line_no, row in enumerate(reader, start=2):
            yield rows.record(row, line_no)


read_tsv = partial(read_csv, delimiter="\t")


def read_jsonl(spec: SourceSpec, fs: AbstractFileSystem, location: str) -> Iterator[SampleRecord]:
    opts = parse_options(ManifestOptions, spec.options, spec.format or "jsonl")
    rows = RowReader(spec, opts, fs, location)
    with fs.open(location, "rb", compression="infer") as f:
        for line_no, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line.decode("utf-8"))
            except UnicodeDecodeError as e:
                yield rows.failed(line_no, "bad_encoding", f"line is not UTF-8: {e}")
                continue
            except json.JSONDecodeError as e:
                yield rows.failed(line_no, "bad_row", f"not JSON: {e}")
                continue
            if not isinstance(row, dict):
                yield rows.failed(line_no, "bad_row", f"a JSON {type(row).__name__}, not an object")
                continue
            yield rows.record(row, line_no)


def _check_header(header: list[str], opts: ManifestOptions, spec: SourceSpec, location: str) -> None:
    shown = spec.shown_location() if spec.clinical else repr(location)
    clash = [c for c in opts.joined_columns() if c in header]
    if clash:
        raise SourceError(f"manifest {shown} already has column(s) {clash} that option join adds")
    missing = [c for c in opts.columns(spec) if c not in header and c not in opts.joined_columns()]
    if missing:
        raise SourceError(f"manifest {shown} lacks column(s) {missing}; it has {header}")


def _nested(row: Mapping[str, Any], dotted: str) -> Any:
    """The value at a dotted path into a JSON row's objects and lists (`conversations.1.value`); None
    where the path leads nowhere."""
    value: Any = row
    for step in dotted.split("."):
        if isinstance(value, Mapping):
            value = value.get(step)
        elif isinstance(value, list) and step.isdigit() and int(step) < len(value):
            value = value[int(step)]
        else:
            return None
    return value


def _bad_text(value: Any) -> bool:
    """True for a string that cannot be written as UTF-8 (undecodable bytes, lone surrogates)."""
    if not isinstance(value, str):
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _list_items(cell: Any) -> list:
    """The items of a cell holding a Python list literal ("['normal']"); ValueError otherwise."""
    items = cell
    if isinstance(cell, str):
        try:
            items = ast.literal_eval(cell.strip())
        except (ValueError, SyntaxError):
            items = None
    if not isinstance(items, (list, tuple)):
        raise ValueError(f"{str(cell)[:80]!r} is not a list literal")  # noqa: TRY004 - bad data, not a bad call
    return list(items)


def _first_of_list(cell: Any) -> Any:
    """The first item of a cell holding a non-empty Python list literal; ValueError otherwise."""
    items = _list_items(cell)
    if not items:
        raise ValueError(f"{str(cell)[:80]!r} is not a non-empty list literal")
    return items[0]


def _image_index(fs: AbstractFileSystem, root: str, patterns: tuple[str, ...]) -> dict[str, str] | None:
    """{file name: path relative to `root`} of every file in the image_folders `patterns` (the first
    folder holding a name wins), or None when the option is not set."""
    if not patterns:
        return None
    index: dict[str, str] = {}
    for pattern in patterns:
        for folder in sorted(fs.glob(posixpath.join(root, pattern))):
            if fs.isdir(folder):
                for path in sorted(fs.find(folder)):
                    index.setdefault(posixpath.basename(path), posixpath.relpath(path, root))
    return index


class RowReader:
    """Turns one manifest row (a dict) into a record."""

    def __init__(self, spec: SourceSpec, opts: ManifestOptions, fs: AbstractFileSystem, location: str,
                 unit: str = "line"):
        self.spec, self.opts, self.fs, self.unit = spec, opts, fs, unit
        self.file_name = posixpath.basename(location)
        self.root = manifest_root(spec, fs, location)
        self.images = _image_index(fs, self.root, opts.image_folders)
        self.labels = LabelResolver(spec)
        self.joins = [JoinTable(j, fs, location, clinical=spec.clinical) for j in opts.join]
        self.path_template = _template(opts, "path_template")
        caption_file = _template(opts, "caption_file")
        self.caption_files = CaptionFiles(caption_file, fs, self.root, spec.clinical) if caption_file else None
        referenced = [*opts.columns(spec), opts.id_column, opts.caption_column, spec.split.column, *opts.keep_columns]
        self.dotted = sorted({c for c in referenced if isinstance(c, str) and "." in c})

    def failed(self, line_no: int, reason: str, detail: str) -> SampleRecord:
        return fail(new_record(self.spec, f"{self.file_name}#{self.unit}{line_no}"), reason, detail)

    def record(self, row: Mapping[str, Any], line_no: int) -> SampleRecord:
        opts = self.opts
        if self.dotted:
            row = {**row, **{c: _nested(row, c) for c in self.dotted if c not in row}}
        bad = [k for k, v in row.items() if _bad_text(v) or _bad_text(k)]
        if opts.list_columns and not bad:
            try:
                row = {**row, **{c: _first_of_list(row.get(c)) for c in opts.list_columns}}
            except ValueError as e:
                return self.failed(line_no, "bad_row", str(e))
        if bad:
            return self.failed(line_no, "bad_encoding", f"column(s) {bad} are not valid UTF-8")
        for table in self.joins:
            found = table.lookup(row)
            if found is None:
                key = "" if self.spec.clinical else f" {({c: row.get(c) for c in table.spec.key})}"
                return self.failed(line_no, "unmatched_join", f"{table.shown} has no row for its "
                                                              f"{list(table.spec.key)}{key}")
            row = {**row, **found}
        excluded = self._excluded(row)
        if excluded:
            return self.failed(line_no, "excluded_by_filter", excluded)
        try:
            path = self.path_template.render(row) if self.path_template else row.get(opts.path_column)
        except KeyError as e:
            return self.failed(line_no, "bad_row", f"no {e.args[0]!r} value for option path_template")
        if not isinstance(path, str) or not path.strip():
            return self.failed(line_no, "bad_row", f"no {opts.path_column!r} value")
        rel = posixpath.normpath(path.strip())
        record_id = str(row.get(opts.id_column) or "").strip() if opts.id_column else ""
        split = str(row.get(self.spec.split.column) or "").strip().lower()
        group = str(row.get(self.spec.split.group_column) or "").strip() if self.spec.split.group_column else ""
        record = new_record(self.spec, record_id or rel, path=rel, split=SPLIT_NAMES.get(split, split or None),
                            meta={c: row.get(c) for c in opts.keep_columns if c in row},
                            group=f"column:{group}" if group else "")
        if "://" in rel or rel.startswith("../") or rel == "..":
            return fail(record, "bad_path", f"{path!r} is not inside the image root (set option image_root)")
        if self.images is not None:
            record.path = self.images.get(posixpath.basename(rel))
            if record.path is None:
                shown = "its file" if self.spec.clinical else repr(posixpath.basename(rel))
                return fail(record, "missing_file", f"{shown} is in none of the image_folders {list(self.opts.image_folders)}")
        if self.caption_files:
            record.caption, problem = self.caption_files.caption(row)
            if problem:
                return fail(record, *problem)
        else:
            caption = row.get(opts.caption_column)
            if caption is not None and not isinstance(caption, str):
                caption = str(caption)
            record.caption = caption.strip() if caption else None
        if self.spec.kind == "image_text" and not record.caption:
            return fail(record, "missing_caption", f"no {opts.caption_column!r} value")
        try:
            self._label(record, row)
        except KeyError as e:
            return fail(record, "unknown_label", str(e.args[0]))
        except UncertainLabel as e:
            return fail(record, "uncertain_label", str(e))
        except ValueError as e:
            return fail(record, "bad_label", str(e))
        if self.spec.kind == "classification" and not record.label:
            return fail(record, "missing_label", f"no {opts.label_column!r} value")
        return record

    def _excluded(self, row: Mapping[str, Any]) -> str:
        """Why the row fails the filter ('' when it passes); a clinical source's values are not shown."""
        for column, kept in self.opts.filter.items():
            value = str(row.get(column) if row.get(column) is not None else "").strip()
            if value not in kept:
                shown = "its value" if self.spec.clinical else repr(value)
                return f"column {column!r}: {shown} is not one of {list(kept)}"
        return ""

    def _label(self, record: SampleRecord, row: Mapping[str, Any]) -> None:
        opts = self.opts
        if opts.label_columns:
            positives, unsure = onehot_findings(row, opts.label_columns, uncertain=opts.uncertain, blank=opts.blank)
            record.labels = self.labels.many(positives)
            record.label = multilabel_text(record.labels)
            if unsure:
                record.meta["uncertain_labels"] = list(self.labels.many(unsure))
            return
        raw = row.get(opts.label_column)
        text = "" if raw is None else str(raw).strip()
        if not text:
            return
        if opts.label_list:
            items = _list_items(text)
            if items:
                record.labels = self.labels.many(str(i) for i in items if str(i).strip())
                record.label = multilabel_text(record.labels)
        elif opts.label_separator:
            record.labels = self.labels.many(p for p in text.split(opts.label_separator) if p.strip())
            record.label = multilabel_text(record.labels)
        else:
            record.label = self.labels.one(text)
