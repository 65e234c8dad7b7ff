import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from assets.curation.curate import check_invariants, curate


def _sample(sample_id, pixel, *, source="src_a", label="normal", split="train", size=64, kind="classification"):
    row = {
        "sample_id": sample_id, "source": source, "modality": "xray", "label": label, "split": split,
        "image": {"bytes": pixel.encode(), "path": f"{sample_id}.png"}, "image_format": "png",
        "width": size, "height": size, "pixel_sha256": pixel, "phash": hash(pixel) & 0x7FFFFFFF,
        "pixel_mean": 100.0, "pixel_std": 20.0, "kind": kind,
    }
    return row


@pytest.fixture
def captions_path(tmp_path):
    path = tmp_path / "captions.parquet"
    pq.write_table(pa.Table.from_pylist([
        {"source": "src_a", "label": "normal", "caption": "A normal chest X-ray.", "status": "valid", "origin": "llm"},
        {"source": "src_a", "label": "normal", "caption": "Clear lungs, normal study.", "status": "valid", "origin": "llm"},
        {"source": "src_a", "label": "normal", "caption": "Pneumonia.", "status": "rejected", "origin": "llm"},
        {"source": "src_a", "label": "pneumonia", "caption": "Bad.", "status": "rejected", "origin": "llm"},
    ]), path)
    return str(path)


def _run(tmp_path, rows, captions_path):
    raw = tmp_path / "raw.parquet"
    pq.write_table(pa.Table.from_pylist(rows), raw)
    pairs, log = str(tmp_path / "pairs.parquet"), str(tmp_path / "log.parquet")
    stats = curate(str(raw), captions_path, pairs, log)
    return stats, pq.read_table(pairs).to_pylist(), pq.read_table(log).to_pylist()


def test_every_sample_is_kept_or_logged_with_a_reason(tmp_path, captions_path):
    rows = [
        _sample("a1", "h1"),
        _sample("a2", "h1", size=32),             # exact duplicate of a1, smaller: dropped
        _sample("a3", "h2"),
        _sample("t1", "h2", split="test"),        # a3 is a training copy of this test image
        _sample("t2", "h3", split="test", label="pneumonia"),
        _sample("a4", "h4", label="pneumonia"),   # its class has no valid caption
    ]
    stats, pairs, log = _run(tmp_path, rows, captions_path)

    assert stats["samples_in"] == 6 == stats["kept"] + stats["dropped"]
    assert {r["sample_id"] for r in pairs} == {"a1", "t1", "t2"}
    reasons = {r["sample_id"]: (r["reason"], r["duplicate_of"]) for r in log}
    assert reasons == {
        "a2": ("exact_duplicate", "a1"),
        "a3": ("evaluation_duplicate", "t1"),
        "a4": ("no_valid_caption", None),
    }
    assert stats["dropped_by_reason"] == {"evaluation_duplicate": 1, "exact_duplicate": 1, "no_valid_caption": 1}


def test_training_pairs_carry_every_valid_caption_and_image_bytes(tmp_path, captions_path):
    _, pairs, _ = _run(tmp_path, [_sample("a1", "h1")], captions_path)
    (pair,) = pairs
    assert sorted(pair["captions"]) == ["A normal chest X-ray.", "Clear lungs, normal study."]
    assert pair["image"]["bytes"] == b"h1"


def test_image_text_sample_wins_over_classification_copy(tmp_path, captions_path):
    rows = [_sample("c1", "h1", size=128), _sample("x1", "h1", size=64, kind="image_text")]
    _, pairs, log = _run(tmp_path, rows, captions_path)
    assert [r["sample_id"] for r in pairs] == ["x1"]
    assert log[0]["duplicate_of"] == "x1"


def test_outputs_are_readable_by_duckdb_and_invariants_hold(tmp_path, captions_path):
    rows = [_sample(f"s{i}", f"h{i % 3}") for i in range(9)] + [_sample("t", "h0", split="test")]
    stats, _, _ = _run(tmp_path, rows, captions_path)
    pairs = str(tmp_path / "pairs.parquet")
    assert check_invariants(pairs) == {"train_eval_overlap": 0, "duplicate_train_hashes": 0}
    (n,), = duckdb.sql(f"select count(*) from read_parquet('{pairs}')").fetchall()
    assert n == stats["kept"] == 3  # h1, h2 in training; h0 only as the protected test image


def test_invariants_detect_leaks(tmp_path):
    pairs = tmp_path / "bad.parquet"
    pq.write_table(pa.Table.from_pylist([
        {"sample_id": "a", "split": "train", "pixel_sha256": "h"},
        {"sample_id": "b", "split": "train", "pixel_sha256": "h"},
        {"sample_id": "c", "split": "test", "pixel_sha256": "h"},
    ]), pairs)
    assert check_invariants(str(pairs)) == {"train_eval_overlap": 2, "duplicate_train_hashes": 1}
