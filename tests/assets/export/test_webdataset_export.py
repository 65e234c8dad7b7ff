"""WebDataset export: shard names, atomic shards, byte-identical re-runs, readability by webdataset,
the manifest in pyarrow and DuckDB, and fsspec paths."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import duckdb
import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import webdataset as wds
from PIL import Image

from assets.export.webdataset import (
    MANIFEST_NAME,
    ShardWriter,
    choose_caption,
    export_shards,
    shard_pattern,
)

CURATED_SCHEMA = pa.schema(
    [
        ("sample_id", pa.string()),
        ("source", pa.string()),
        ("modality", pa.string()),
        ("label", pa.string()),
        ("split", pa.string()),
        ("image", pa.struct([("bytes", pa.binary()), ("path", pa.string())])),
        ("image_format", pa.string()),
        ("captions", pa.list_(pa.string())),
    ]
)


def _image(rng: np.random.Generator, fmt: str) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(buf, format=fmt)
    return buf.getvalue()


def _curated_rows(n_train: int = 23, n_test: int = 7, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    rows = []
    for split, n in (("train", n_train), ("test", n_test)):
        for i in range(n):
            fmt = "png" if i % 3 else "jpeg"
            label = ["normal", "pneumonia"][i % 2]
            rows.append({
                "sample_id": f"src/{split}/{i:04d}",
                "source": "src",
                "modality": "xray",
                "label": label,
                "split": split,
                "image": {"bytes": _image(rng, fmt.upper()), "path": f"{split}/{i}.{fmt}"},
                "image_format": fmt,
                "captions": [f"Chest X-ray {k} showing {label}." for k in range(4)],
            })
    return rows


def _write_curated(path: Path, rows: list[dict]) -> str:
    pq.write_table(pa.Table.from_pylist(rows, schema=CURATED_SCHEMA), path, row_group_size=8)
    return str(path)


@pytest.fixture
def curated(tmp_path) -> str:
    return _write_curated(tmp_path / "curated.parquet", _curated_rows())


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def _sample(key: str, i: int = 0) -> dict:
    return {"key": key, "image": _image(np.random.default_rng(i), "PNG"), "image_ext": "png",
            "txt": f"caption {i}", "json": {"i": i}}


def test_shard_names_counts_and_pattern(curated, tmp_path):
    out = tmp_path / "shards"
    stats = export_shards(curated, str(out), samples_per_shard=5)
    assert stats["num_samples"] == 23 and stats["num_shards"] == 5
    assert sorted(p.name for p in out.glob("*.tar")) == [f"train-{i:06d}.tar" for i in range(5)]
    assert stats["shards"] == f"{out}/train-{{000000..000004}}.tar"
    assert json.loads((out / "sizes.json").read_text()) == {f"train-{i:06d}.tar": n for i, n in enumerate([5] * 4 + [3])}
    assert stats["bytes"] == sum(p.stat().st_size for p in out.glob("*.tar"))
    assert stats["mb_per_s"] > 0
    assert not list(out.glob("*.tmp"))


def test_shard_pattern_single_shard():
    assert shard_pattern("s3://b/p/", "test", 1) == "s3://b/p/test-{000000..000000}.tar"


def test_partial_shard_is_never_visible_under_its_final_name(tmp_path):
    writer = ShardWriter(str(tmp_path), "train", samples_per_shard=3)
    for i in range(4):
        writer.write(_sample(f"{i:03d}", i))
    # first shard complete and renamed; second open under a temporary name only
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train-000000.tar", "train-000001.tar.tmp"]
    shards = writer.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train-000000.tar", "train-000001.tar"]
    assert [s.num_samples for s in shards] == [3, 1]


def test_failed_write_leaves_no_temporary_file(tmp_path):
    with pytest.raises(RuntimeError):
        with ShardWriter(str(tmp_path), "train", samples_per_shard=10) as writer:
            writer.write(_sample("000"))
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("key", ["a.b", "a/b", ""])
def test_writer_rejects_keys_webdataset_would_split(tmp_path, key):
    with pytest.raises(ValueError):
        ShardWriter(str(tmp_path)).write(_sample(key))


def test_rerun_is_byte_identical(curated, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    stats_a = export_shards(curated, str(a), samples_per_shard=5)
    export_shards(curated, str(b), samples_per_shard=5)
    assert _digests(a) == _digests(b)
    assert stats_a["shard_sha256"] == {k: v for k, v in _digests(a).items() if k.endswith(".tar")}
    export_shards(curated, str(a), samples_per_shard=5)  # same folder again
    assert _digests(a) == _digests(b)


def test_rerun_with_fewer_shards_removes_stale_ones(curated, tmp_path):
    export_shards(curated, str(tmp_path), samples_per_shard=5)
    stats = export_shards(curated, str(tmp_path), samples_per_shard=10)
    assert sorted(p.name for p in tmp_path.glob("*.tar")) == [f"train-{i:06d}.tar" for i in range(3)]
    assert stats["num_shards"] == 3


def test_webdataset_reads_every_sample(curated, tmp_path):
    stats = export_shards(curated, str(tmp_path), samples_per_shard=5, split="train")
    manifest = pq.read_table(tmp_path / MANIFEST_NAME).to_pylist()
    by_key = {m["key"]: m for m in manifest}
    seen = set()
    for sample in wds.WebDataset(stats["shards"], shardshuffle=False).decode("pil"):
        meta = sample["json"]
        image = sample.get("png") or sample.get("jpg")
        assert image.size == (16, 16)
        assert sample["txt"] in meta["captions"]
        assert sample["txt"] == choose_caption(meta["captions"], meta["sample_id"], 0)
        assert by_key[sample["__key__"]]["sample_id"] == meta["sample_id"]
        assert sample["__url__"].endswith(by_key[sample["__key__"]]["shard"])
        seen.add(meta["sample_id"])
    assert seen == {f"src/train/{i:04d}" for i in range(23)}


def test_jpeg_rows_keep_their_bytes_as_jpg(curated, tmp_path):
    stats = export_shards(curated, str(tmp_path), samples_per_shard=100)
    rows = {r["sample_id"]: r for r in _curated_rows()}
    for sample in wds.WebDataset(stats["shards"], shardshuffle=False):
        sid = json.loads(sample["json"])["sample_id"]
        ext = "jpg" if rows[sid]["image_format"] == "jpeg" else "png"
        assert sample[ext] == rows[sid]["image"]["bytes"]


def test_manifest_in_pyarrow_and_duckdb(curated, tmp_path):
    stats = export_shards(curated, str(tmp_path), samples_per_shard=5, split="test")
    table = pq.read_table(tmp_path / MANIFEST_NAME)
    assert table.column_names == ["sample_id", "shard", "key", "source", "modality", "label", "bytes"]
    assert table.num_rows == stats["num_samples"] == 7
    per_shard = duckdb.execute(
        "SELECT shard, count(*) AS n, sum(bytes) AS b FROM read_parquet(?) GROUP BY shard ORDER BY shard",
        [str(tmp_path / MANIFEST_NAME)],
    ).fetchall()
    assert [(s, n) for s, n, _ in per_shard] == [("test-000000.tar", 5), ("test-000001.tar", 2)]
    assert all(b > 0 for _, _, b in per_shard)
    labels = duckdb.execute(
        "SELECT label, count(*) FROM read_parquet(?) GROUP BY label ORDER BY label", [str(tmp_path / MANIFEST_NAME)]
    ).fetchall()
    assert labels == [("normal", 4), ("pneumonia", 3)]


def test_rows_without_image_or_caption_are_skipped_and_counted(tmp_path):
    rows = _curated_rows(n_train=6, n_test=0)
    rows[0]["captions"] = []
    rows[1]["captions"] = ["  ", None]
    rows[2]["image"] = {"bytes": None, "path": "missing.png"}
    stats = export_shards(_write_curated(tmp_path / "c.parquet", rows), str(tmp_path / "out"))
    assert stats["num_samples"] == 3
    assert stats["skipped"] == {"no_image": 1, "no_caption": 2}
    assert stats["rows_read"] == 6


def test_caption_choice_is_keyed_by_sample_id_and_seed():
    captions = [f"caption {i}" for i in range(10)]
    picks = [choose_caption(captions, f"id-{i}") for i in range(500)]
    assert picks == [choose_caption(captions, f"id-{i}") for i in range(500)]
    assert set(picks) == set(captions)  # every caption gets used
    other_seed = [choose_caption(captions, f"id-{i}", seed=1) for i in range(500)]
    assert sum(a != b for a, b in zip(picks, other_seed)) > 300


def test_caption_choice_does_not_depend_on_row_order(tmp_path):
    rows = _curated_rows(n_train=12, n_test=0)
    a = export_shards(_write_curated(tmp_path / "a.parquet", rows), str(tmp_path / "a"))
    b = export_shards(_write_curated(tmp_path / "b.parquet", rows[::-1]), str(tmp_path / "b"))

    def captions(stats):
        return {json.loads(s["json"])["sample_id"]: s["txt"]
                for s in wds.WebDataset(stats["shards"], shardshuffle=False)}

    assert captions(a) == captions(b)


def test_export_through_fsspec_memory_filesystem_matches_local(curated, tmp_path):
    local = export_shards(curated, str(tmp_path / "local"), samples_per_shard=10)
    remote = export_shards(curated, "memory://medpairs-test/shards", samples_per_shard=10)
    fs = fsspec.filesystem("memory")
    try:
        assert remote["shards"] == "memory://medpairs-test/shards/train-{000000..000002}.tar"
        assert remote["shard_sha256"] == local["shard_sha256"]
        names = sorted(p.rsplit("/", 1)[-1] for p in fs.ls("/medpairs-test/shards", detail=False))
        assert names == [MANIFEST_NAME, "sizes.json", "train-000000.tar", "train-000001.tar", "train-000002.tar"]
        with fs.open("/medpairs-test/shards/train-000001.tar", "rb") as f:
            assert hashlib.sha256(f.read()).hexdigest() == local["shard_sha256"]["train-000001.tar"]
    finally:
        fs.rm("/medpairs-test", recursive=True)
