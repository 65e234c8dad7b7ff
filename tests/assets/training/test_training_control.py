"""The shuffled-caption control's data: the training captions permuted against their images, every other
row copied as it is, the same copy on every rerun; its shards written with the trained run's mixture."""

from collections import Counter

import pyarrow as pa
import pyarrow.parquet as pq

from assets.export.mixture import read_mixture
from assets.export.webdataset import export_shards
from assets.sources.catalog import SourceMixture
from assets.training.control import export_shuffled_shards, write_shuffled_pairs
from tests.assets.export.export_helpers import curated_rows, write_curated

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


def test_control_shards_repeat_and_cap_each_pair_as_the_trained_shards_do(tmp_path):
    pairs = write_curated(tmp_path / "pairs.parquet", [*curated_rows(n_train=10, source="up"),
                                                       *curated_rows(n_train=8, source="capped")])
    mixture = {"up": SourceMixture(weight=1.5), "capped": SourceMixture(cap=3)}
    trained = export_shards(pairs, str(tmp_path / "shards"), mixture=mixture, seed=4)
    export_shuffled_shards(pairs, str(tmp_path / "shuffled.parquet"), str(tmp_path / "control"), seed=9,
                           mixture=read_mixture(str(tmp_path / "shards" / "mixture.json")))

    def copies(folder):
        return Counter(pq.read_table(tmp_path / folder / "manifest.parquet").column("sample_id").to_pylist())

    assert copies("control") == copies("shards") and trained["num_samples"] == copies("control").total()
    assert sorted(set(copies("control").values())) == [1, 2] and trained["skipped"]["mixture_cap"] == 5
