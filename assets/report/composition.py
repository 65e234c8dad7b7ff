"""What the benchmarked data is made of: kept pairs by modality, source and split, dropped samples
by reason (from the curation log), and the source mixture the training shards were written with."""

from __future__ import annotations

import json
from collections import Counter

from assets.shared.files import url_to_fs
from assets.shared.parquet_counts import group_counts


def _counts(path: str, columns: list[str]) -> list[dict]:
    counted = group_counts(path, columns)
    return [{**dict(zip(columns, key)), "count": n} for key, n in sorted(counted.items(), key=lambda kv: str(kv[0]))]


def _total(rows: list[dict], key: str) -> dict[str, int]:
    out: Counter[str] = Counter()
    for r in rows:
        out[str(r[key])] += r["count"]
    return dict(sorted(out.items()))


def data_composition(curated_pairs: str, curation_log: str | None = None, mixture: str | None = None) -> dict:
    """Counts of kept pairs (by modality, source and split; by caption origin and split) and of dropped
    samples (by reason, and by source and reason), and `mixture`: the export's mixture.json per source
    (weight, cap, training pairs, exported pairs, samples written). `curation_log` and `mixture` may be
    None or missing: no drops, or no mixture, are reported then."""
    kept = _counts(curated_pairs, ["modality", "source", "split"])
    origins = [{**r, "caption_origin": r["caption_origin"] or "none"}
               for r in _counts(curated_pairs, ["caption_origin", "split"])]
    out = {
        "kept": kept,
        "kept_total": sum(r["count"] for r in kept),
        "kept_by_modality": _total(kept, "modality"),
        "kept_by_source": _total(kept, "source"),
        "kept_by_split": _total(kept, "split"),
        # native, cleaned, condensed (an image-text sample's own text), llm, template (class captions)
        "kept_by_caption_origin_and_split": origins,
        "kept_by_caption_origin": _total(origins, "caption_origin"),
        "dropped": [],
        "dropped_total": 0,
        "dropped_by_reason": {},
        "mixture": {},
    }
    if curation_log:
        dropped = _counts(curation_log, ["source", "reason"])
        out.update(dropped=dropped, dropped_total=sum(r["count"] for r in dropped),
                   dropped_by_reason=_total(dropped, "reason"))
    if mixture:
        fs, path = url_to_fs(mixture)
        if fs.exists(path):
            out["mixture"] = json.loads(fs.cat_file(path))["sources"]
    return out
