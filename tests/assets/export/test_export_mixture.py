"""The source mixture at export: weights and caps per source on a small curated set of three sources,
counted in the real shards read back with webdataset; deterministic; the test split untouched; every
training pair written or logged with its reason."""

from __future__ import annotations

import itertools
import json
from collections import Counter

import pyarrow.parquet as pq
import pytest
import webdataset as wds
from export_helpers import curated_rows, write_curated

from assets.export.mixture import plan_copies
from assets.export.webdataset import export_shards
from assets.sources.catalog import SourceMixture

MIXTURE = {"up": SourceMixture(weight=2.5), "capped": SourceMixture(cap=5)}


@pytest.fixture
def curated(tmp_path) -> str:
    rows = [*curated_rows(n_train=20, n_test=4, source="up"), *curated_rows(n_train=12, n_test=4, source="capped"),
            *curated_rows(n_train=6, n_test=3, source="plain")]
    return write_curated(tmp_path / "curated.parquet", rows)


def _shard_samples(stats: dict) -> list[dict]:
    return [json.loads(s["json"]) for s in wds.WebDataset(stats["shards"], shardshuffle=False)]


def test_weights_and_caps_in_the_shards_read_back(curated, tmp_path):
    stats = export_shards(curated, str(tmp_path / "shards"), samples_per_shard=16, mixture=MIXTURE)
    samples = _shard_samples(stats)
    per_source = Counter(s["source"] for s in samples)
    copies = Counter(s["sample_id"] for s in samples)
    up = [n for sid, n in copies.items() if sid.startswith("up/")]
    # weight 2.5: every pair twice, about half of them a third time (a seeded draw per pair)
    assert len(up) == 20 and set(up) == {2, 3} and 4 <= up.count(3) <= 16
    assert per_source["up"] == sum(up)
    assert per_source["capped"] == 5 and {n for sid, n in copies.items() if sid.startswith("capped/")} == {1}
    assert per_source["plain"] == 6
    assert stats["num_samples"] == len(samples) == per_source.total()
    assert stats["num_pairs"] == 20 + 5 + 6
    # A pair's copies are written in later passes, so they are never neighbours in a shard.
    order = [s["sample_id"] for s in samples]
    assert all(a != b for a, b in itertools.pairwise(order))
    manifest = pq.read_table(stats["manifest"]).to_pylist()
    assert Counter(r["copy"] for r in manifest) == Counter({0: 31, 1: 20, 2: up.count(3)})
    assert [r["sample_id"] for r in manifest] == order
    mixture = json.loads((tmp_path / "shards" / "mixture.json").read_text())
    assert mixture["sources"]["up"] == {"weight": 2.5, "cap": None, "train_pairs": 20, "exported_pairs": 20,
                                        "samples": per_source["up"], "dropped": {}}
    assert mixture["sources"]["capped"] == {"weight": 1.0, "cap": 5, "train_pairs": 12, "exported_pairs": 5,
                                            "samples": 5, "dropped": {"mixture_cap": 7}}
    assert mixture["sources"]["plain"]["samples"] == 6 and mixture["seed"] == 0
    assert stats["mixture"] == mixture["sources"]


def test_every_training_pair_is_written_or_logged_once(curated, tmp_path):
    mixture = {**MIXTURE, "plain": SourceMixture(weight=0.5)}
    stats = export_shards(curated, str(tmp_path / "shards"), samples_per_shard=16, mixture=mixture)
    written = {r["sample_id"] for r in pq.read_table(stats["manifest"]).to_pylist()}
    logged = pq.read_table(stats["export_log"]).to_pylist()
    train = {r["sample_id"] for r in pq.read_table(curated).to_pylist() if r["split"] == "train"}
    assert sorted(written | {r["sample_id"] for r in logged}) == sorted(train)
    assert not written & {r["sample_id"] for r in logged}
    reasons = Counter((r["source"], r["reason"]) for r in logged)
    plain_dropped = reasons[("plain", "mixture_downsampled")]
    assert reasons[("capped", "mixture_cap")] == 7 and 0 < plain_dropped < 6
    assert stats["skipped"] == {"no_image": 0, "no_caption": 0, "mixture_cap": 7, "mixture_downsampled": plain_dropped}
    assert stats["splits"]["train"]["rows"] == stats["splits"]["train"]["exported"] + sum(stats["skipped"].values())


def test_the_test_split_is_untouched(curated, tmp_path):
    # The mixture applies to the exported (training) split only: exported as the test split, nothing is
    # weighted or capped, since no test row is planned.
    stats = export_shards(curated, str(tmp_path / "test_shards"), split="test", mixture=MIXTURE)
    assert Counter(s["source"] for s in _shard_samples(stats)) == {"up": 4, "capped": 4, "plain": 3}
    stats = export_shards(curated, str(tmp_path / "shards"), mixture=MIXTURE)
    assert stats["splits"]["test"] == {"rows": 11, "outcome": "evaluated", "reason": "held out for benchmark_report"}
    assert not [s for s in _shard_samples(stats) if s["split"] != "train"]


def test_the_mixture_is_the_same_on_every_run_and_changes_with_the_seed(curated, tmp_path):
    a = export_shards(curated, str(tmp_path / "a"), samples_per_shard=16, mixture=MIXTURE)
    b = export_shards(curated, str(tmp_path / "b"), samples_per_shard=16, mixture=MIXTURE)
    assert a["shard_sha256"] == b["shard_sha256"]
    assert [s["sample_id"] for s in _shard_samples(a)] == [s["sample_id"] for s in _shard_samples(b)]
    again = export_shards(curated, str(tmp_path / "a"), samples_per_shard=16, mixture=MIXTURE)
    assert again["shards_reused"] == a["num_shards"]
    other = export_shards(curated, str(tmp_path / "c"), samples_per_shard=16, mixture=MIXTURE, seed=1)
    assert {s["sample_id"] for s in _shard_samples(other)} != {s["sample_id"] for s in _shard_samples(a)}


def test_plan_copies_does_not_depend_on_order_or_other_pairs():
    ids = [f"id-{i}" for i in range(200)]
    capped = plan_copies(ids, SourceMixture(cap=50), seed=3)
    assert sum(capped.values()) == 50 and capped == plan_copies(ids[::-1], SourceMixture(cap=50), seed=3)
    weighted = plan_copies(ids, SourceMixture(weight=1.25), seed=3)
    assert set(weighted.values()) == {1, 2} and 25 <= sum(weighted.values()) - 200 <= 75
    assert {k: weighted[k] for k in ids[:10]} == plan_copies(ids[:10], SourceMixture(weight=1.25), seed=3)
    assert set(plan_copies(ids, SourceMixture(weight=3.0)).values()) == {3}
