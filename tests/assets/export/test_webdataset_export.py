"""WebDataset export: shard names and size bounds, atomic and resumable writes (a real kill midway),
byte-identical re-runs, readability by webdataset, tarfile and GNU tar, the manifests in pyarrow and
DuckDB, and fsspec paths."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import duckdb
import fsspec
import numpy as np
import pyarrow.parquet as pq
import pytest
import webdataset as wds
from export_helpers import curated_rows, image_bytes, write_curated

from assets.export.shard_writer import ShardWriter, stats_name
from assets.export.tar import member_bytes, tar_header
from assets.export.webdataset import (
    MANIFEST_NAME,
    SHARDS_NAME,
    caption_text,
    choose_caption,
    export_shards,
    shard_pattern,
)

REPO_ROOT = Path(__file__).resolve().parents[3]
@pytest.fixture
def curated(tmp_path) -> str:
    return write_curated(tmp_path / "curated.parquet", curated_rows())


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def _sample(key: str, i: int = 0, size: int = 16) -> dict:
    return {"key": key, "image": image_bytes(np.random.default_rng(i), "PNG", size), "image_ext": "png",
            "txt": f"caption {i}", "json": {"i": i}}


def _read(stats: dict, decode: bool = False) -> list[dict]:
    dataset = wds.WebDataset(stats["shards"], shardshuffle=False)
    return list(dataset.decode("pil") if decode else dataset)


# -- shards ---------------------------------------------------------------------------------------------

def test_shard_names_counts_and_pattern(curated, tmp_path):
    out = tmp_path / "shards"
    stats = export_shards(curated, str(out), samples_per_shard=5)
    assert stats["num_samples"] == 23 and stats["num_shards"] == 5
    assert sorted(p.name for p in out.glob("*.tar")) == [f"train-{i:06d}.tar" for i in range(5)]
    assert stats["shards"] == f"{out}/train-{{000000..000004}}.tar"
    assert json.loads((out / "sizes.json").read_text()) == {f"train-{i:06d}.tar": n for i, n in enumerate([5] * 4 + [3])}
    assert stats["bytes"] == sum(p.stat().st_size for p in out.glob("*.tar"))
    assert (stats["shards_written"], stats["shards_reused"]) == (5, 0)
    assert stats["mb_per_s"] > 0
    assert not list(out.glob("*.tmp"))


def test_shard_pattern_single_shard():
    assert shard_pattern("s3://b/p/", "test", 1) == "s3://b/p/test-{000000..000000}.tar"


def test_size_cap_closes_shards_early_and_deterministically(tmp_path):
    samples = [_sample(f"{i:03d}", i, size=8 + 4 * (i % 5)) for i in range(40)]
    sizes = [sum(member_bytes(n) for n in (len(s["image"]), len(s["txt"]), len(json.dumps(s["json"])))) for s in samples]
    cap = 4 * max(sizes) + 1024
    layouts = []
    for run in ("a", "b"):
        with ShardWriter(str(tmp_path / run), "train", samples_per_shard=100, max_shard_bytes=cap) as writer:
            layouts.append([writer.write(s).shard for s in samples])
        assert all(s.num_bytes <= cap for s in writer.shards)
        assert len(writer.shards) > 40 * min(sizes) // cap
    assert layouts[0] == layouts[1]
    assert _digests(tmp_path / "a") == _digests(tmp_path / "b")


def test_a_sample_larger_than_the_cap_gets_a_shard_of_its_own(tmp_path):
    with ShardWriter(str(tmp_path), "train", samples_per_shard=10, max_shard_bytes=4096) as writer:
        shards = [writer.write(_sample(f"{i}", i, size=8 if i != 1 else 64)).shard for i in range(3)]
    assert shards == ["train-000000.tar", "train-000001.tar", "train-000002.tar"]
    assert [s.num_samples for s in writer.shards] == [1, 1, 1]


def test_an_open_shard_is_never_on_disk(tmp_path):
    writer = ShardWriter(str(tmp_path), "train", samples_per_shard=3)
    for i in range(4):
        writer.write(_sample(f"{i:03d}", i))
    writer._collect()  # wait for the first shard, stored in the background
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train-000000.tar", stats_name("train-000000.tar")]
    shards = writer.close()
    assert sorted(p.name for p in tmp_path.glob("*.tar")) == ["train-000000.tar", "train-000001.tar"]
    assert [s.num_samples for s in shards] == [3, 1]


def test_failed_export_leaves_complete_shards_only(tmp_path):
    with pytest.raises(RuntimeError):
        with ShardWriter(str(tmp_path), "train", samples_per_shard=2) as writer:
            for i in range(5):
                writer.write(_sample(f"{i:03d}", i))
            raise RuntimeError("boom")
    assert sorted(p.name for p in tmp_path.glob("*.tar")) == ["train-000000.tar", "train-000001.tar"]
    assert not list(tmp_path.glob("*.tmp"))


@pytest.mark.parametrize("key", ["a.b", "a/b", ""])
def test_writer_rejects_keys_webdataset_would_split(tmp_path, key):
    with pytest.raises(ValueError):
        ShardWriter(str(tmp_path)).write(_sample(key))


def test_tar_is_plain_ustar_that_tarfile_and_gnu_tar_read(tmp_path):
    with ShardWriter(str(tmp_path), "train", samples_per_shard=10) as writer:
        for i in range(3):
            writer.write(_sample(f"{i:03d}", i))
    path = tmp_path / "train-000000.tar"
    with tarfile.open(path) as tar:
        members = tar.getmembers()
        assert [m.name for m in members] == [f"{i:03d}.{ext}" for i in range(3) for ext in ("png", "txt", "json")]
        assert {(m.mtime, m.mode, m.uid, m.gid, m.type) for m in members} == {(0, 0o644, 0, 0, tarfile.REGTYPE)}
        assert tar.extractfile("001.txt").read() == b"caption 1"
    listing = subprocess.run(["tar", "-tf", str(path)], capture_output=True, text=True, check=True).stdout.split()
    assert listing == [m.name for m in members]
    # the header builder agrees with tarfile's own ustar encoding
    info = tarfile.TarInfo("000.png")
    info.size, info.mtime, info.mode, info.uname, info.gname = 1234, 0, 0o644, "", ""
    assert tar_header(b"000.png", 1234) == info.tobuf(tarfile.USTAR_FORMAT)


# -- re-runs and resume ---------------------------------------------------------------------------------

def test_rerun_is_byte_identical_and_keeps_every_shard(curated, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    stats_a = export_shards(curated, str(a), samples_per_shard=5)
    export_shards(curated, str(b), samples_per_shard=5, resume=False)
    assert _digests(a) == _digests(b)
    assert stats_a["shard_sha256"] == {k: v for k, v in _digests(a).items() if k.endswith(".tar")}
    inodes = {p.name: p.stat().st_ino for p in a.glob("*.tar")}
    again = export_shards(curated, str(a), samples_per_shard=5)
    assert (again["shards_written"], again["shards_reused"]) == (0, 5)
    assert inodes == {p.name: p.stat().st_ino for p in a.glob("*.tar")}  # not rewritten
    assert _digests(a) == _digests(b)


def test_changed_input_rewrites_only_the_shards_it_changes(tmp_path):
    rows = curated_rows(n_train=20, n_test=0)
    out = tmp_path / "out"
    export_shards(write_curated(tmp_path / "a.parquet", rows), str(out), samples_per_shard=5)
    rows[12]["captions"] = ["A different caption."]
    stats = export_shards(write_curated(tmp_path / "b.parquet", rows), str(out), samples_per_shard=5)
    assert stats["reused"] == ["train-000000.tar", "train-000001.tar", "train-000003.tar"]
    clean = export_shards(str(tmp_path / "b.parquet"), str(tmp_path / "clean"), samples_per_shard=5)
    assert stats["shard_sha256"] == clean["shard_sha256"]


def test_rerun_with_fewer_shards_removes_stale_ones(curated, tmp_path):
    export_shards(curated, str(tmp_path), samples_per_shard=5)
    stats = export_shards(curated, str(tmp_path), samples_per_shard=10)
    assert sorted(p.name for p in tmp_path.glob("*.tar")) == [f"train-{i:06d}.tar" for i in range(3)]
    assert sorted(p.name for p in tmp_path.glob("*_stats.json")) == [f"train-{i:06d}_stats.json" for i in range(3)]
    assert stats["num_shards"] == 3


_KILLED_EXPORT = """
import os, signal, sys
import assets.export.shard_writer as sw
from assets.export.webdataset import export_shards
write = sw.writev_all
calls = []
def dies_in_third_shard(fd, chunks):
    calls.append(1)
    if len(calls) == 3:  # half of the third shard reaches its temporary file, then the process dies
        write(fd, chunks[: len(chunks) // 2])
        os.kill(os.getpid(), signal.SIGKILL)
    write(fd, chunks)
sw.writev_all = dies_in_third_shard
export_shards(sys.argv[1], sys.argv[2], samples_per_shard=5)
"""


def test_export_killed_midway_shows_no_partial_shard_and_a_rerun_finishes_it(curated, tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-c", _KILLED_EXPORT, curated, str(out)], cwd=REPO_ROOT,
                          env={**os.environ, "PYTHONPATH": str(REPO_ROOT)}, capture_output=True, text=True)
    assert proc.returncode == -9, proc.stderr
    clean = export_shards(curated, str(tmp_path / "clean"), samples_per_shard=5)
    # Under final names: the two complete shards only, identical to a clean export's; the third is a .tmp.
    assert sorted(p.name for p in out.glob("*.tar")) == ["train-000000.tar", "train-000001.tar"]
    assert [p.name for p in out.glob("*.tmp")] == ["train-000002.tar.tmp"]
    assert (out / "train-000002.tar.tmp").stat().st_size < (tmp_path / "clean/train-000002.tar").stat().st_size
    assert not (out / MANIFEST_NAME).exists()
    for name in ("train-000000.tar", "train-000001.tar"):
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == clean["shard_sha256"][name]
    inodes = {p.name: p.stat().st_ino for p in out.glob("*.tar")}

    stats = export_shards(curated, str(out), samples_per_shard=5)
    assert (stats["shards_reused"], stats["shards_written"]) == (2, 3)
    assert {n: (out / n).stat().st_ino for n in inodes} == inodes  # the finished shards were kept as they were
    assert _digests(out) == _digests(tmp_path / "clean")  # .tmp gone, everything else byte-identical


# -- consumers ------------------------------------------------------------------------------------------

def test_webdataset_reads_every_sample_with_all_its_captions(curated, tmp_path):
    stats = export_shards(curated, str(tmp_path), samples_per_shard=5, split="train")
    manifest = pq.read_table(tmp_path / MANIFEST_NAME).to_pylist()
    by_key = {m["key"]: m for m in manifest}
    seen = set()
    for sample in _read(stats, decode=True):
        meta = sample["json"]
        image = sample.get("png") or sample.get("jpg")
        assert image.size == (16, 16)
        assert sample["txt"].split("\n") == meta["captions"]
        assert {"sample_id", "source", "modality", "label", "split", "pixel_sha256", "path"} <= set(meta)
        assert by_key[sample["__key__"]]["sample_id"] == meta["sample_id"]
        assert by_key[sample["__key__"]]["caption_origin"] == meta["caption_origin"] == (
            "template" if int(meta["sample_id"][-4:]) % 5 == 0 else "llm")
        assert sample["__url__"].endswith(by_key[sample["__key__"]]["shard"])
        seen.add(meta["sample_id"])
    assert seen == {f"src/train/{i:04d}" for i in range(23)}
    assert stats["by_caption_origin"] == {"llm": 18, "template": 5}  # train ids 0, 5, 10, 15, 20


def test_one_caption_mode_writes_the_seeded_pick(curated, tmp_path):
    stats = export_shards(curated, str(tmp_path), samples_per_shard=5, captions="one", seed=3)
    for sample in _read(stats, decode=True):
        meta = sample["json"]
        assert sample["txt"] == choose_caption(meta["captions"], meta["sample_id"], 3)


def test_manifest_offsets_point_at_each_sample(curated, tmp_path):
    export_shards(curated, str(tmp_path), samples_per_shard=5)
    for row in pq.read_table(tmp_path / MANIFEST_NAME).to_pylist():
        with open(tmp_path / row["shard"], "rb") as f:
            f.seek(row["offset"])
            assert f.read(512)[:100].rstrip(b"\0").split(b".")[0] == row["key"].encode()


def test_jpeg_rows_keep_their_bytes_as_jpg(curated, tmp_path):
    stats = export_shards(curated, str(tmp_path), samples_per_shard=100)
    rows = {r["sample_id"]: r for r in curated_rows()}
    for sample in _read(stats):
        sid = json.loads(sample["json"])["sample_id"]
        ext = "jpg" if rows[sid]["image_format"] == "jpeg" else "png"
        assert sample[ext] == rows[sid]["image"]["bytes"]


def test_manifests_in_pyarrow_and_duckdb(curated, tmp_path):
    stats = export_shards(curated, str(tmp_path), samples_per_shard=5, split="test")
    table = pq.read_table(tmp_path / MANIFEST_NAME)
    assert table.column_names == ["sample_id", "shard", "key", "offset", "source", "modality", "label", "bytes",
                                  "caption_origin", "copy"]
    assert table.num_rows == stats["num_samples"] == 7
    per_shard = duckdb.execute(
        "SELECT shard, count(*) AS n, sum(bytes) AS b FROM read_parquet(?) GROUP BY shard ORDER BY shard",
        [str(tmp_path / MANIFEST_NAME)],
    ).fetchall()
    assert [(s, n) for s, n, _ in per_shard] == [("test-000000.tar", 5), ("test-000001.tar", 2)]
    shards = duckdb.execute(
        "SELECT shard, num_samples, bytes, payload_bytes, sha256, modalities['xray'], modalities['ct'] "
        "FROM read_parquet(?) ORDER BY shard", [str(tmp_path / SHARDS_NAME)]).fetchall()
    assert [(s, n, x, c) for s, n, _, _, _, x, c in shards] == [("test-000000.tar", 5, 3, 2), ("test-000001.tar", 2, 2, None)]
    assert [(b, sha) for _, _, b, _, sha, _, _ in shards] == [
        ((tmp_path / s).stat().st_size, stats["shard_sha256"][s]) for s, *_ in shards]
    assert [p for _, _, _, p, *_ in shards] == [b for _, _, b in per_shard]
    labels = duckdb.execute(
        "SELECT label, count(*) FROM read_parquet(?) GROUP BY label ORDER BY label", [str(tmp_path / MANIFEST_NAME)]
    ).fetchall()
    assert labels == [("normal", 4), ("pneumonia", 3)]


def test_rows_without_image_or_caption_are_skipped_and_counted(tmp_path):
    rows = curated_rows(n_train=6, n_test=0)
    rows[0]["captions"] = []
    rows[1]["captions"] = ["  ", None]
    rows[2]["image"] = {"bytes": None, "path": "missing.png"}
    rows[3]["image"] = None
    stats = export_shards(write_curated(tmp_path / "c.parquet", rows), str(tmp_path / "out"))
    assert stats["num_samples"] == 2
    assert stats["skipped"] == {"no_image": 2, "no_caption": 2, "mixture_cap": 0, "mixture_downsampled": 0}
    assert stats["rows_read"] == 6
    logged = pq.read_table(stats["export_log"]).to_pylist()
    assert sorted((r["sample_id"], r["reason"]) for r in logged) == [
        ("src/train/0000", "no_caption"), ("src/train/0001", "no_caption"),
        ("src/train/0002", "no_image"), ("src/train/0003", "no_image")]


# -- captions -------------------------------------------------------------------------------------------

def test_caption_choice_is_keyed_by_sample_id_and_seed():
    captions = [f"caption {i}" for i in range(10)]
    picks = [choose_caption(captions, f"id-{i}") for i in range(500)]
    assert picks == [choose_caption(captions, f"id-{i}") for i in range(500)]
    assert set(picks) == set(captions)  # every caption gets used
    other_seed = [choose_caption(captions, f"id-{i}", seed=1) for i in range(500)]
    assert sum(a != b for a, b in zip(picks, other_seed)) > 300


def test_captions_are_one_per_line_in_txt_and_a_list_in_json(tmp_path):
    rows = curated_rows(n_train=2, n_test=0)
    rows[0]["captions"] = ["Findings:\n  left lower lobe\topacity.", "", "Pneumonia."]
    stats = export_shards(write_curated(tmp_path / "c.parquet", rows), str(tmp_path / "out"))
    first = _read(stats, decode=True)[0]
    assert first["txt"] == "Findings: left lower lobe opacity.\nPneumonia."
    assert first["json"]["captions"] == ["Findings: left lower lobe opacity.", "Pneumonia."]


def test_caption_text_keeps_one_caption_per_line():
    captions = ["A chest\nX-ray.", "  Normal   lungs. "]
    assert caption_text(captions, "s", "all") == "A chest X-ray.\nNormal lungs."
    assert caption_text(captions, "s", "one") in {"A chest X-ray.", "Normal lungs."}
    with pytest.raises(ValueError):
        caption_text(captions, "s", "some")


def test_caption_choice_does_not_depend_on_row_order(tmp_path):
    rows = curated_rows(n_train=12, n_test=0)
    a = export_shards(write_curated(tmp_path / "a.parquet", rows), str(tmp_path / "a"), captions="one")
    b = export_shards(write_curated(tmp_path / "b.parquet", rows[::-1]), str(tmp_path / "b"), captions="one")

    def captions(stats):
        return {json.loads(s["json"])["sample_id"]: s["txt"] for s in _read(stats)}

    assert captions(a) == captions(b)


# -- fsspec ---------------------------------------------------------------------------------------------

def test_export_through_fsspec_memory_filesystem_matches_local(curated, tmp_path):
    local = export_shards(curated, str(tmp_path / "local"), samples_per_shard=10)
    remote = export_shards(curated, "memory://medpairs-test/shards", samples_per_shard=10)
    fs = fsspec.filesystem("memory")
    try:
        assert remote["shards"] == "memory://medpairs-test/shards/train-{000000..000002}.tar"
        assert remote["shard_sha256"] == local["shard_sha256"]
        names = sorted(p.rsplit("/", 1)[-1] for p in fs.ls("/medpairs-test/shards", detail=False))
        assert names == sorted([MANIFEST_NAME, SHARDS_NAME, "sizes.json", "export_log.parquet", "mixture.json"]
                               + [f"train-{i:06d}{suffix}" for i in range(3) for suffix in (".tar", "_stats.json")])
        with fs.open("/medpairs-test/shards/train-000001.tar", "rb") as f:
            assert hashlib.sha256(f.read()).hexdigest() == local["shard_sha256"]["train-000001.tar"]
        again = export_shards(curated, "memory://medpairs-test/shards", samples_per_shard=10)
        assert again["shards_reused"] == 3
    finally:
        fs.rm("/medpairs-test", recursive=True)


def test_every_split_is_exported_evaluated_or_counted_as_skipped(tmp_path):
    rows = curated_rows(n_train=6, n_test=3)
    for row in rows[:2]:
        row["split"] = "val"
    rows[2]["captions"] = []  # a training row without a caption: skipped at export, counted
    stats = export_shards(write_curated(tmp_path / "curated.parquet", rows), str(tmp_path / "shards"))
    assert stats["num_samples"] == 3
    assert stats["splits"] == {
        "train": {"rows": 4, "outcome": "exported", "exported": 3, "samples": 3,
                  "skipped": {"no_image": 0, "no_caption": 1, "mixture_cap": 0, "mixture_downsampled": 0}},
        "test": {"rows": 3, "outcome": "evaluated", "reason": "held out for benchmark_report"},
        "val": {"rows": 2, "outcome": "skipped",
                "reason": "split 'val' is neither exported for training nor evaluated"},
    }
