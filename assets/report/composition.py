"""What the benchmarked data is made of: kept pairs by modality, source and split, and dropped samples
by reason (from the curation log)."""

from __future__ import annotations

from collections import Counter

import fsspec
import pyarrow.parquet as pq


def _counts(path: str, columns: list[str]) -> list[dict]:
    with fsspec.open(path, "rb") as f:
        present = set(pq.ParquetFile(f).schema_arrow.names)
        table = pq.read_table(f, columns=[c for c in columns if c in present])
    counted = Counter(tuple(row.get(c) for c in columns) for row in table.to_pylist())
    return [{**dict(zip(columns, key)), "count": n} for key, n in sorted(counted.items(), key=lambda kv: str(kv[0]))]


def _total(rows: list[dict], key: str) -> dict[str, int]:
    out: Counter[str] = Counter()
    for r in rows:
        out[str(r[key])] += r["count"]
    return dict(sorted(out.items()))


def data_composition(curated_pairs: str, curation_log: str | None = None) -> dict:
    """Counts of kept pairs (by modality, source and split; by caption origin and split) and of dropped
    samples (by reason, and by source and reason). `curation_log` may be None or missing: no drops are
    reported then."""
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
    }
    if curation_log:
        fs, path = fsspec.core.url_to_fs(curation_log)
        if fs.exists(path):
            dropped = _counts(curation_log, ["source", "reason"])
            out.update(dropped=dropped, dropped_total=sum(r["count"] for r in dropped),
                       dropped_by_reason=_total(dropped, "reason"))
    return out
