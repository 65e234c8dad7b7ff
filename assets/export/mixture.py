"""The source mixture of the training shards: how many copies of each training pair the export writes.

UniMed-CLIP weighs its parts with open_clip's `--train-data-upsampling-factors`, which only act with
`--dataset-resampled` (shards drawn with replacement, not passes over the data). MedPairs trains on passes
over one folder of mixed shards, seeded for a bit-identical rerun, so the mixture is applied here instead:
the shards hold exactly what an epoch trains on, and the manifest says which copy each sample is.

Every draw is a hash of (seed, sample id), so the plan does not depend on file order or on other sources,
and the same curated pairs give the same plan on every run and machine.
"""

from __future__ import annotations

import hashlib
import json
import math
import posixpath
from collections import Counter, defaultdict
from collections.abc import Mapping

import fsspec
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from assets.shared import layout
from assets.shared.files import url_to_fs
from assets.shared.metadata import md_table
from assets.sources.catalog import SourceMixture

MIXTURE_NAME = posixpath.basename(layout.SHARDS_MIXTURE)
# The only split a mixture changes: evaluation (test) and validation pairs are never weighted or capped.
MIXED_SPLIT = "train"
# Reasons a training pair is not exported because of the mixture (beside no_image and no_caption).
MIXTURE_CAP = "mixture_cap"
MIXTURE_DOWNSAMPLED = "mixture_downsampled"
EACH_ONCE = SourceMixture()


def _unit(seed: int, purpose: str, sample_id: str) -> float:
    """A number in [0, 1) fixed by (seed, purpose, sample_id)."""
    digest = hashlib.blake2b(f"{seed}\x00{purpose}\x00{sample_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def plan_copies(sample_ids: list[str], mixture: SourceMixture, seed: int = 0) -> dict[str, int]:
    """{sample_id: copies to write} for the training pairs of one source: a cap keeps the `cap` pairs of
    smallest draw (once each), a weight w writes floor(w) copies plus one where the draw is under w's
    fraction. Copies of 0 are dropped pairs."""
    if mixture.cap is not None:
        ranked = sorted(sample_ids, key=lambda sid: (_unit(seed, "cap", sid), sid))
        kept = set(ranked[: mixture.cap])
        return {sid: int(sid in kept) for sid in sample_ids}
    whole = math.floor(mixture.weight)
    fraction = mixture.weight - whole
    return {sid: whole + (_unit(seed, "weight", sid) < fraction) for sid in sample_ids}


def drop_reason(mixture: SourceMixture) -> str:
    """Why a pair this mixture writes 0 times is not exported."""
    return MIXTURE_CAP if mixture.cap is not None else MIXTURE_DOWNSAMPLED


def mixture_plan(curated_parquet: str, mixture: Mapping[str, SourceMixture], seed: int = 0,
                 storage_options: dict | None = None) -> dict[str, int]:
    """{sample_id: copies} of the MIXED_SPLIT rows of every source whose mixture is not "each once" (a
    pair missing from the plan is written once). Reads only ids, sources and splits."""
    mixed = {name: m for name, m in mixture.items() if m != EACH_ONCE}
    if not mixed:
        return {}
    with fsspec.open(curated_parquet, "rb", **(storage_options or {})) as f:
        table = pq.read_table(f, columns=["sample_id", "source", "split"])
    table = table.filter(pc.and_(pc.equal(table.column("split"), MIXED_SPLIT),
                                 pc.is_in(table.column("source"), value_set=pa.array(list(mixed)))))
    by_source: dict[str, list[str]] = defaultdict(list)
    for sid, source in zip(table.column("sample_id").to_pylist(), table.column("source").to_pylist()):
        by_source[source].append(sid)
    plan: dict[str, int] = {}
    for source, ids in by_source.items():
        plan.update(plan_copies(ids, mixed[source], seed))
    return plan


def mixture_record(mixture: Mapping[str, SourceMixture], manifest_rows: list[tuple[str, int]],
                   dropped_rows: list[tuple[str, str]], seed: int, split: str) -> dict:
    """What the mixture did, per source of the exported split: its weight or cap, the training pairs
    read, the distinct pairs exported, the samples written (copies included) and the pairs dropped by
    reason. `manifest_rows` are (source, copy) per written sample, `dropped_rows` (source, reason)."""
    written, distinct, dropped = Counter(), Counter(), defaultdict(Counter)
    for source, copy in manifest_rows:
        written[source] += 1
        distinct[source] += copy == 0
    for source, reason in dropped_rows:
        dropped[source][reason] += 1
    sources = {}
    for name in sorted(set(written) | set(dropped)):
        m = mixture.get(name, EACH_ONCE)
        sources[name] = {"weight": m.weight, "cap": m.cap,
                         "train_pairs": distinct[name] + sum(dropped[name].values()),
                         "exported_pairs": distinct[name], "samples": written[name],
                         "dropped": dict(sorted(dropped[name].items()))}
    return {"split": split, "seed": seed, "sources": sources}


def mixture_markdown(sources: Mapping[str, dict]) -> str:
    """`mixture_record`'s sources as a Markdown table."""
    return md_table([(name, m["weight"], m["cap"] or "", m["train_pairs"], m["exported_pairs"], m["samples"],
                      ", ".join(f"{r} {n}" for r, n in m["dropped"].items()))
                     for name, m in sources.items()],
                    ("source", "weight", "cap", "train pairs", "exported pairs", "samples", "dropped"))


def read_mixture(url: str) -> dict:
    """A mixture.json the export wrote, or {} when there is none."""
    fs, path = url_to_fs(url)
    return json.loads(fs.cat_file(path)) if fs.exists(path) else {}


def mixture_from_record(record: Mapping) -> dict[str, SourceMixture]:
    """The {source: SourceMixture} a mixture.json was written with (to write another copy the same way)."""
    return {name: SourceMixture(weight=m["weight"], cap=m["cap"]) for name, m in record.get("sources", {}).items()}
