import itertools

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from assets.curation.near_dups import (
    band_plan,
    connected_components,
    find_near_pairs,
    keep_set,
    plan_bands,
)


def _hashes(n: int, seed: int) -> np.ndarray:
    """Distinct random signed 64-bit hashes, a third of them 1..8-bit variants of another."""
    rng = np.random.default_rng(seed)
    h = rng.integers(0, 2**64, n, dtype=np.uint64)
    for i in range(1, n, 3):
        flips = rng.choice(64, rng.integers(1, 9), replace=False)
        h[i] = h[i - 1] ^ np.bitwise_or.reduce(np.uint64(1) << flips.astype(np.uint64))
    return np.unique(h).view(np.int64)


def _search(hashes: np.ndarray, radius: int, plan=None) -> set[tuple[int, int, int]]:
    con = duckdb.connect()
    con.register("t", pa.table({"node": np.arange(len(hashes), dtype=np.uint32), "phash": hashes}))
    con.execute("CREATE TEMP TABLE phash_nodes AS SELECT * FROM t")
    stats = find_near_pairs(con, radius, plan)
    pairs = set(con.execute("SELECT a, b, distance FROM phash_edges").fetchall())
    assert stats["pairs"] == len(pairs)
    return pairs


def _brute_force(hashes: np.ndarray, radius: int) -> set[tuple[int, int, int]]:
    u = hashes.view(np.uint64)
    d = np.bitwise_count(u[:, None] ^ u[None, :])
    return {(int(a), int(b), int(d[a, b])) for a, b in zip(*np.nonzero(np.triu(d <= radius, 1)))}


@pytest.mark.parametrize("radius", [0, 1, 2, 4, 5, 6, 8])
@pytest.mark.parametrize("groups_per_key", [1, 2, 3])
def test_search_finds_exactly_the_pairs_within_the_radius(radius, groups_per_key):
    hashes = _hashes(900, seed=radius * 10 + groups_per_key)
    assert _search(hashes, radius, band_plan(radius, groups_per_key)) == _brute_force(hashes, radius)


def test_default_plan_on_hashes_with_constant_bits():
    # Real pHashes have bits that hardly vary (the DC coefficient's is always 1); pairs are still all found.
    hashes = np.unique(_hashes(600, seed=7).view(np.uint64) | np.uint64(0xFF00_0000_0000_0001)).view(np.int64)
    assert _search(hashes, 4) == _brute_force(hashes, 4)


@pytest.mark.parametrize("radius", [0, 3, 4, 6, 9])
def test_every_pair_within_the_radius_agrees_on_one_key(radius):
    plan = band_plan(radius, 2)
    rng = np.random.default_rng(radius)
    for _ in range(300):
        a = int(rng.integers(0, 2**63))
        flips = rng.choice(64, radius, replace=False)
        b = a ^ sum(1 << int(f) for f in flips)
        assert any((a ^ b) & mask == 0 for mask in plan.masks)


def test_plan_prefers_longer_keys_for_more_hashes():
    assert plan_bands(4, 1_000).groups_per_key <= plan_bands(4, 50_000_000).groups_per_key
    assert len(band_plan(4, 2).masks) == 15 and band_plan(4, 2).key_bits == 20


def test_connected_components_match_a_reference_union_find():
    rng = np.random.default_rng(0)
    n = 400
    a, b = rng.integers(0, n, 300), rng.integers(0, n, 300)
    labels = connected_components(n, a, b)
    parent = list(range(n))

    def find(x):
        while parent[x] != x:
            x = parent[x]
        return x

    for x, y in zip(a, b):
        parent[find(x)] = find(y)
    for x, y in itertools.combinations(range(n), 2):
        assert (labels[x] == labels[y]) == (find(x) == find(y))
    assert all(labels[x] == min(i for i in range(n) if labels[i] == labels[x]) for x in range(n))


def test_connected_components_of_a_long_chain():
    n = 100_000
    labels = connected_components(n, np.arange(n - 1)[::-1], np.arange(1, n)[::-1])
    assert (labels == 0).all()


def _greedy_reference(hashes: list[int], radius: int) -> list[int]:
    """The keep set written out: down the list, drop a hash for the first kept one within the radius."""
    kept, out = [], []
    for i, h in enumerate(hashes):
        near = [k for k in kept if bin(h ^ hashes[k]).count("1") <= radius]
        out.append(near[0] if near else i)
        if not near:
            kept.append(i)
    return out


@pytest.mark.parametrize("seed", range(5))
def test_keep_set_matches_the_greedy_reference_and_never_chains(seed):
    """Chains of near copies (each a bit or two from the one before) and vertex-mates (equal hashes)."""
    rng = np.random.default_rng(seed)
    hashes = []
    for _ in range(12):
        h = int(rng.integers(0, 2**63))
        for _ in range(int(rng.integers(1, 8))):
            hashes.append(h)
            for bit in rng.choice(64, size=int(rng.integers(0, 3)), replace=False):
                h ^= 1 << int(bit)
    order = rng.permutation(len(hashes))
    hashes = [hashes[i] for i in order]  # the keep order
    distinct = sorted(set(hashes))
    vertex = np.array([distinct.index(h) for h in hashes])
    radius = 3
    pairs = [(i, j) for i, j in itertools.combinations(range(len(distinct)), 2)
             if bin(distinct[i] ^ distinct[j]).count("1") <= radius]
    a, b = (np.array(c, dtype=np.int64) for c in zip(*pairs)) if pairs else (np.array([], np.int64),) * 2
    kept_as = keep_set(vertex, len(distinct), a, b)

    assert kept_as.tolist() == _greedy_reference(hashes, radius)
    kept = [i for i, k in enumerate(kept_as) if k == i]
    assert all(bin(hashes[i] ^ hashes[k]).count("1") <= radius for i, k in enumerate(kept_as))
    assert all(bin(hashes[i] ^ hashes[j]).count("1") > radius for i, j in itertools.combinations(kept, 2))
    components = connected_components(len(distinct), a, b)
    assert len(kept) >= len(set(components.tolist()))  # at least one kept per cluster, more where it chains
