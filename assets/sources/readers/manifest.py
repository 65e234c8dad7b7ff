"""CSV / TSV / JSONL manifests: one row per image with its path, label(s), caption and split.

Labels come from one column (`label_column`; several labels in it when `label_separator` is
set, as NIH ChestX-ray14's "Finding Labels" = "Effusion|Mass"), or from one-hot columns
(`label_columns`, CheXpert style 1 / 0 / -1 / blank, with configurable policies for -1 and
blank). A multi-label sample's label is its sorted positives joined by " and ", or "no finding".
The file is streamed; compressed manifests (.gz, .zst, ...) are read transparently. A CSV/TSV column
may be named by its position (0-based) where the header is not documented, and `list_columns` holds
cells written as a Python list literal ("['glaucoma']"), read as their first item: both as UniMed-CLIP's
evaluation loaders read their CSVs. Where a download spreads its images over several folders, `image_folders`
finds each row's file by its name (NIH ChestX-ray14's images_001/images/ ... images_012/images/).
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

    def validate(self) -> None:
        for name in ("uncertain", "blank"):
            if getattr(self, name) not in _POLICIES:
                raise SourceError(f"option {name} must be one of {list(_POLICIES)}, not {getattr(self, name)!r}")
        if not isinstance(self.filter, Mapping):
            raise SourceError(f"option filter must map a column to its kept value(s), not {self.filter!r}")
        object.__setattr__(self, "filter", {column: _kept_values(values) for column, values in self.filter.items()})

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


def _kept_values(values: Any) -> tuple[str, ...]:
    """A filter's kept values as stripped strings (one value, or a list of them)."""
    values = values if isinstance(values, (list, tuple)) else [values]
    if not values:
        raise SourceError("a filter column needs at least one kept value")
    return tuple(str(v).strip() for v in values)


def manifest_root(spec: SourceSpec, fs: AbstractFileSystem, location: str) -> str:
    """The folder image paths are relative to: image_root, relative to the manifest's folder."""
    opts = parse_options(ManifestOptions, spec.options, spec.format)
    return posixpath.normpath(posixpath.join(posixpath.dirname(location), opts.image_root))


def read_csv(spec: SourceSpec, fs: AbstractFileSystem, location: str, delimiter: str = ",") -> Iterator[SampleRecord]:
    opts = parse_options(ManifestOptions, spec.options, spec.format or "csv")
    with fs.open(location, "rb", compression="infer") as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8", errors="surrogateescape", newline="")
        reader = csv.DictReader(text, delimiter=delimiter)
        where = spec.shown_location() if spec.clinical else repr(location)
        opts = opts.by_header(reader.fieldnames or [], where)
        _check_header(reader.fieldnames or [], opts, spec, location)
        rows = _RowReader(spec, opts, posixpath.basename(location), _image_index(spec, fs, location, opts))
        for line_no, row in enumerate(reader, start=2):
            yield rows.record(row, line_no)


read_tsv = partial(read_csv, delimiter="\t")


def read_jsonl(spec: SourceSpec, fs: AbstractFileSystem, location: str) -> Iterator[SampleRecord]:
    opts = parse_options(ManifestOptions, spec.options, spec.format or "jsonl")
    rows = _RowReader(spec, opts, posixpath.basename(location), _image_index(spec, fs, location, opts))
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


def _image_index(spec: SourceSpec, fs: AbstractFileSystem, location: str, opts: ManifestOptions) -> dict[str, str] | None:
    """{file name: path relative to the image root} of every file in the image_folders (the first folder
    holding a name wins), or None when the option is not set."""
    if not opts.image_folders:
        return None
    root = manifest_root(spec, fs, location)
    index: dict[str, str] = {}
    for pattern in opts.image_folders:
        for folder in sorted(fs.glob(posixpath.join(root, pattern))):
            if fs.isdir(folder):
                for path in sorted(fs.find(folder)):
                    index.setdefault(posixpath.basename(path), posixpath.relpath(path, root))
    return index


def _check_header(header: list[str], opts: ManifestOptions, spec: SourceSpec, location: str) -> None:
    needed = [opts.path_column, *opts.label_columns, *opts.filter,
              *([spec.split.group_column] if spec.split.group_column else [])]
    if spec.kind == "image_text":
        needed.append(opts.caption_column)
    elif not opts.label_columns:
        needed.append(opts.label_column)
    missing = [c for c in needed if c not in header]
    if missing:
        shown = spec.shown_location() if spec.clinical else repr(location)
        raise SourceError(f"manifest {shown} lacks column(s) {missing}; it has {header}")


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


class _RowReader:
    """Turns one manifest row (a dict) into a record."""

    def __init__(self, spec: SourceSpec, opts: ManifestOptions, file_name: str, images: dict[str, str] | None = None):
        self.spec, self.opts, self.file_name, self.images = spec, opts, file_name, images
        self.labels = LabelResolver(spec)

    def failed(self, line_no: int, reason: str, detail: str) -> SampleRecord:
        return fail(new_record(self.spec, f"{self.file_name}#line{line_no}"), reason, detail)

    def record(self, row: Mapping[str, Any], line_no: int) -> SampleRecord:
        opts = self.opts
        bad = [k for k, v in row.items() if _bad_text(v) or _bad_text(k)]
        if opts.list_columns and not bad:
            try:
                row = {**row, **{c: _first_of_list(row.get(c)) for c in opts.list_columns}}
            except ValueError as e:
                return self.failed(line_no, "bad_row", str(e))
        path = row.get(opts.path_column)
        if bad:
            return self.failed(line_no, "bad_encoding", f"column(s) {bad} are not valid UTF-8")
        excluded = self._excluded(row)
        if excluded:
            return self.failed(line_no, "excluded_by_filter", excluded)
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
