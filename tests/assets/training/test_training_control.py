"""The shuffled-caption control's data: the training captions permuted against their images, every other
row copied as it is, the same copy on every rerun."""

from collections import Counter

import pyarrow as pa
import pyarrow.parquet as pq

from assets.training.control import write_shuffled_pairs

LABELS = ("left lesion", "right lesion", "upper mass")


def _pairs(path) -> str:
    rows = [{"sample_id": f"{split}-{i}", "label": LABELS[i % 3], "split": split, "image": bytes([i, len(split)]),
             "captions": [f"An image showing a {LABELS[i % 3]}.", f"variant {i}"]}
            for split, n in (("train", 48), ("test", 12)) for i in range(n)]
    pq.write_table(pa.Table.from_pylist(rows), path)
    return str(path)


def test_shuffled_copy_permutes_training_captions_only(tmp_path):
    pairs = _pairs(tmp_path / "pairs.parquet")
    src = pq.read_table(pairs).to_pylist()
    stats = write_shuffled_pairs(pairs, str(tmp_path / "a.parquet"), seed=1, batch_rows=7)
    out = pq.read_table(tmp_path / "a.parquet").to_pylist()
    assert stats["rows"] == len(src) == len(out)
    assert [r["sample_id"] for r in out] == [r["sample_id"] for r in src]
    assert all(a["image"] == b["image"] and a["label"] == b["label"] for a, b in zip(src, out))
    train = [(a, b) for a, b in zip(src, out) if a["split"] == "train"]
    assert stats["shuffled"] == len(train)
    assert Counter(map(tuple, (a["captions"] for a, _ in train))) == Counter(map(tuple, (b["captions"] for _, b in train)))
    assert sum(a["captions"] != b["captions"] for a, b in train) == len(train) - stats["unchanged_pairs"] > len(train) // 2
    # the label no longer predicts the caption: most training captions now name another class
    named = sum(b["label"] in b["captions"][0] for _, b in train)
    assert named < len(train) * 0.6
    assert all(a["captions"] == b["captions"] for a, b in zip(src, out) if a["split"] == "test")
    write_shuffled_pairs(pairs, str(tmp_path / "b.parquet"), seed=1)
    assert pq.read_table(tmp_path / "b.parquet").equals(pq.read_table(tmp_path / "a.parquet"))
    assert not list(tmp_path.glob("*.tmp"))  # published whole, through the shared writer
