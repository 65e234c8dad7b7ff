import itertools

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from curation_helpers import flip, phash_of, sample_row, write_text_captions

from assets.curation.curate import (CurationParams, account, balanced, check_invariants, curate,
                                    training_patients_with_evaluation)
from assets.ingest.images import hamming


@pytest.fixture
def captions_path(tmp_path):
    path = tmp_path / "captions.parquet"
    pq.write_table(pa.Table.from_pylist([
        {"source": "src_a", "label": "normal", "caption": "A normal chest X-ray.", "status": "valid", "origin": "llm"},
        {"source": "src_a", "label": "normal", "caption": "Clear lungs, normal study.", "status": "valid", "origin": "llm"},
        {"source": "src_a", "label": "normal", "caption": "Pneumonia.", "status": "rejected", "origin": "llm"},
        {"source": "src_a", "label": "pneumonia", "caption": "Bad.", "status": "rejected", "origin": "llm"},
        {"source": "src_b", "label": "normal", "caption": "A chest radiograph, no finding.", "status": "valid",
         "origin": "llm"},
        {"source": "src_b", "label": "short", "caption": "Normal.", "status": "valid", "origin": "llm"},
    ]), path)
    return str(path)


def _run(tmp_path, rows, captions_path, treatments=None, **kwargs):
    raw = tmp_path / "raw.parquet"
    pq.write_table(pa.Table.from_pylist(rows), raw)
    pairs, log, clusters = (str(tmp_path / f"{n}.parquet") for n in ("pairs", "log", "clusters"))
    text = write_text_captions([str(raw)], str(tmp_path / "text_captions.parquet"), treatments)
    stats = curate(str(raw), captions_path, pairs, log, out_clusters=clusters, text_captions=text, **kwargs)
    invariants = check_invariants(pairs, near_duplicate_radius=(kwargs.get("params") or CurationParams())
                                  .near_duplicate_radius)
    assert set(invariants.values()) == {0}, invariants
    accounts = account(str(raw), pairs, log, text)
    assert balanced(accounts) and accounts["raw_rows"] == len(rows), accounts
    assert stats["samples_in"] == len(rows) == stats["kept"] + stats["dropped"]
    return stats, pq.read_table(pairs).to_pylist(), pq.read_table(log).to_pylist()


def _reasons(log):
    return {r["sample_id"]: (r["reason"], r["duplicate_of"]) for r in log}


def test_every_sample_is_kept_or_logged_with_a_reason(tmp_path, captions_path):
    rows = [
        sample_row("a1", "h1"),
        sample_row("a2", "h1", size=32),             # exact duplicate of a1, smaller: dropped
        sample_row("a3", "h2"),
        sample_row("t1", "h2", split="test"),        # a3 is a training copy of this test image
        sample_row("t2", "h3", split="test", label="pneumonia"),
        sample_row("a4", "h4", label="pneumonia"),   # its class has no valid caption
    ]
    stats, pairs, log = _run(tmp_path, rows, captions_path)

    assert {r["sample_id"] for r in pairs} == {"a1", "t1", "t2"}
    assert _reasons(log) == {
        "a2": ("exact_duplicate", "a1"),
        "a3": ("evaluation_duplicate", "t1"),
        "a4": ("no_valid_caption", None),
    }
    assert stats["dropped_by_reason"] == {"evaluation_duplicate": 1, "exact_duplicate": 1, "no_valid_caption": 1}
    assert stats["decontamination"] == {"src_a": {"evaluation_duplicate": 1}}


def test_training_pairs_carry_every_valid_caption_and_image_bytes(tmp_path, captions_path):
    _, pairs, _ = _run(tmp_path, [sample_row("a1", "h1")], captions_path)
    (pair,) = pairs
    assert sorted(pair["captions"]) == ["A normal chest X-ray.", "Clear lungs, normal study."]
    assert pair["image"]["bytes"] == b"h1"


def test_image_text_sample_wins_over_classification_copy_and_keeps_its_own_caption(tmp_path, captions_path):
    rows = [sample_row("c1", "h1", size=128),
            sample_row("x1", "h1", size=64, kind="image_text", caption="PA chest radiograph with clear lungs.")]
    _, pairs, log = _run(tmp_path, rows, captions_path)
    assert [(r["sample_id"], r["captions"]) for r in pairs] == [("x1", ["PA chest radiograph with clear lungs."])]
    assert (pairs[0]["caption_origin"], pairs[0]["caption_origins"]) == ("native", ["native"])
    assert log[0]["duplicate_of"] == "x1"


REPORT = ("EXAMINATION: CHEST (PA AND LAT)\nINDICATION: ___ with cough\nFINDINGS: The lungs are clear. "
          "No pleural effusion.\nIMPRESSION: No acute cardiopulmonary process. Please call Dr. ___ with questions.")


def test_a_report_is_cleaned_and_one_that_cleans_to_nothing_is_logged_with_its_reason(tmp_path, captions_path):
    rows = [sample_row("r1", "h1", kind="image_text", source="reports", caption=REPORT),
            sample_row("r2", "h2", kind="image_text", source="reports", caption="INDICATION: cough. COMPARISON: ___"),
            sample_row("a1", "h3")]
    stats, pairs, log = _run(tmp_path, rows, captions_path, treatments={"reports": "report"})
    by_id = {r["sample_id"]: r for r in pairs}
    assert by_id["r1"]["captions"] == ["No acute cardiopulmonary process. The lungs are clear. No pleural effusion."]
    assert by_id["r1"]["caption_origins"] == ["cleaned"]
    assert by_id["a1"]["caption_origin"] == "llm" and by_id["a1"]["caption_origins"] == ["llm", "llm"]
    assert _reasons(log) == {"r2": ("report_without_findings", None)}
    assert stats["kept_by_caption_origin"] == {"reports": {"cleaned": 1}, "src_a": {"llm": 1}}
    accounts = account(str(tmp_path / "raw.parquet"), str(tmp_path / "pairs.parquet"), str(tmp_path / "log.parquet"),
                       str(tmp_path / "text_captions.parquet"))
    assert accounts["text_without_caption"] == 1 and accounts["text_drops_not_logged"] == 0


def test_text_accounting_fails_for_a_missing_row_or_an_unlogged_drop(tmp_path, captions_path):
    rows = [sample_row("r1", "h1", kind="image_text", caption="A chest radiograph with clear lungs."),
            sample_row("r2", "h2", kind="image_text", caption="   ")]
    _run(tmp_path, rows, captions_path)
    files = [str(tmp_path / f"{n}.parquet") for n in ("raw", "pairs", "log", "text_captions")]
    text = pq.read_table(files[3])
    pq.write_table(text.slice(0, 1), files[3])  # r2's row (no caption: empty_caption) lost
    assert account(*files)["unmatched_text_captions"] == 1 and not balanced(account(*files))
    pq.write_table(text, files[3])
    pq.write_table(pq.read_table(files[2]).slice(0, 0), files[2])  # r2 no longer in the log
    assert account(*files)["text_drops_not_logged"] == 1 and not balanced(account(*files))


def test_without_text_captions_an_image_text_sample_is_logged_not_kept(tmp_path, captions_path):
    raw = tmp_path / "raw.parquet"
    pq.write_table(pa.Table.from_pylist([sample_row("x1", "h1", kind="image_text", caption="Clear lungs today.")]),
                   raw)
    stats = curate(str(raw), captions_path, str(tmp_path / "pairs.parquet"), str(tmp_path / "log.parquet"))
    assert stats["dropped_by_reason"] == {"no_text_caption": 1}


def test_a_class_whose_captions_are_all_templates_is_a_template_pair(tmp_path):
    captions = tmp_path / "template_captions.parquet"
    pq.write_table(pa.Table.from_pylist([{"source": "src_a", "label": "normal", "caption": "A normal chest X-ray.",
                                          "status": "valid", "origin": "template"}]), captions)
    _, pairs, _ = _run(tmp_path, [sample_row("a1", "h1")], str(captions))
    assert (pairs[0]["caption_origin"], pairs[0]["caption_origins"]) == ("template", ["template"])


@pytest.mark.parametrize("priority, kept", [(["src_b", "src_a"], "b1"), (["src_a"], "a1"), (None, "a1")])
def test_source_priority_breaks_ties_between_equal_copies(tmp_path, captions_path, priority, kept):
    rows = [sample_row("a1", "h1"), sample_row("b1", "h1", source="src_b")]
    _, pairs, _ = _run(tmp_path, rows, captions_path, source_priority=priority)
    assert [r["sample_id"] for r in pairs] == [kept]


def test_near_duplicates_are_dropped_only_within_the_radius_of_a_kept_sample(tmp_path, captions_path):
    """One cluster of pairs within the radius (4), but n4 is 5 bits from n2: single linkage dropped
    it for n2 through n3 (logged at distance 5); the keep set keeps it, since n3 is dropped."""
    base = phash_of("x")
    rows = [
        sample_row("n1", "p1", phash=base, size=48),
        sample_row("n2", "p2", phash=flip(base, 1, 9), size=96),          # 2 bits from n1: the largest, kept
        sample_row("n3", "p3", phash=flip(base, 1, 9, 20, 30), size=64),  # 2 from n2, 4 from n1
        sample_row("n4", "p4", phash=flip(base, 1, 9, 20, 30, 40, 50, 60)),  # 3 from n3, 5 from n2: kept
        sample_row("n5", "p5", phash=flip(base, 0, 2, 3, 4, 5, 6, 7, 8)),  # 8 from n1, 10 from n2: alone
        sample_row("n6", "p2", phash=flip(base, 1, 9), size=64),          # exact copy of n2
    ]
    stats, pairs, log = _run(tmp_path, rows, captions_path)

    assert {r["sample_id"] for r in pairs} == {"n2", "n4", "n5"}
    assert _reasons(log) == {"n1": ("near_duplicate", "n2"), "n3": ("near_duplicate", "n2"),
                             "n6": ("exact_duplicate", "n2")}
    assert {r["sample_id"]: r["hamming_distance"] for r in log} == {"n1": 2, "n3": 2, "n6": 0}
    clusters = pq.read_table(tmp_path / "clusters.parquet").to_pylist()
    assert {r["sample_id"] for r in clusters} == {"n1", "n2", "n3", "n4", "n6"}
    assert len({r["cluster_id"] for r in clusters}) == 1
    assert {r["sample_id"] for r in clusters if r["outcome"] == "kept"} == {"n2", "n4"}
    assert stats["near_duplicates"]["clusters"] == 1 and stats["near_duplicates"]["samples_in_clusters"] == 5
    assert stats["largest_clusters"][0]["size"] == 5
    assert {(r["sample_id"], r["hamming_distance"]) for r in stats["example_pairs"]} == {("n1", 2), ("n3", 2)}


def test_radius_is_configurable(tmp_path, captions_path):
    base = phash_of("x")
    rows = [sample_row("n1", "p1", phash=base, size=96), sample_row("n2", "p2", phash=flip(base, *range(6)))]
    _, pairs, _ = _run(tmp_path, rows, captions_path)
    assert len(pairs) == 2
    _, pairs, log = _run(tmp_path, rows, captions_path, params=CurationParams(near_duplicate_radius=6))
    assert [r["sample_id"] for r in pairs] == ["n1"] and log[0]["hamming_distance"] == 6


def test_training_near_copies_of_any_evaluation_image_are_removed(tmp_path, captions_path):
    base = phash_of("t")
    rows = [
        sample_row("t1", "pt", phash=base, split="test", source="src_b"),
        sample_row("a1", "pa", phash=flip(base, 3, 33, 63)),       # near copy, in another source
        sample_row("a2", "pa", phash=flip(base, 3, 33, 63), size=32),  # its exact copy: also near t1
        sample_row("a3", "pt", source="src_a", phash=base, size=128),  # exact copy of t1, even larger
        sample_row("v1", "pv", split="val", phash=flip(base, 5)),  # validation counts as training
        sample_row("a4", "pf", phash=flip(base, *range(10, 20))),  # 10 bits away: stays
    ]
    stats, pairs, log = _run(tmp_path, rows, captions_path)
    assert {r["sample_id"] for r in pairs} == {"t1", "a4"}
    assert _reasons(log) == {"a1": ("evaluation_near_duplicate", "t1"), "a2": ("evaluation_near_duplicate", "t1"),
                             "a3": ("evaluation_duplicate", "t1"), "v1": ("evaluation_near_duplicate", "t1")}
    assert stats["decontamination"] == {"src_b": {"evaluation_duplicate": 1, "evaluation_near_duplicate": 3}}
    assert {r["duplicate_of_source"] for r in log} == {"src_b"}


def test_a_dropped_evaluation_image_still_protects_training(tmp_path, captions_path):
    rows = [sample_row("t1", "pt", split="test", size=16), sample_row("a1", "pt", size=16),
            sample_row("a2", "pa", phash=flip(phash_of("pt"), 7))]
    _, pairs, log = _run(tmp_path, rows, captions_path)
    assert pairs == []
    assert _reasons(log) == {"t1": ("too_small", None), "a1": ("too_small", None),
                             "a2": ("evaluation_near_duplicate", "t1")}


@pytest.mark.parametrize("row, reason", [
    (dict(size=20), "too_small"),
    (dict(width=400, height=64), "bad_aspect_ratio"),
    (dict(std=0.5), "blank_image"),
    (dict(kind="image_text", caption="   "), "empty_caption"),
    (dict(kind="image_text", caption="Chest."), "caption_too_short"),
    (dict(kind="image_text", caption="word " * 300), "caption_too_long"),
    (dict(label="pneumonia"), "no_valid_caption"),
    (dict(source="src_b", label="short"), "no_valid_caption"),  # its one valid caption is too short
])
def test_quality_filters(tmp_path, captions_path, row, reason):
    stats, pairs, log = _run(tmp_path, [sample_row("s1", "h1", **row), sample_row("ok", "h2")], captions_path)
    assert [r["sample_id"] for r in pairs] == ["ok"]
    assert _reasons(log) == {"s1": (reason, None)}


def test_changed_thresholds_refilter_from_stored_statistics(tmp_path, captions_path):
    # The image bytes here are not images at all: curation never decodes them.
    rows = [sample_row("s1", "h1", size=64), sample_row("s2", "h2", size=200, std=3.0)]
    _, pairs, _ = _run(tmp_path, rows, captions_path)
    assert len(pairs) == 2
    params = CurationParams(min_side=100, min_pixel_std=5.0)
    stats, pairs, log = _run(tmp_path, rows, captions_path, params=params)
    assert pairs == [] and _reasons(log) == {"s1": ("too_small", None), "s2": ("blank_image", None)}
    assert stats["params"]["min_side"] == 100


def test_blank_images_are_logged_as_blank_not_as_duplicates(tmp_path, captions_path):
    rows = [sample_row(f"b{i}", "black", std=0.0) for i in range(4)] + [sample_row("ok", "h1")]
    stats, _, log = _run(tmp_path, rows, captions_path)
    assert stats["dropped_by_reason"] == {"blank_image": 4}


def test_evaluation_copies_are_deduplicated_among_themselves(tmp_path, captions_path):
    base = phash_of("t")
    rows = [sample_row("t1", "p1", split="test", phash=base, size=96),
            sample_row("t2", "p1", split="test", source="src_b"),
            sample_row("t3", "p3", split="test", phash=flip(base, 4, 8))]
    _, pairs, log = _run(tmp_path, rows, captions_path)
    assert [r["sample_id"] for r in pairs] == ["t1"]
    assert _reasons(log) == {"t2": ("exact_duplicate", "t1"), "t3": ("near_duplicate", "t1")}


def test_random_dataset_against_a_brute_force_reference(tmp_path, captions_path):
    """Kept training samples: pairwise beyond the radius, beyond it from every test image, and every
    dropped duplicate within the radius of a sample that is kept or also a duplicate."""
    rng = np.random.default_rng(0)
    bases = [phash_of(f"b{i}") for i in range(40)]
    rows = []
    for i in range(300):
        base = bases[int(rng.integers(len(bases)))]
        phash = flip(base, *map(int, rng.choice(64, int(rng.integers(0, 12)), replace=False)))
        pixel = f"px{phash}" if rng.random() < 0.8 else f"px{base}"
        rows.append(sample_row(f"s{i:03d}", pixel, phash=phash if pixel != f"px{base}" else base,
                            split="test" if rng.random() < 0.2 else "train", size=int(rng.integers(30, 200)),
                            source=str(rng.choice(["src_a", "src_b"]))))
    stats, pairs, log = _run(tmp_path, rows, captions_path)

    by_id = {r["sample_id"]: r for r in rows}
    kept_train = [r for r in pairs if r["split"] != "test"]
    tests = [r for r in rows if r["split"] == "test"]
    assert all(hamming(a["phash"], b["phash"]) > 4 for a, b in itertools.combinations(kept_train, 2))
    assert all(hamming(a["phash"], t["phash"]) > 4 for a in kept_train for t in tests)
    for r in log:
        assert hamming(by_id[r["sample_id"]]["phash"], by_id[r["duplicate_of"]]["phash"]) == r["hamming_distance"]
        if r["reason"] in ("exact_duplicate", "evaluation_duplicate"):
            assert by_id[r["sample_id"]]["pixel_sha256"] == by_id[r["duplicate_of"]]["pixel_sha256"]
        else:
            assert r["hamming_distance"] <= 4 or r["reason"] == "near_duplicate"  # chained into a cluster
    assert stats["dropped_by_reason"].keys() <= {"exact_duplicate", "near_duplicate", "evaluation_duplicate",
                                                 "evaluation_near_duplicate"}
    assert len(stats["dropped_by_reason"]) == 4


def test_outputs_are_readable_by_duckdb(tmp_path, captions_path):
    rows = [sample_row(f"s{i}", f"h{i % 3}") for i in range(9)] + [sample_row("t", "h0", split="test")]
    stats, _, _ = _run(tmp_path, rows, captions_path)
    pairs = str(tmp_path / "pairs.parquet")
    (n,), = duckdb.sql(f"select count(*) from read_parquet('{pairs}')").fetchall()
    assert n == stats["kept"] == 3  # h1, h2 in training; h0 only as the protected test image


def test_invariants_detect_leaks(tmp_path):
    pairs = tmp_path / "bad.parquet"
    near = flip(phash_of("h"), 1, 2)
    pq.write_table(pa.Table.from_pylist([
        {"sample_id": "a", "split": "train", "pixel_sha256": "h", "phash": phash_of("h")},
        {"sample_id": "b", "split": "train", "pixel_sha256": "h", "phash": phash_of("h")},
        {"sample_id": "c", "split": "test", "pixel_sha256": "h", "phash": phash_of("h")},
        {"sample_id": "d", "split": None, "pixel_sha256": "d", "phash": near},
        {"sample_id": "e", "split": "train", "pixel_sha256": "e", "phash": flip(near, *range(20, 40))},
    ]), pairs)
    assert check_invariants(str(pairs), near_duplicate_radius=4) == {
        "train_eval_overlap": 2, "duplicate_train_hashes": 1,
        "train_eval_near_duplicates": 3,  # a, b (distance 0) and d (2 bits), not e
    }
    groups = {"a": "p1", "c": "p1", "d": "p2", "f": "p2"}  # a shares its patient with the test image c
    raw = tmp_path / "raw.parquet"
    pq.write_table(pa.Table.from_pylist([{"sample_id": s, "source": "src", "group_id": groups.get(s)}
                                         for s in "abcdf"]), raw)
    # a; d's patient has no evaluation pair (f is not in the pairs)
    assert training_patients_with_evaluation(str(pairs), str(raw)) == 1


def _write_ids(path, ids):
    pq.write_table(pa.Table.from_pylist([{"sample_id": s} for s in ids]), path)
    return str(path)


def test_accounting_counts_rows_the_files_hold(tmp_path):
    raw = [_write_ids(tmp_path / "raw-0.parquet", "abcdf")]
    pairs, log = _write_ids(tmp_path / "pairs.parquet", "abce"), _write_ids(tmp_path / "log.parquet", "d")
    assert account(raw, pairs, log) == {"raw_rows": 5, "curated_rows": 4, "log_rows": 1,
                                        "unaccounted_samples": 2}  # e not an input, f nowhere


def test_accounting_sees_a_row_lost_among_repeated_ids(tmp_path):
    # A part repeats sample a (a part published twice, two sources' ids alike); the outputs hold a
    # once: every id is accounted for, one row is not.
    raw = [_write_ids(tmp_path / "raw-0.parquet", "ab"), _write_ids(tmp_path / "raw-1.parquet", "a")]
    pairs, log = _write_ids(tmp_path / "pairs.parquet", "a"), _write_ids(tmp_path / "log.parquet", "b")
    accounts = account(raw, pairs, log)
    assert accounts == {"raw_rows": 3, "curated_rows": 1, "log_rows": 1, "unaccounted_samples": 0}
    assert not balanced(accounts)
