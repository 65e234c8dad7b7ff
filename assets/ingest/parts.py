"""Finding what ingest wrote: the part files of each source's partition, and the labels they hold."""

from __future__ import annotations

import dataclasses
import json
import posixpath

import fsspec

from assets.shared import layout
from assets.shared.duckdb_fs import connect
from assets.sources.catalog import SourceSpec


def parts_manifest(directory: str, storage_options: dict | None = None) -> dict | None:
    """The _parts.json the last complete ingest into `directory` published (its parts, version and
    stats), or None when no ingest into it has completed."""
    fs, path = fsspec.core.url_to_fs(directory, **(storage_options or {}))
    manifest = posixpath.join(path, layout.PARTS_MANIFEST)
    if not fs.exists(manifest):
        return None
    return json.loads(fs.cat_file(manifest))


def published_parts(directory: str, storage_options: dict | None = None) -> list[str] | None:
    """URLs of the parts the last complete ingest into `directory` published, or None."""
    manifest = parts_manifest(directory, storage_options)
    if manifest is None:
        return None
    return [f"{directory.rstrip('/')}/{name}" for name in manifest["parts"]]


def source_parts(samples_dir: str, sources: list[str], storage_options: dict | None = None
                 ) -> tuple[list[str], list[str]]:
    """(the published sample parts of every source in `sources` under `samples_dir`, the sources
    not ingested yet). Sources outside `sources` (removed from the catalog) are never read."""
    found, missing = [], []
    for name in sources:
        parts = published_parts(f"{samples_dir.rstrip('/')}/{name}", storage_options)
        if parts is None:
            missing.append(name)
        else:
            found.extend(parts)
    return found, missing


def labels_by_source(parts: list[str], storage_options: dict | None = None) -> dict[str, list[tuple[str, str]]]:
    """{source: sorted (modality, label) pairs} of the classification samples in the given raw-sample parts."""
    if not parts:
        return {}
    con = connect(parts, storage_options)
    rows = con.execute(
        "SELECT DISTINCT source, modality, label FROM read_parquet($parts) "
        "WHERE kind = 'classification' AND label IS NOT NULL ORDER BY source, label, modality",
        {"parts": parts}).fetchall()
    con.close()
    out: dict[str, list[tuple[str, str]]] = {}
    for source, modality, label in rows:
        out.setdefault(source, []).append((modality, label))
    return out


def labels_in_data(specs: list[SourceSpec], samples_dir: str, storage_options: dict | None = None
                   ) -> list[tuple[SourceSpec, str]]:
    """(catalog entry, label) for every label the ingested classification samples of each catalog
    source carry: a catalog class, a multi-label combination, "no finding", or a label the catalog
    does not list (ImageFolder folders, MedMNIST): what class captions are written for. The entry
    has the modality of the label's samples (a source may mix modalities, as RadImageNet's folders
    do). ValueError when samples of two modalities share a label: captions are kept per (source,
    label), and one set cannot describe both."""
    by_name = {s.name: s for s in specs if s.kind == "classification"}
    parts, _ = source_parts(samples_dir, list(by_name), storage_options)
    labels = labels_by_source(parts, storage_options)
    modalities: dict[tuple[str, str], list[str]] = {}
    for name in by_name:
        for modality, label in labels.get(name, []):
            modalities.setdefault((name, label), []).append(modality)
    shared = [f"source {name!r}: label {label!r} is carried by {' and '.join(sorted(m))} samples"
              for (name, label), m in modalities.items() if len(m) > 1]
    if shared:
        raise ValueError("; ".join(shared) + ": give each modality its own labels (for an image folder, "
                         "label_from including the modality's folder)")
    return [(by_name[name] if m == by_name[name].modality else dataclasses.replace(by_name[name], modality=m), label)
            for (name, label), (m,) in modalities.items()]
