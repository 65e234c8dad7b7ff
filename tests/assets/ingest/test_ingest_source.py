"""ingest_source: a source cut into part files, the same output with any number of worker processes."""

from __future__ import annotations

from pathlib import Path

import fsspec
import pyarrow.parquet as pq
import pytest

from assets.ingest import chunked
from assets.ingest.chunked import ingest_source
from assets.ingest.ingest import QUARANTINE_SCHEMA, SAMPLE_SCHEMA
from assets.ingest.parts import published_parts
from assets.shared.progress import StepProgress
from assets.sources.synthetic import generate_synthetic_dataset


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> tuple[Path, list[dict]]:
    root = tmp_path_factory.mktemp("synthetic")
    rows, _ = generate_synthetic_dataset(root, train_per_class=1, test_per_class=0, image_size=32, seed=2)
    good = (root / rows[0]["path"]).read_bytes()
    (root / "truncated.png").write_bytes(good[: len(good) // 2])
    return root, rows[:16]


def _run(root: Path, out: Path, rows, **kw) -> dict:
    return ingest_source(rows, root=str(root), out_dir=str(out / "samples"),
                         quarantine_dir=str(out / "quarantine"), **kw)


def _parts(out: Path, kind: str) -> list[str]:
    """The published parts of `out`/`kind`, checked to be the only part files there."""
    published = [Path(p) for p in published_parts(str(out / kind))]
    assert sorted(published) == sorted((out / kind).glob("part-*.parquet"))
    return published


def _files(out: Path, kind: str) -> list[str]:
    return sorted(p.name for p in (out / kind).iterdir())


def test_chunks_become_parts_whose_counts_balance(dataset, tmp_path):
    root, rows = dataset
    # Chunks of 5: the bad rows fall in the middle chunk (rows 5..9).
    listed = [*rows[:6], {"path": "missing.png", "source": "broken"},
              {"path": "truncated.png", "source": "broken"}, *rows[6:]]
    stats = _run(root, tmp_path, listed, chunk_rows=5, batch_size=2)
    assert (stats["parts"], stats["workers"], stats["chunk_rows"]) == (4, 1, 5)
    assert stats["rows_read"] == len(listed) == stats["ingested"] + stats["quarantined"]
    assert stats["ingested"] == len(rows)
    assert stats["quarantine_reasons"] == {"corrupt": 1, "missing_file": 1}
    assert stats["per_source"]["broken"] == {"ingested": 0, "quarantined": 2}
    assert sum(c["ingested"] for c in stats["per_source"].values()) == len(rows)
    names = [p.name for p in _parts(tmp_path, "samples")]
    assert names == [p.name for p in _parts(tmp_path, "quarantine")]
    assert [n.rsplit("-", 1)[1] for n in names] == [f"{i:05d}.parquet" for i in range(4)]
    samples = [pq.read_table(tmp_path / "samples" / n) for n in names]
    quarantine = [pq.read_table(tmp_path / "quarantine" / n) for n in names]
    assert [t.num_rows for t in samples] == [5, 3, 5, 3]
    assert [t.num_rows for t in quarantine] == [0, 2, 0, 0]
    assert quarantine[1].column("reason").to_pylist() == ["missing_file", "corrupt"]
    assert all(t.schema.equals(SAMPLE_SCHEMA, check_metadata=True) for t in samples)
    assert all(t.schema.equals(QUARANTINE_SCHEMA) for t in quarantine)
    got = [p for t in samples for p in t.column("orig_path").to_pylist()]
    assert got == [r["path"] for r in rows]  # every part keeps the order of its rows


def test_repeats_are_quarantined_in_whichever_chunk_they_fall(dataset, tmp_path):
    root, rows = dataset
    repeat_bytes = {**rows[1], "image_bytes": (root / rows[1]["path"]).read_bytes()}
    listed = [*rows[:6], dict(rows[0]), repeat_bytes, dict(rows[7]), {"source": "s"}]  # chunks of 4
    stats = _run(root, tmp_path, listed, chunk_rows=4)
    assert stats["ingested"] == 7
    assert stats["quarantine_reasons"] == {"bad_row": 1, "duplicate_row": 2}
    assert stats["rows_read"] == len(listed) == stats["ingested"] + stats["quarantined"]
    second = pq.read_table(_parts(tmp_path, "quarantine")[1]).to_pylist()
    assert [(r["orig_path"], r["reason"]) for r in second] == [(rows[0]["path"], "duplicate_row"),
                                                               (rows[1]["path"], "duplicate_row")]


def test_workers_give_the_same_parts_and_read_rows_lazily(dataset, tmp_path):
    root, rows = dataset
    listed = [*rows, {"path": "missing.png", "source": "broken"}, dict(rows[3])]
    one = _run(root, tmp_path / "one", listed, chunk_rows=2)
    pulled_at_chunk_start = []

    def lazily():
        for i, row in enumerate(listed):
            if i % 2 == 0:  # the first row of chunk i // 2: parts written so far
                done = list((tmp_path / "two" / "samples").glob("part-*.parquet"))
                pulled_at_chunk_start.append((i // 2, len(done)))
            yield row

    two = _run(root, tmp_path / "two", lazily(), chunk_rows=2, workers=2)
    assert (one["parts"], two["parts"], two["workers"]) == (9, 9, 2)
    for key in ("rows_read", "ingested", "quarantined", "quarantine_reasons", "per_source", "bytes_written"):
        assert one[key] == two[key]
    # At most 2 * workers chunks in flight: chunk j is cut only once chunk j - 4 is written.
    assert all(done >= chunk - 4 for chunk, done in pulled_at_chunk_start), pulled_at_chunk_start
    for kind in ("samples", "quarantine"):
        ones, twos = _parts(tmp_path / "one", kind), _parts(tmp_path / "two", kind)
        assert len(ones) == len(twos)
        for a, b in zip(ones, twos):
            assert pq.read_table(a).equals(pq.read_table(b))
    ids = [sorted(pq.read_table(tmp_path / run / "samples", columns=["sample_id", "pixel_sha256"]).to_pylist(),
                  key=lambda r: r["sample_id"]) for run in ("one", "two")]
    assert ids[0] == ids[1] and len(ids[0]) == len(rows)


def test_rows_carrying_images_end_a_chunk_early(dataset, tmp_path, monkeypatch):
    root, rows = dataset
    image = (root / rows[0]["path"]).read_bytes()
    monkeypatch.setattr(chunked, "CHUNK_BYTES", 2 * len(image))
    stats = _run(root, tmp_path, [{**r, "image_bytes": image} for r in rows[:5]], chunk_rows=100)
    assert (stats["parts"], stats["ingested"]) == (3, 5)


def test_parts_of_an_earlier_longer_run_are_removed(dataset, tmp_path):
    root, rows = dataset
    assert _run(root, tmp_path, rows, chunk_rows=3)["parts"] == 6
    (tmp_path / "samples" / "notes.txt").write_text("not a part")
    assert _run(root, tmp_path, rows[:5], chunk_rows=4)["parts"] == 2
    assert len(_parts(tmp_path, "samples")) == len(_parts(tmp_path, "quarantine")) == 2
    assert "notes.txt" in _files(tmp_path, "samples")
    assert sum(pq.read_metadata(p).num_rows for p in _parts(tmp_path, "samples")) == 5


def test_a_run_failing_midway_leaves_the_last_complete_run_published(dataset, tmp_path):
    root, rows = dataset
    _run(root, tmp_path, rows[:6], chunk_rows=2)
    before = {kind: _parts(tmp_path, kind) for kind in ("samples", "quarantine")}

    def failing():
        yield from rows[:5]
        raise OSError("listing the source broke")

    with pytest.raises(OSError, match="listing the source broke"):
        _run(root, tmp_path, failing(), chunk_rows=2)
    assert {kind: _parts(tmp_path, kind) for kind in ("samples", "quarantine")} == before
    assert sum(pq.read_metadata(p).num_rows for p in before["samples"]) == 6


def test_empty_source_writes_one_empty_part(dataset, tmp_path):
    root, rows = dataset
    _run(root, tmp_path, rows, chunk_rows=4)
    stats = _run(root, tmp_path, iter([]), chunk_rows=4, workers=2)
    assert (stats["parts"], stats["rows_read"], stats["ingested"], stats["quarantined"]) == (1, 0, 0, 0)
    for kind, schema in (("samples", SAMPLE_SCHEMA), ("quarantine", QUARANTINE_SCHEMA)):
        (part,) = _parts(tmp_path, kind)
        table = pq.read_table(part)
        assert table.num_rows == 0 and table.schema.equals(schema)


def test_parts_through_fsspec_urls(dataset):
    """Same code path as s3://: parts written, listed and removed on a non-local filesystem."""
    root, rows = dataset
    mem = fsspec.filesystem("memory")
    for row in rows[:4]:
        mem.pipe(f"/src-in/{row['path']}", (root / row["path"]).read_bytes())
    mem.pipe("/src-out/samples/part-0a0a0a0a0a0a-00007.parquet", b"stale")
    stats = ingest_source(rows[:4], root="memory://src-in", out_dir="memory://src-out/samples/",
                          quarantine_dir="memory://src-out/quarantine", chunk_rows=3)
    assert (stats["parts"], stats["ingested"]) == (2, 4)
    published = published_parts("memory://src-out/samples")
    assert len(published) == 2
    assert sorted(mem.ls("/src-out/samples", detail=False)) == sorted(
        ["/src-out/samples/_parts.json", *("/" + p.removeprefix("memory://") for p in published)])
    assert len(mem.ls("/src-out/quarantine", detail=False)) == 3


@pytest.mark.parametrize("kw", [{"chunk_rows": 0}, {"workers": 0}, {"output_format": "gif"}])
def test_rejects_bad_settings(dataset, tmp_path, kw):
    with pytest.raises(ValueError):
        _run(dataset[0], tmp_path, [], **kw)


@pytest.mark.parametrize("workers", [1, 2])
def test_progress_counts_the_rows_of_each_part_written(dataset, tmp_path, workers):
    root, rows = dataset
    lines = []
    progress = StepProgress("ingest synthetic", unit="rows", log_line=lines.append, every_s=0, bar=False)
    _run(root, tmp_path, rows, chunk_rows=4, workers=workers, progress=progress)
    # A line per part as it is written (every_s=0): rows so far, no total (the rows are read lazily).
    assert [line.split(",")[0] for line in lines] == [f"ingest synthetic: {4 * k} rows" for k in (1, 2, 3, 4)]
    assert progress.status == "4 parts written" and lines[-1].endswith("; 4 parts written")
