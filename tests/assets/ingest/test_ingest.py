"""ingest_rows: every row lands in the samples or the quarantine, with the right schema and counts."""

from __future__ import annotations

import hashlib
import io
import json
from collections import Counter
from pathlib import Path

import fsspec
import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from assets.ingest.images import normalize_image
from assets.ingest.ingest import (
    QUARANTINE_SCHEMA,
    SAMPLE_SCHEMA,
    ingest_rows,
    make_sample_id,
)
from assets.sources.synthetic import generate_synthetic_dataset

BAD_FILES = {  # file name -> (bytes, expected reason)
    "empty.png": (b"", "empty"),
    "notes.png": (b"not an image at all\n", "not_an_image"),
    "truncated.png": (None, "corrupt"),
}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> tuple[Path, list[dict]]:
    root = tmp_path_factory.mktemp("synthetic")
    rows, _ = generate_synthetic_dataset(root, train_per_class=2, test_per_class=1, image_size=48, seed=1)
    good = (root / rows[0]["path"]).read_bytes()
    bad_dir = root / "bad"
    bad_dir.mkdir()
    for name, (data, _) in BAD_FILES.items():
        (bad_dir / name).write_bytes(good[: len(good) // 2] if data is None else data)
    bomb = Image.new("1", (9000, 9000))  # 81M pixels, a ~10 kB file
    bomb.save(bad_dir / "bomb.png")
    return root, rows


def _bad_rows() -> list[dict]:
    rows = [{"path": f"bad/{name}", "source": "broken", "modality": "xray", "label": "normal", "split": "train"}
            for name in [*BAD_FILES, "bomb.png", "missing.png"]]
    rows.append({"source": "broken", "label": "normal"})  # no path
    return rows


def test_ingest_balances_and_quarantines_with_reasons(dataset, tmp_path):
    root, rows = dataset
    listed = [*rows, *_bad_rows(), dict(rows[0])]  # plus a duplicate of the first row
    stats = ingest_rows(listed, root=str(root), out_path=str(tmp_path / "out" / "samples.parquet"),
                        quarantine_path=str(tmp_path / "out" / "quarantine.parquet"), batch_size=16)
    assert stats["rows_read"] == len(listed) == stats["ingested"] + stats["quarantined"]
    assert stats["ingested"] == len(rows)
    assert stats["quarantine_reasons"] == {
        "bad_row": 1, "corrupt": 1, "decompression_bomb": 1, "duplicate_row": 1,
        "empty": 1, "missing_file": 1, "not_an_image": 1,
    }
    assert stats["per_source"]["broken"] == {"ingested": 0, "quarantined": 6}
    assert stats["per_source"]["synthetic_xray"]["quarantined"] == 1  # the duplicate

    samples = pq.read_table(tmp_path / "out" / "samples.parquet")
    quarantine = pq.read_table(tmp_path / "out" / "quarantine.parquet")
    assert samples.schema.equals(SAMPLE_SCHEMA, check_metadata=True)
    assert quarantine.schema.equals(QUARANTINE_SCHEMA)
    assert samples.num_rows == stats["ingested"] and quarantine.num_rows == stats["quarantined"]
    assert Counter(quarantine.column("reason").to_pylist()) == Counter(stats["quarantine_reasons"])
    assert all(quarantine.column("detail").to_pylist())
    assert not list((tmp_path / "out").glob("*.tmp"))

    by_path = {r["orig_path"]: r for r in samples.to_pylist()}
    assert len(by_path) == len(rows) and len({r["sample_id"] for r in by_path.values()}) == len(rows)
    for row in rows:
        got = by_path[row["path"]]
        assert got["sample_id"] == make_sample_id(row["source"], row["path"])
        assert got["sample_id"] == hashlib.sha1(f"{row['source']}\x00{row['path']}".encode()).hexdigest()
        for key in ("source", "modality", "label", "split"):
            assert got[key] == row[key]
        expected = normalize_image((root / row["path"]).read_bytes())
        assert got["pixel_sha256"] == expected.pixel_sha256 and got["phash"] == expected.phash
        assert (got["width"], got["height"], got["image_format"]) == (48, 48, "png")
        assert got["image"]["path"] == f"{got['sample_id']}.png"
        with Image.open(io.BytesIO(got["image"]["bytes"])) as im:
            assert np.array_equal(np.asarray(im), np.asarray(Image.open(root / row["path"])))
        assert json.loads(got["provenance"])["input"]["format"] == "png"
    features = json.loads(samples.schema.metadata[b"huggingface"])["info"]["features"]
    assert features["image"] == {"_type": "Image"} and features["phash"]["dtype"] == "int64"


def test_output_does_not_depend_on_batch_size_and_keeps_row_extras(dataset, tmp_path):
    root, rows = dataset
    rows = [{**r, "generator": {"name": "synthetic", "seed": 1}} for r in rows[:12]]
    tables = []
    for batch_size in (5, 512):
        out = tmp_path / f"b{batch_size}.parquet"
        ingest_rows(rows, root=str(root), out_path=str(out), quarantine_path=str(tmp_path / f"q{batch_size}.parquet"),
                    batch_size=batch_size)
        tables.append(pq.read_table(out))
        assert pq.ParquetFile(out).metadata.num_row_groups == -(-len(rows) // batch_size)
    assert tables[0].equals(tables[1])
    provenance = json.loads(tables[0].column("provenance")[0].as_py())
    assert provenance["row"] == {"generator": {"name": "synthetic", "seed": 1}}
    assert provenance["normalizer"]["max_side"] == 512


def test_downscales_to_max_side(dataset, tmp_path):
    root, rows = dataset
    ingest_rows(rows[:3], root=str(root), out_path=str(tmp_path / "s.parquet"),
                quarantine_path=str(tmp_path / "q.parquet"), max_side=32)
    table = pq.read_table(tmp_path / "s.parquet", columns=["width", "height"])
    assert set(table.column("width").to_pylist()) == {32}


def test_empty_input_writes_empty_files(tmp_path):
    stats = ingest_rows([], root=str(tmp_path), out_path=str(tmp_path / "s.parquet"),
                        quarantine_path=str(tmp_path / "q.parquet"))
    assert stats["rows_read"] == stats["ingested"] == stats["quarantined"] == 0
    assert pq.read_table(tmp_path / "s.parquet").schema.equals(SAMPLE_SCHEMA)
    assert pq.read_table(tmp_path / "q.parquet").num_rows == 0


def test_reads_and_writes_through_fsspec_urls(dataset, tmp_path):
    """Same code path as s3://: a non-local fsspec filesystem for input and output."""
    root, rows = dataset
    mem = fsspec.filesystem("memory")
    for row in rows[:6]:
        mem.pipe(f"/medpairs-in/{row['path']}", (root / row["path"]).read_bytes())
    stats = ingest_rows([*rows[:6], {"path": "nope.png", "source": "s"}], root="memory://medpairs-in",
                        out_path="memory://medpairs-out/samples.parquet",
                        quarantine_path="memory://medpairs-out/quarantine.parquet")
    assert (stats["ingested"], stats["quarantine_reasons"]) == (6, {"missing_file": 1})
    with mem.open("/medpairs-out/samples.parquet", "rb") as f:
        assert pq.read_table(f).num_rows == 6
    assert not mem.exists("/medpairs-out/samples.parquet.tmp")


def test_a_missing_file_row_names_its_path_not_the_absolute_root(tmp_path):
    root = tmp_path / "hospital_export"
    root.mkdir()
    rows = [{"path": "id-0123abcd", "read_from": "Doe_Janet/IM0001.png", "source": "pacs", "modality": "xray"}]
    ingest_rows(rows, root=str(root), out_path=str(tmp_path / "s.parquet"), quarantine_path=str(tmp_path / "q.parquet"),
                record_root=False)
    (row,) = pq.read_table(tmp_path / "q.parquet").to_pylist()
    assert (row["reason"], row["orig_path"]) == ("missing_file", "id-0123abcd")
    assert "id-0123abcd" in row["detail"] and "hospital_export" not in row["detail"] and "Doe" not in row["detail"]


def test_provenance_holds_the_root_unless_told_not_to(dataset, tmp_path):
    root, rows = dataset
    for record_root in (True, False):
        out = tmp_path / f"{record_root}.parquet"
        ingest_rows(rows[:1], root=str(root), out_path=str(out), quarantine_path=str(tmp_path / "q.parquet"),
                    record_root=record_root)
        provenance = json.loads(pq.read_table(out).column("provenance")[0].as_py())
        assert (str(root) in json.dumps(provenance)) is record_root
