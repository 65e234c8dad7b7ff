"""The training bench's pieces that need no training: joined candidates, and the pairs it trains on (drawn
images of every synthetic class with that class's valid captions only)."""

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from assets.sources.synthetic import SYNTHETIC_SOURCES
from bench.training import CANDIDATES, candidate, write_pairs


def test_joined_candidates_apply_every_change():
    assert candidate("default") == {}
    assert candidate("text-from-scratch+threads-1") == {**CANDIDATES["text-from-scratch"], "threads": 1}
    assert candidate("text-from-scratch+epochs-20")["epochs"] == 20  # later parts win


def test_pairs_carry_each_class_s_valid_captions(tmp_path):
    rows = [{"source": s.name, "label": c.name, "caption": f"{c.name} {status}", "status": status}
            for s in SYNTHETIC_SOURCES for c in s.classes for status in ("valid", "rejected")]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "captions.parquet")
    counts = write_pairs(str(tmp_path / "pairs.parquet"), str(tmp_path / "captions.parquet"), 2, 1, 32)
    classes = sum(len(s.classes) for s in SYNTHETIC_SOURCES)
    assert counts == {"train": 2 * classes, "test": classes}
    pairs = pq.read_table(tmp_path / "pairs.parquet").to_pylist()
    assert all(p["captions"] == [f"{p['label']} valid"] for p in pairs)
    pq.write_table(pa.Table.from_pylist(rows[2:]), tmp_path / "missing.parquet")
    with pytest.raises(ValueError, match="no valid caption"):
        write_pairs(str(tmp_path / "pairs.parquet"), str(tmp_path / "missing.parquet"), 1, 1, 32)
