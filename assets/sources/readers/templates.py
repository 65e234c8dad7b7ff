"""Paths built from a manifest row's columns (`files/p{subject_id:.2}/p{subject_id}/s{study_id}.txt`), and
captions read from the files they name.

A field is a column name (any characters but `{}:!`), optionally with a format spec applied to the
cell as a string (`{subject_id:.2}`: its first two characters; `{n:>05}`: padded to five). Fields
are looked up in the row only, never as attributes or indices, so a template cannot reach beyond
the row's values.
"""

from __future__ import annotations

import posixpath
import string
from collections.abc import Mapping
from typing import Any

from fsspec import AbstractFileSystem

from assets.sources.readers.records import SourceError

# (caption, None), or (None, (reason, detail)) for the quarantine.
CaptionResult = tuple[str | None, tuple[str, str] | None]


class RowTemplate:
    """A template over a row's columns, checked when the options are parsed."""

    def __init__(self, template: str, option: str):
        try:
            parsed = list(string.Formatter().parse(template))
        except ValueError as e:
            raise SourceError(f"option {option} {template!r} is not a template: {e}") from None
        self.parts: list[tuple[str, str | None, str]] = []
        for literal, name, spec, conversion in parsed:
            if name is not None and (not name.strip() or conversion):
                raise SourceError(f"option {option} {template!r}: every field must name a column, as "
                                  "{column} or {column:.2}")
            if name is not None:
                try:
                    format("x", spec or "")
                except ValueError as e:
                    raise SourceError(f"option {option} {template!r}: bad format for {name!r}: {e}") from None
            self.parts.append((literal, name, spec or ""))
        self.fields = tuple(name for _, name, _ in self.parts if name is not None)
        if not self.fields:
            raise SourceError(f"option {option} {template!r} names no column (write one as {{column}})")

    def render(self, row: Mapping[str, Any]) -> str:
        """The template filled from `row`; KeyError naming the first field the row has no value for."""
        out = []
        for literal, name, spec in self.parts:
            out.append(literal)
            if name is None:
                continue
            value = row.get(name)
            text = "" if value is None else str(value).strip()
            if not text:
                raise KeyError(name)
            out.append(format(text, spec))
        return "".join(out)



class CaptionFiles:
    """Captions read from the files `template` names, relative to `root`: a missing or empty file is
    `missing_caption`. The last file read is remembered, as a study's images are neighbouring rows that
    share its report. A clinical source's details name no file."""

    def __init__(self, template: RowTemplate, fs: AbstractFileSystem, root: str, clinical: bool):
        self.template, self.fs, self.root, self.clinical = template, fs, root, clinical
        self._last: tuple[str, CaptionResult] = ("", (None, None))

    def caption(self, row: Mapping[str, Any]) -> CaptionResult:
        try:
            rel = posixpath.normpath(self.template.render(row))
        except KeyError as e:
            return None, ("bad_row", f"no {e.args[0]!r} value for option caption_file")
        if rel != self._last[0]:
            self._last = (rel, self._read(rel))
        return self._last[1]

    def _read(self, rel: str) -> CaptionResult:
        shown = "its caption file" if self.clinical else f"caption file {rel!r}"
        if "://" in rel or rel.startswith(("../", "/")) or rel == "..":
            return None, ("bad_path", f"{shown} is not inside the image root (option caption_file)")
        try:
            text = self.fs.cat_file(posixpath.join(self.root, rel)).decode("utf-8").strip()
        except FileNotFoundError:
            return None, ("missing_caption", f"{shown} does not exist")
        except UnicodeDecodeError:
            return None, ("bad_encoding", f"{shown} is not UTF-8")
        return (text, None) if text else (None, ("missing_caption", f"{shown} is empty"))
