"""OpenI / Indiana University chest X-rays (format openi_xml): the NLMCXR XML reports, each joined to the
PNGs it names as <parentImage id="CXR1_1_IM-0001-3001"> (NLMCXR_png: CXR1_1_IM-0001-3001.png).

The location is the reports as downloaded (NLMCXR_reports.tgz) or extracted (a folder, ecgen-radiology/,
of 1.xml, 2.xml, ...); `image_root` is the folder of the PNGs, relative to the folder holding the
location. One record per image a report names, its caption the report's `sections` (FINDINGS and
IMPRESSION, as UniMed-CLIP's captions), written as "FINDINGS: ...\nIMPRESSION: ..." so that report
cleaning (`text: report`) finds its sections as in any plain-text report. The images of one report (its
frontal and lateral views) share a group, so a ratio split keeps them on one side. A report naming no
image is accounted for as `missing_image`, one with none of the sections as `missing_caption`, and an
unreadable one as `bad_row`.
"""

from __future__ import annotations

import posixpath
import tarfile
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass

from fsspec import AbstractFileSystem

from assets.shared.nlmcxr import parse_nlmcxr
from assets.sources.catalog import SourceSpec
from assets.sources.readers.records import (
    SampleRecord,
    SourceError,
    fail,
    new_record,
    parse_options,
)


@dataclass(frozen=True)
class OpenIOptions:
    # Folder of the PNGs (NLMCXR_png.tgz extracted), relative to the folder holding the reports.
    image_root: str = "image"
    # Report sections the caption is made of, in this order (<AbstractText Label=...>, any case).
    sections: tuple[str, ...] = ("findings", "impression")
    image_extension: str = ".png"

    def validate(self) -> None:
        if not self.sections or not all(isinstance(s, str) and s.strip() for s in self.sections):
            raise SourceError(f"option sections must list report sections (e.g. [findings, impression]), "
                              f"not {list(self.sections)}")


def openi_root(spec: SourceSpec, fs: AbstractFileSystem, location: str) -> str:
    """The folder of the PNGs: image_root, relative to the folder holding the reports."""
    opts = parse_options(OpenIOptions, spec.options, spec.format)
    return posixpath.normpath(posixpath.join(posixpath.dirname(location.rstrip("/")), opts.image_root))


def read_openi_xml(spec: SourceSpec, fs: AbstractFileSystem, location: str) -> Iterator[SampleRecord]:
    opts = parse_options(OpenIOptions, spec.options, spec.format)
    for name, xml in _report_files(spec, fs, location):
        try:
            report = parse_nlmcxr(xml)
        except ET.ParseError as e:
            yield fail(new_record(spec, name), "bad_row", f"report is not XML: {e}")
            continue
        if not report.image_ids:
            yield fail(new_record(spec, name), "missing_image", "the report names no image (<parentImage>)")
            continue
        caption = "\n".join(f"{s.upper()}: {report.sections[s.lower()]}" for s in opts.sections
                            if report.sections.get(s.lower()))
        for image_id in report.image_ids:
            path = image_id + opts.image_extension
            record = new_record(spec, path, path=path, caption=caption or None, group=f"report:{name}",
                                meta={"report": name})
            if not caption:
                shown = "the report" if spec.clinical else f"report {name}"
                record = fail(record, "missing_caption", f"{shown} has no {' or '.join(opts.sections)}")
            yield record


def _report_files(spec: SourceSpec, fs: AbstractFileSystem, location: str) -> Iterator[tuple[str, bytes]]:
    """(file name, bytes) of every .xml report in the folder or tar archive at `location`."""
    if fs.isdir(location):
        for path in sorted(p for p in fs.find(location) if p.endswith(".xml")):
            yield posixpath.basename(path), fs.cat_file(path)
        return
    try:
        with fs.open(location, "rb") as raw, tarfile.open(fileobj=raw, mode="r:*") as archive:
            for member in archive:
                if member.isfile() and member.name.endswith(".xml"):
                    yield posixpath.basename(member.name), archive.extractfile(member).read()
    except tarfile.TarError as e:
        raise SourceError(f"source {spec.name!r}: {spec.shown_location()} is neither a folder of XML reports "
                          f"nor a tar archive of them: {e}") from None
