"""Whether a catalog's sources are there and readable, before a long run.

Per source: found or missing (the location it expected, never a clinical source's, and where to get
it), the files under its root, its first `rows` records read through its reader, how many pass its
filter, how many ingest would quarantine and why, whether the first `images` image files the records
name exist (a wrong `image_root` shows here), and the first problems. No image is decoded, and one
source's problem never stops the check of the others. `python -m pipelines.check` prints it;
source_catalog's metadata shows it.
"""

from __future__ import annotations

import dataclasses
import logging
import posixpath
from collections import Counter
from dataclasses import dataclass, field

import fsspec

from assets.shared.metadata import md_table
from assets.sources.catalog import SourceSpec
from assets.sources.fingerprint import list_source_files
from assets.sources.readers import MissingSource, SourceError, read_source
from assets.sources.synthetic import synthetic_manifest_spec

log = logging.getLogger(__name__)

ROWS = 1000  # records read per source (0: all)
IMAGES = 20  # image files per source whose existence is checked
PROBLEMS = 5  # problems kept per source
FILTERED = "excluded_by_filter"  # a manifest row its filter leaves out: counted, not a problem
# Ingest's reason for a listed image that is not there (assets/ingest/ingest.py).
MISSING_FILE = "missing_file"
# A synthetic source's files appear when synthetic_source draws them (sources_job runs it first).
NOT_DRAWN = "not drawn yet"
READY = ("ok", NOT_DRAWN)


@dataclass
class SourceCheck:
    source: str
    format: str
    # ok | missing | unreadable | images missing | no usable rows | not drawn yet
    status: str = "ok"
    location: str = ""  # as it may be shown: a clinical source's is hidden
    download: str = ""
    files: int | None = None  # files under the source's root (None: not listed)
    rows: int = 0  # records read
    complete: bool = True  # False: reading stopped at the row limit
    passed_filter: int = 0
    quarantined: dict[str, int] = field(default_factory=dict)  # by reason, of the rows read
    images_checked: int = 0
    images_missing: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        """Found and readable, every checked image there (a synthetic source counts before it is drawn)."""
        return self.status in READY

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "ready": self.ready}


def check_catalog(specs: list[SourceSpec], *, synthetic_dir: str, rows: int = ROWS, images: int = IMAGES,
                  storage_options: dict | None = None) -> list[SourceCheck]:
    """check_source for every source, a synthetic one as the manifest synthetic_source writes under
    `synthetic_dir`."""
    return [check_source(synthetic_manifest_spec(s, synthetic_dir) if s.synthetic else s, rows=rows,
                         images=images, storage_options=storage_options) for s in specs]


def check_source(spec: SourceSpec, *, rows: int = ROWS, images: int = IMAGES,
                 storage_options: dict | None = None) -> SourceCheck:
    """The check of one source (see the module docstring): its first `rows` records (all when 0),
    the first `images` image files they name. Never raises for the source's own problems."""
    check = SourceCheck(spec.name, spec.format, location=spec.shown_location() if spec.clinical else spec.location,
                        download=spec.download or ("drawn by synthetic_source (sources_job)" if spec.synthetic else ""))
    try:
        _, files = list_source_files(spec, storage_options)
        check.files = len(files)
        _read(spec, check, rows, images, storage_options)
    except MissingSource as e:
        check.status, check.problems = NOT_DRAWN if spec.synthetic else "missing", [str(e)]
        return check
    except SourceError as e:
        check.status, check.problems = "unreadable", [str(e)]
        return check
    except Exception as e:  # noqa: BLE001 - a reader failing mid-way: ingest would fail the same way
        detail = type(e).__name__ if spec.clinical else f"{type(e).__name__}: {e}"
        check.status, check.problems = "unreadable", [f"source {spec.name!r}: reading failed: {detail}"]
        return check
    check.passed_filter = check.rows - check.quarantined.get(FILTERED, 0)
    if check.images_missing:
        check.status = "images missing"
    elif check.rows == sum(check.quarantined.values()):
        check.status = "no usable rows"
        check.problems.append(f"none of the {check.rows} rows read can be ingested" if check.rows
                              else "its reader finds nothing to ingest")
    return check


def _read(spec: SourceSpec, check: SourceCheck, rows: int, images: int, storage_options: dict | None) -> None:
    """Read up to `rows` records into `check`, checking that the first `images` listed files exist."""
    read = read_source(spec, storage_options=storage_options)
    fs, root = fsspec.core.url_to_fs(read.root, **(storage_options or {}))
    reasons: Counter = Counter()
    for record in read.records:
        if rows and check.rows == rows:
            check.complete = False
            break
        check.rows += 1
        if record.error:
            reasons[record.error] += 1
            if record.error != FILTERED:
                _problem(check, f"{record.record_id}: {record.error}: {record.error_detail}")
            continue
        file = record.read_from or record.path
        if record.image_bytes is None and file and check.images_checked < images:
            check.images_checked += 1
            full = posixpath.join(root, file)
            if not fs.exists(full):
                check.images_missing += 1
                reasons[MISSING_FILE] += 1
                # A clinical source's file name may name a patient: only its keyed id is shown.
                _problem(check, f"{record.record_id}: {MISSING_FILE}: " + (
                    "a listed image is not under the source's root" if spec.clinical else f"{full} does not exist"))
    check.quarantined = dict(sorted(reasons.items()))


def _problem(check: SourceCheck, text: str) -> None:
    if len(check.problems) < PROBLEMS:
        check.problems.append(text)


def summary_table(checks: list[SourceCheck]) -> tuple[tuple[str, ...], list[tuple]]:
    """(header, one row per source) of the checks: what the terminal and the UI tabulate."""
    header = ("source", "status", "files", "rows read", "pass filter", "would quarantine", "images missing")
    return header, [(c.source, c.status, "-" if c.files is None else c.files,
                     f"{c.rows}" + ("" if c.complete else " (limit)"), c.passed_filter,
                     ", ".join(f"{k} {v}" for k, v in c.quarantined.items()) or "-",
                     f"{c.images_missing} of {c.images_checked}" if c.images_checked else "-") for c in checks]


def details(check: SourceCheck) -> list[str]:
    """What to say under a source's row: where it was expected and where to get it when not found,
    that reading stopped at the limit, and its first problems."""
    if check.status == NOT_DRAWN:  # the pipeline draws it first: nothing to do
        return []
    if check.status == "missing":
        return [f"expected at {check.location}",
                f"get it: {check.download or 'the catalog entry does not say (its download field)'}"]
    stopped = [] if check.complete else [f"stopped after {check.rows} rows (the limit): the counts are of those"]
    return stopped + check.problems


def check_markdown(checks: list[SourceCheck]) -> str:
    """The summary table with each source's details as a last column (source_catalog's metadata)."""
    header, rows = summary_table(checks)
    return md_table([(*row, "; ".join(details(c))) for row, c in zip(rows, checks)], (*header, "notes"))
