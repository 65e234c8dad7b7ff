"""Near-duplicate search over 64-bit perceptual hashes in DuckDB, and clusters of what it finds.

Exact and fast, by the pigeonhole principle. The 64 bits are dealt into m = radius + j groups
(bit i goes to group i mod m, so the pHash's low-frequency bits spread over every group). Two
hashes within `radius` bits differ in at most `radius` groups, so they agree exactly on at
least j whole groups: on one of the C(m, j) keys made of j groups. Each key is one DuckDB
self-join of `hash & mask` (a hash join on one BIGINT), verified with
`bit_count(xor(a, b)) <= radius`. j trades keys (work per hash) against key length (random
bucket-mates, which the verification must reject): `plan_bands` picks it from the number of
hashes. Clusters are the connected components of the pairs, found by union-find in NumPy; what a
cluster keeps is a keep set (`keep_set`): no dropped sample is further than the radius from the kept
sample it is logged against, however long the chain of pairs that joins the cluster.
"""

from __future__ import annotations

import itertools
import logging
import time
from dataclasses import dataclass

import duckdb
import numpy as np

from assets.curation.sql_files import sql

log = logging.getLogger(__name__)

# Relative cost of one random bucket-mate (joined, then rejected) against one hash scanned for a
# key; fitted on random hashes at 1M and 5M (see bench/curation.py).
_CANDIDATE_COST = 0.15


@dataclass(frozen=True)
class BandPlan:
    radius: int
    groups: int  # m: the 64 bits are dealt into this many groups
    groups_per_key: int  # j: a key is the bits of j groups
    masks: tuple[int, ...]  # one signed 64-bit mask per key, C(m, j) of them

    @property
    def key_bits(self) -> int:
        """Bits in the shortest key."""
        return 64 // self.groups * self.groups_per_key


def _signed(x: int) -> int:
    return x - (1 << 64) if x >= 1 << 63 else x


def band_plan(radius: int, groups_per_key: int) -> BandPlan:
    """The C(radius + j, j) masks: every pair within `radius` bits agrees on one of them."""
    if not 0 <= radius < 32:
        raise ValueError(f"radius must be in 0..31, not {radius}")
    m = radius + groups_per_key
    group = [sum(1 << bit for bit in range(64) if bit % m == g) for g in range(m)]
    masks = tuple(_signed(sum(group[g] for g in keys)) for keys in itertools.combinations(range(m), groups_per_key))
    return BandPlan(radius, m, groups_per_key, masks)


def plan_bands(radius: int, n: int) -> BandPlan:
    """The cheapest plan for `n` distinct hashes: fewest keys times (1 + cost of the random
    bucket-mates each hash meets per key, n / 2**key_bits), for j = 1..4."""
    def cost(plan: BandPlan) -> float:
        return len(plan.masks) * (1 + _CANDIDATE_COST * n / 2 ** plan.key_bits)
    return min((band_plan(radius, j) for j in range(1, 5) if radius + j <= 64), key=cost)


def find_near_pairs(con: duckdb.DuckDBPyConnection, radius: int, plan: BandPlan | None = None) -> dict:
    """Every pair of rows of table `phash_nodes(node UINTEGER, phash BIGINT)` whose hashes lie
    within `radius` bits, into table `phash_edges(a, b, distance)` with a < b, each pair once.
    Nodes should hold distinct hashes (equal hashes are one node: a bucket of 10,000 copies of
    one blank image would otherwise join with itself on every key). Returns stats."""
    started = time.perf_counter()
    n = con.execute("SELECT count(*) FROM phash_nodes").fetchone()[0]
    plan = plan or plan_bands(radius, n)
    con.execute(sql("near_dup_create"))
    for mask in plan.masks:
        con.execute(sql("near_dup_key"), {"mask": mask, "radius": radius})
    candidates = con.execute("SELECT count(*) FROM phash_candidates").fetchone()[0]
    con.execute(sql("near_dup_edges"))
    edges = con.execute("SELECT count(*) FROM phash_edges").fetchone()[0]
    stats = {"hashes": n, "radius": radius, "groups": plan.groups, "groups_per_key": plan.groups_per_key,
             "keys": len(plan.masks), "key_bits": plan.key_bits, "verified_candidates": candidates,
             "pairs": edges, "seconds": round(time.perf_counter() - started, 3)}
    log.info("near-duplicate search: %s", stats)
    return stats


def connected_components(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Component label (its smallest member) of each of `n` vertices joined by edges (a[i], b[i]):
    union-find as rounds of hooking each edge's higher root under its lower one, then pointer
    jumping, in vectorized NumPy. Every round hooks at least one root, so it ends; on chains and
    random graphs it takes a handful of rounds."""
    labels = np.arange(n, dtype=np.int64)
    a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
    while True:
        la, lb = labels[a], labels[b]
        differ = la != lb
        if not differ.any():
            return labels
        lo, hi = np.minimum(la[differ], lb[differ]), np.maximum(la[differ], lb[differ])
        np.minimum.at(labels, hi, lo)  # hook: a root takes the smallest root it touches
        while True:
            jumped = labels[labels]
            if np.array_equal(jumped, labels):
                break
            labels = jumped
        a, b = a[differ], b[differ]


def keep_set(vertex: np.ndarray, n_vertices: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Which sample each sample is kept as: members in keep order (best first), `vertex[i]` the
    hash vertex of member i, `a`/`b` the pairs of vertices within the radius. Going down the keep
    order, a member is dropped for the best kept member at its own vertex or a neighbouring one, and
    kept when there is none; returns, per member, the index of the member it is kept as (itself when
    kept). So every dropped member lies within the radius of a kept one (single linkage would drop C
    for A through B, A~B~C, with C beyond the radius of A), and kept members are pairwise beyond it.
    Members with no pair and no vertex-mate are kept without looking."""
    vertex = np.asarray(vertex, dtype=np.int64)
    out = np.arange(len(vertex), dtype=np.int64)
    src = np.concatenate([np.asarray(a, np.int64), np.asarray(b, np.int64)])
    dst = np.concatenate([np.asarray(b, np.int64), np.asarray(a, np.int64)])
    order = np.argsort(src, kind="stable")
    src, dst = src[order], dst[order]
    starts = np.searchsorted(src, np.arange(n_vertices + 1))
    degree = np.diff(starts)
    members_at = np.bincount(vertex, minlength=n_vertices)
    kept_at = np.full(n_vertices, -1, dtype=np.int64)  # the best kept member at each vertex
    for i in np.flatnonzero((degree[vertex] > 0) | (members_at[vertex] > 1)).tolist():
        v = vertex[i]
        if kept_at[v] >= 0:
            out[i] = kept_at[v]
            continue
        near = kept_at[dst[starts[v]:starts[v + 1]]]
        near = near[near >= 0]
        if near.size:
            out[i] = near.min()  # members are in keep order: the smallest index is the best
        else:
            kept_at[v] = i
    return out
