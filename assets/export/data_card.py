"""The data card of the exported dataset: per source and modality, what each stage read, kept and dropped
(and why), the license and whether derived data may be shared, where the captions came from, and the
source mixture. Written as JSON and Markdown beside the shards.

Every count is read back from the stages' files (raw sample and quarantine parts, curated pairs and
curation log, the export's manifest and log), so a row balances only if no stage lost a sample:
read = quarantined + dropped in curation + held out (test, val) + dropped at export + exported pairs.
A quarantined input has no modality of its own: it is counted under its catalog entry's.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence

import pyarrow.compute as pc
import pyarrow.parquet as pq

from assets.export.mixture import MIXED_SPLIT
from assets.shared.files import atomic_write, url_to_fs
from assets.shared.metadata import md_table
from assets.shared.parquet_counts import group_counts
from assets.sources.catalog import SourceSpec

NATIVE = "native"  # an image-text sample's own text


def _by_key(counts: Counter) -> dict[tuple, Counter]:
    """{(source, modality): Counter(third value)} from counts keyed (source, modality, third value)."""
    out: dict[tuple, Counter] = defaultdict(Counter)
    for (source, modality, value), n in counts.items():
        out[(source, modality)][value] += n
    return out


def _class_caption_sets(curated_pairs: str, batch_rows: int = 8192) -> dict[tuple[str, str], list[str]]:
    """{(source, label): captions} of the classification training pairs (every pair of a class carries the
    same list), taken from the first pair of each class, batch by batch (caption lists are not all read)."""
    sets: dict[tuple[str, str], list[str]] = {}
    fs, path = url_to_fs(curated_pairs)
    with fs.open(path, "rb") as f:
        for batch in pq.ParquetFile(f).iter_batches(batch_size=batch_rows,
                                                    columns=["source", "label", "kind", "split", "captions"]):
            batch = batch.filter(pc.and_(pc.equal(batch.column("kind"), "classification"),
                                         pc.equal(batch.column("split"), MIXED_SPLIT)))
            keys = pc.binary_join_element_wise(batch.column("source"), pc.fill_null(batch.column("label"), ""), "\x00")
            # The batch's first row of each class.
            for i in pc.index_in(pc.unique(keys), value_set=keys).to_pylist():
                key = (batch.column("source")[i].as_py(), batch.column("label")[i].as_py())
                if key not in sets:
                    sets[key] = batch.column("captions")[i].as_py()
    return sets


def _origin_of(class_captions: str) -> dict[tuple[str, str, str], str]:
    """{(source, label, caption): origin} of the valid class captions (llm or template)."""
    fs, path = url_to_fs(class_captions)
    if not fs.exists(path):
        return {}
    with fs.open(path, "rb") as f:
        table = pq.read_table(f, columns=["source", "label", "caption", "origin", "status"])
    return {(r["source"], r["label"], r["caption"]): r["origin"]
            for r in table.filter(pc.equal(table.column("status"), "valid")).to_pylist()}


def caption_origins(written: Counter, kinds: Mapping[str, str], caption_sets: Mapping[tuple[str, str], list[str]],
                    origin_of: Mapping[tuple[str, str, str], str]) -> dict[tuple[str, str], Counter]:
    """{(source, modality): Counter(origin: captions)} over the samples written to the shards (copies
    included: what training draws from). `written` counts samples by (source, modality, label, caption
    origin). A classification sample carries its class's captions, each counted by its class caption's
    origin (llm, template); an image-text sample its own text, by the origin native_text_captions gave it
    (native, cleaned, condensed). Every caption origin is decided here."""
    out: dict[tuple[str, str], Counter] = defaultdict(Counter)
    for (source, modality, label, origin), n in written.items():
        if kinds.get(source) == "classification":
            for caption in caption_sets.get((source, label), []):
                out[(source, modality)][origin_of.get((source, label, caption), "unknown")] += n
        else:
            out[(source, modality)][origin or NATIVE] += n
    return out


def build_data_card(sources: Sequence[SourceSpec], *, raw_parts: list[str], quarantine_parts: list[str],
                    curated_pairs: str, curation_log: str, class_captions: str, manifest: str, export_log: str,
                    mixture: Mapping) -> dict:
    """The data card as JSON-ready data: one row per (source, modality) with the counts of every stage,
    totals, and whether every row balances. `mixture` is the export's mixture.json."""
    specs = {s.name: s for s in sources}
    quarantined = Counter()
    for (source, reason), n in group_counts(quarantine_parts, ["source", "reason"]).items():
        quarantined[(source, specs[source].modality if source in specs else None, reason)] += n
    ingested = _by_key(group_counts(raw_parts, ["source", "modality", "split"]))
    curated = _by_key(group_counts(curated_pairs, ["source", "modality", "split"]))
    curation_dropped = _by_key(group_counts(curation_log, ["source", "modality", "reason"]))
    export_dropped = _by_key(group_counts(export_log, ["source", "modality", "reason"]))
    written = group_counts(manifest, ["source", "modality", "label", "caption_origin"])
    exported = _by_key(group_counts(manifest, ["source", "modality", "copy"]))
    origins = caption_origins(written, {s.name: s.kind for s in sources}, _class_caption_sets(curated_pairs),
                              _origin_of(class_captions))
    ingest_dropped = _by_key(quarantined)
    keys = sorted(set(ingest_dropped) | set(ingested), key=lambda k: (str(k[0]), str(k[1])))
    rows = []
    for source, modality in keys:
        key, spec = (source, modality), specs.get(source)
        kept_by_split = dict(sorted(curated[key].items()))
        train = kept_by_split.get(MIXED_SPLIT, 0)
        stages = {
            "ingest": {"read": ingested[key].total() + ingest_dropped[key].total(), "kept": ingested[key].total(),
                       "dropped": dict(sorted(ingest_dropped[key].items()))},
            "curation": {"in": ingested[key].total(), "kept": kept_by_split,
                         "dropped": dict(sorted(curation_dropped[key].items()))},
            "export": {"in": train, "exported_pairs": exported[key][0], "samples": exported[key].total(),
                       "dropped": dict(sorted(export_dropped[key].items()))},
        }
        m = mixture.get("sources", {}).get(source, {"weight": 1.0, "cap": None})
        rows.append({
            "source": source, "modality": modality, "kind": spec.kind if spec else None,
            "license": spec.license if spec else "", "redistribution": spec.redistribution if spec else "unknown",
            "mixture": {"weight": m["weight"], "cap": m["cap"]}, **stages,
            "held_out": {split: n for split, n in kept_by_split.items() if split != MIXED_SPLIT},
            "caption_origins": dict(sorted(origins.get(key, Counter()).items())),
            "balanced": _balanced(stages),
        })
    return {"rows": rows, "totals": _totals(rows), "balanced": all(r["balanced"] for r in rows),
            "mixture_seed": mixture.get("seed")}


def _balanced(stages: dict) -> bool:
    ingest, curation, export = stages["ingest"], stages["curation"], stages["export"]
    return (ingest["read"] == ingest["kept"] + sum(ingest["dropped"].values())
            and curation["in"] == sum(curation["kept"].values()) + sum(curation["dropped"].values())
            and export["in"] == export["exported_pairs"] + sum(export["dropped"].values()))


def _totals(rows: list[dict]) -> dict:
    total: Counter = Counter()
    dropped: dict[str, Counter] = defaultdict(Counter)
    for r in rows:
        total.update(read=r["ingest"]["read"], held_out=sum(r["held_out"].values()),
                     exported_pairs=r["export"]["exported_pairs"], samples=r["export"]["samples"])
        for stage in ("ingest", "curation", "export"):
            dropped[stage].update(r[stage]["dropped"])
    return {**total, "dropped": {stage: dict(sorted(c.items())) for stage, c in dropped.items()}}


def _reasons(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{reason} {n}" for reason, n in counts.items())


def card_table(card: Mapping) -> str:
    """The per-source table of the card, in Markdown (the asset's metadata shows it)."""
    return md_table([
        (r["source"], r["modality"], r["license"] or "(none given)", r["redistribution"],
         f"cap {r['mixture']['cap']}" if r["mixture"]["cap"] else f"x{r['mixture']['weight']:g}",
         r["ingest"]["read"], sum(r["ingest"]["dropped"].values()), sum(r["curation"]["dropped"].values()),
         sum(r["held_out"].values()), sum(r["export"]["dropped"].values()), r["export"]["exported_pairs"],
         r["export"]["samples"], _reasons(r["caption_origins"]), "yes" if r["balanced"] else "NO")
        for r in card["rows"]],
        ("source", "modality", "license", "redistribution", "mixture", "read", "quarantined", "dropped in curation",
         "held out (test, val)", "dropped at export", "exported pairs", "samples", "caption origins", "balanced"))


def card_markdown(card: Mapping) -> str:
    """The whole card in Markdown: the per-source table, then every drop by stage and reason."""
    drops = [(r["source"], r["modality"], stage, reason, n) for r in card["rows"]
             for stage in ("ingest", "curation", "export") for reason, n in r[stage]["dropped"].items()]
    t = card["totals"]
    return "\n".join([
        "# Data card", "",
        ("Per source and modality: read = quarantined + dropped in curation + held out (test, val) + dropped at "
        "export + exported pairs; samples count the mixture's copies (what an epoch trains on). Caption origins "
        "count the captions of the written samples (llm and template: class captions; native: the sample's "
        "own text)."), "",
        card_table(card), "",
        (f"Totals: {t.get('read', 0)} read, {t.get('exported_pairs', 0)} pairs exported as {t.get('samples', 0)} "
        f"samples, {t.get('held_out', 0)} held out; every row balances: {'yes' if card['balanced'] else 'NO'}."), "",
        "## Dropped, by stage and reason", "",
        md_table(drops, ("source", "modality", "stage", "reason", "samples")) if drops else "Nothing was dropped.", "",
    ])


def write_data_card(card: Mapping, json_url: str, md_url: str) -> None:
    """The card as JSON and Markdown files (each written whole, then renamed)."""
    for url, data in ((json_url, json.dumps(card, indent=1, sort_keys=True)), (md_url, card_markdown(card))):
        fs, path = url_to_fs(url)
        atomic_write(fs, path, data.encode())
