"""Ingest a source of any size in parts: `ingest_rows` over chunks of rows, in parallel processes,
published all at once, and not again while the source, the settings and the code stay the same.

A run writes `part-<run token>-<index>.parquet` pairs (samples and quarantine); only when every
part is written does it publish them by writing `_parts.json` in both folders (a temporary name,
then a rename), and then it deletes the parts of earlier runs. Readers go by `_parts.json`
(assets/ingest/parts.py), so a run that fails midway leaves the last complete run in place, on
local disk and on S3 alike.
"""

from __future__ import annotations

import hashlib
import json
import logging
import posixpath
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from multiprocessing import get_context

import fsspec

from assets.ingest.identifier_check import check_no_identifiers
from assets.ingest.images import OUTPUT_FORMATS
from assets.ingest.ingest import ingest_rows, ingest_summary, make_sample_id
from assets.ingest.parts import parts_manifest
from assets.shared import layout
from assets.shared.files import atomic_write
from assets.shared.progress import StepProgress
from assets.sources.catalog import SourceSpec
from assets.sources.fingerprint import source_fingerprint
from assets.sources.readers import MissingSource, SourceError, read_source
from assets.sources.readers.clinical import keyed_id, privacy_salt
from assets.sources.readers.identifiers import Identifiers

log = logging.getLogger(__name__)

# A chunk also ends once its rows carry this many bytes of images (readers of containers put
# each image in its row), so the chunks in flight stay small whatever chunk_rows is.
CHUNK_BYTES = 64 << 20


def ingest_source(rows: Iterable[dict], *, root: str, out_dir: str, quarantine_dir: str,
                  chunk_rows: int = 20000, workers: int = 1, max_side: int = 512,
                  output_format: str = "png", batch_size: int = 512,
                  storage_options: dict | None = None, version: str = "",
                  identifiers: Identifiers | None = None, progress: StepProgress | None = None,
                  missing_source: str = "") -> dict:
    """`ingest_rows` over a source of any size: chunk i of `chunk_rows` rows (fewer if its rows
    carry CHUNK_BYTES of images) becomes one part in `out_dir` and one in `quarantine_dir`.
    `rows` is read lazily; chunks run on `workers` processes (in this one when 1), at most
    2 * workers at a time, each process reading its own images from `root`. A source+path listed
    again in any chunk is quarantined as duplicate_row. The parts are published together when all
    are written (see the module docstring); an empty source still publishes one empty part of
    each. `version` (what the input and settings were, see raw_samples) and the returned stats are
    published with the parts. `progress` counts the rows of each part as it is written, its status
    the parts written (no total: `rows` is read lazily). `identifiers` (a clinical source's, filled while `rows` is read): the
    parts are searched for them before publishing, and a hit raises IdentifierLeak, publishing
    nothing; else their keyed digests are kept in `out_dir`/_identifiers.parquet for the export's
    check. The provenance then holds no `root` either. `missing_source`: why a source has no rows
    (its location does not exist), kept in the stats. Returns ingest_rows' stats summed over the
    parts, plus `parts`, `workers`, `chunk_rows`, `privacy` (what the check searched) and
    `missing_source` when given."""
    if output_format not in OUTPUT_FORMATS:
        raise ValueError(f"output_format must be one of {sorted(OUTPUT_FORMATS)}, not {output_format!r}")
    if chunk_rows < 1 or workers < 1:
        raise ValueError(f"chunk_rows and workers must be positive, not {chunk_rows} and {workers}")
    started = time.perf_counter()
    token = uuid.uuid4().hex[:12]
    dirs = (out_dir.rstrip("/"), quarantine_dir.rstrip("/"))
    settings = {"root": root, "max_side": max_side, "output_format": output_format,
                "batch_size": batch_size, "storage_options": storage_options,
                "record_root": identifiers is None}
    chunks = _chunks(_mark_repeats(rows), chunk_rows)
    parts: list[dict] = []

    def written(new: list[dict]) -> None:
        for part in new:  # parts that finished together still count one by one
            parts.append(part)
            if progress is not None:
                progress.set_status(f"{len(parts)} parts written")
                progress.advance(part["rows_read"])

    try:
        if workers == 1:
            for i, chunk in enumerate(chunks):
                written([_ingest_part(token, i, chunk, dirs, settings)])
        else:
            pool = ProcessPoolExecutor(workers, mp_context=get_context("spawn"))
            try:
                running: set = set()
                for i, chunk in enumerate(chunks):
                    if len(running) >= 2 * workers:
                        done, running = wait(running, return_when=FIRST_COMPLETED)
                        written([f.result() for f in done])
                    running.add(pool.submit(_ingest_part, token, i, chunk, dirs, settings))
                while running:
                    done, running = wait(running, return_when=FIRST_COMPLETED)
                    written([f.result() for f in done])
            finally:
                pool.shutdown(cancel_futures=True)
        if not parts:
            parts = [_ingest_part(token, 0, [], dirs, settings)]
        privacy = check_no_identifiers([p["out_path"] for p in parts], [p["quarantine_path"] for p in parts],
                                       identifiers or Identifiers(), storage_options)
    except BaseException:
        for directory in dirs:
            _remove_parts(directory, storage_options, keep=set(), only_token=token)
        raise
    stats, reasons, per_source = Counter(), Counter(), {}
    for part in parts:
        stats.update({k: part[k] for k in ("rows_read", "ingested", "bytes_read", "bytes_written")})
        reasons.update(part["quarantine_reasons"])
        for source, counts in part["per_source"].items():
            per_source.setdefault(source, Counter()).update(counts)
    result = {**ingest_summary(stats, reasons, per_source, time.perf_counter() - started), "out_dir": dirs[0],
              "quarantine_dir": dirs[1], "parts": len(parts), "workers": workers, "chunk_rows": chunk_rows,
              "privacy": privacy, **({"missing_source": missing_source} if missing_source else {})}
    names = sorted(posixpath.basename(p["out_path"]) for p in parts)
    _keep_digests(dirs[0], identifiers, storage_options)
    for directory in dirs:
        _publish(directory, {"run": token, "parts": names, "version": version, "stats": result}, storage_options)
        _remove_parts(directory, storage_options, keep=set(names))
    log.info("ingested %d, quarantined %d of %d rows in %d parts with %d workers in %.1fs", result["ingested"],
             result["quarantined"], result["rows_read"], len(parts), workers, result["seconds"])
    return result


def ingest_if_changed(spec: SourceSpec, *, out_dir: str, quarantine_dir: str, code_version: str,
                      max_side: int = 512, storage_options: dict | None = None, **settings) -> tuple[dict, bool, str]:
    """Ingest catalog source `spec` with ingest_source(**settings) unless the last complete ingest
    into `out_dir` had the same version: the same entry and files (source_fingerprint), the same
    max_side and `code_version`. A source whose location does not exist is published as an empty
    ingest whose stats say why (`missing_source`). Returns (stats, whether it was skipped, the version)."""
    # A clinical source's ids depend on the salt: a new salt re-ingests it (keyed_id never shows the salt).
    salt_version = keyed_id(privacy_salt(), "salt version") if spec.clinical else ""

    def version_of(files: str) -> str:
        return hashlib.sha256(json.dumps([files, max_side, code_version, salt_version]).encode()).hexdigest()

    missing = ""
    try:
        version = version_of(source_fingerprint(spec, storage_options))
        previous = _published_stats(out_dir, quarantine_dir, version, storage_options)
        if previous is None:
            read = read_source(spec, storage_options=storage_options)
    except MissingSource as e:
        earlier = (parts_manifest(out_dir, storage_options) or {}).get("stats") or {}
        if earlier.get("ingested") and not earlier.get("missing_source"):
            # A source that was there and is gone (an unmounted drive, a moved folder) keeps its last
            # ingest: replacing it with nothing would drop it from the next dataset unasked.
            raise SourceError(f"{e}, but it was ingested before ({earlier['ingested']} samples): that ingest is "
                              "kept; restore the location, or remove the source from the catalog to drop it") from None
        # Published as an empty ingest, so that the sources that are there go on downstream (and
        # declarative automation, which waits for every partition, too); once its location exists,
        # its files give it another version, and it is ingested.
        log.info("%s: ingested as empty", e)
        missing, version = str(e), version_of(f"missing:{spec.fingerprint()}")
        previous = _published_stats(out_dir, quarantine_dir, version, storage_options)
    if previous is not None:
        log.info("source %s is unchanged since its last ingest: nothing to do", spec.name)
        return previous, True, version
    rows, root, identifiers = (([], spec.location, Identifiers() if spec.clinical else None) if missing
                               else (read.rows(), read.root, read.identifiers))
    stats = ingest_source(rows, root=root, out_dir=out_dir, quarantine_dir=quarantine_dir, max_side=max_side,
                          storage_options=storage_options, version=version, identifiers=identifiers,
                          missing_source=missing, **settings)
    return stats, False, version


def _published_stats(out_dir: str, quarantine_dir: str, version: str, storage_options: dict | None) -> dict | None:
    """The stats of the last complete ingest into the two folders if it had `version`, else None."""
    previous = parts_manifest(out_dir, storage_options)
    if previous and previous.get("version") == version and parts_manifest(quarantine_dir, storage_options):
        return previous["stats"]
    return None


def _mark_repeats(rows: Iterable[dict]) -> Iterator[dict]:
    """The rows, each repeat of an earlier source+path replaced by a duplicate_row error row
    (one 20-byte digest is kept per row seen)."""
    seen: set[bytes] = set()
    for row in rows:
        source, path = str(row.get("source") or ""), row.get("path")
        if source and path:  # rows without them are bad_row for ingest_rows
            key = bytes.fromhex(make_sample_id(source, str(path)))
            if key in seen:
                row = {"source": source, "path": path, "error": "duplicate_row",
                       "error_detail": "same source and path listed twice"}
            seen.add(key)
        yield row


def _chunks(rows: Iterable[dict], chunk_rows: int) -> Iterator[list[dict]]:
    chunk, size = [], 0
    for row in rows:
        chunk.append(row)
        size += len(row.get("image_bytes") or b"")
        if len(chunk) >= chunk_rows or size >= CHUNK_BYTES:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk


def _ingest_part(token: str, index: int, rows: list[dict], dirs: tuple[str, str], settings: dict) -> dict:
    name = f"part-{token}-{index:05d}.parquet"
    return ingest_rows(rows, out_path=f"{dirs[0]}/{name}", quarantine_path=f"{dirs[1]}/{name}", **settings)


def _keep_digests(directory: str, identifiers: Identifiers | None, storage_options: dict | None) -> None:
    """Write a clinical source's identifiers, as keyed digests, to `directory`/_identifiers.parquet for
    the export's privacy check (a public source's folder gets none)."""
    url = f"{directory}/{layout.IDENTIFIER_DIGESTS}"
    if identifiers is not None:
        identifiers.keyed().write(url, storage_options)
        return
    fs, path = fsspec.core.url_to_fs(url, **(storage_options or {}))
    if fs.exists(path):
        fs.rm(path)


def _publish(directory: str, manifest: dict, storage_options: dict | None) -> None:
    """Write `directory`/_parts.json naming the parts of this run (temporary name, then rename)."""
    fs, path = fsspec.core.url_to_fs(directory, **(storage_options or {}))
    target = posixpath.join(path, layout.PARTS_MANIFEST)
    atomic_write(fs, target, json.dumps(manifest, indent=1, sort_keys=True).encode())


def _remove_parts(directory: str, storage_options: dict | None, *, keep: set[str], only_token: str = "") -> None:
    """Delete the part files of `directory` not in `keep` (only this run's when `only_token`)."""
    fs, path = fsspec.core.url_to_fs(directory, **(storage_options or {}))
    fs.invalidate_cache(path)  # parts were written by other processes
    for name in fs.glob(posixpath.join(path, f"part-{only_token or ''}*.parquet")):
        if posixpath.basename(name) not in keep:
            fs.rm(name)
