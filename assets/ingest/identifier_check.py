"""The privacy check of ingest: no identifier a reader saw in a clinical source (its folder and file
names, its DICOM identity tags, its root) appears in any string column, or JSON value (provenance), of
the sample and quarantine parts. A hit names the file and the column, never the value."""

from __future__ import annotations

from assets.sources.readers.identifiers import IdentifierLeak, Identifiers, parquet_hits


def check_no_identifiers(samples: list[str], quarantine: list[str], identifiers: Identifiers,
                         storage_options: dict | None = None) -> dict:
    """Raise IdentifierLeak naming every (file, column) of the sample and quarantine parts that
    holds an identifier; else the check's counts."""
    hits = [(kind, file, column) for kind, urls in (("samples", samples), ("quarantine", quarantine))
            for file, column in parquet_hits(urls, identifiers, storage_options)]
    if hits:
        raise IdentifierLeak("identifying values of the source (folder or file names, DICOM identity tags) "
                             "found in " + "; ".join(f"{kind} {file} column {column}" for kind, file, column in hits))
    return {"identifiers_searched": len(identifiers), "files_searched": len(samples) + len(quarantine)}
