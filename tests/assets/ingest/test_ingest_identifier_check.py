"""The privacy check: every string column of ingest's outputs searched for a clinical source's
identifiers; a hit names file and column (never the value) and nothing is published."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from assets.ingest.chunked import ingest_source
from assets.ingest.identifier_check import check_no_identifiers
from assets.ingest.parts import parts_manifest
from assets.sources.readers.identifiers import (
    IdentifierLeak,
    Identifiers,
    KeyedIdentifiers,
    parquet_hits,
)
from assets.sources.synthetic import generate_synthetic_dataset


def _identifiers(*values: str) -> Identifiers:
    ids = Identifiers(salt=b"salt")
    for v in values:
        ids.add(v)
    return ids


@pytest.mark.parametrize("keyed", [False, True])
def test_hits_name_the_file_and_the_column_including_struct_fields(tmp_path, keyed):
    table = pa.table({"label": ["normal", "normal"], "note": ["ok", "seen with Janet Doe"],
                      "image": [{"bytes": b"Janet", "path": "a.png"}, {"bytes": b"", "path": "DOE_JANET.png"}],
                      "phash": [1, 2]})
    pq.write_table(table, tmp_path / "part-0.parquet")
    ids = _identifiers("Doe^Janet").keyed() if keyed else _identifiers("Doe^Janet")
    assert parquet_hits([str(tmp_path / "part-0.parquet")], ids) == [("part-0.parquet", "note"),
                                                                          ("part-0.parquet", "image.path")]
    with pytest.raises(IdentifierLeak) as err:
        check_no_identifiers([], [str(tmp_path / "part-0.parquet")], ids)
    assert "quarantine part-0.parquet column note" in str(err.value) and "janet" not in str(err.value).lower()
    assert check_no_identifiers([str(tmp_path / "part-0.parquet")], [], _identifiers("Smith")) == {
        "identifiers_searched": 1, "files_searched": 1}


def test_an_ingest_whose_output_holds_an_identifier_publishes_nothing(tmp_path):
    root = tmp_path / "src"
    rows, _ = generate_synthetic_dataset(root, train_per_class=1, test_per_class=0, image_size=32, seed=2)
    rows = [dict(rows[0], meta={"note": "Janet Doe"}), *rows[1:3]]
    out, bad = tmp_path / "samples", tmp_path / "quarantine"
    with pytest.raises(IdentifierLeak, match=r"samples part-\w+-00000.parquet column provenance"):
        ingest_source(rows, root=str(root), out_dir=str(out), quarantine_dir=str(bad),
                      identifiers=_identifiers("Doe^Janet"))
    assert parts_manifest(str(out)) is None and not list(out.glob("part-*"))
    stats = ingest_source(rows[1:], root=str(root), out_dir=str(out), quarantine_dir=str(bad),
                          identifiers=_identifiers("Doe^Janet"))
    assert stats["ingested"] == 2 and stats["privacy"] == {"identifiers_searched": 3, "files_searched": 2}
    kept = KeyedIdentifiers.read([str(out / "_identifiers.parquet")], b"salt")
    assert kept.found_in("JANET") and not kept.found_in("Jan") and b"janet" not in (out / "_identifiers.parquet").read_bytes().lower()
    ingest_source(rows[1:], root=str(root), out_dir=str(out), quarantine_dir=str(bad))  # public: no digests
    assert not (out / "_identifiers.parquet").exists()
