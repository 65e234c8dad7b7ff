"""The shuffled-caption control's data: the curated pairs with the training captions permuted against
their images, exported as WebDataset shards. Trained with the trained run's settings, the control differs
from it only in the pairing, so it should score at chance."""

from __future__ import annotations

import logging

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from assets.export.mixture import mixture_from_record
from assets.export.webdataset import export_shards
from assets.shared.files import ParquetWriter

log = logging.getLogger(__name__)


def write_shuffled_pairs(curated_pairs: str, out: str, *, split: str = "train", seed: int = 0,
                         batch_rows: int = 512) -> dict:
    """A copy of the curated pairs in which the captions of the `split` rows are permuted against their
    images (a seeded permutation, so reruns agree); other rows are copied as they are. Streams the
    image bytes batch by batch. Returns {rows, shuffled, unchanged_pairs}."""
    with fsspec.open(curated_pairs, "rb") as f:
        small = pq.read_table(f, columns=["split", "captions"])
    rows = np.flatnonzero(np.asarray(small.column("split").to_pylist()) == split)
    perm = rows[np.random.default_rng(seed).permutation(rows.size)]
    captions = small.column("captions").to_pylist()
    new_captions = list(captions)
    for dst, src in zip(rows, perm):
        new_captions[dst] = captions[src]
    unchanged = int(np.sum(rows == perm))
    with fsspec.open(curated_pairs, "rb") as f_in:
        source = pq.ParquetFile(f_in)
        position = 0
        with ParquetWriter(out, source.schema_arrow) as writer:
            for batch in source.iter_batches(batch_size=batch_rows):
                table = pa.Table.from_batches([batch])
                col = table.schema.get_field_index("captions")
                swapped = pa.array(new_captions[position:position + table.num_rows], type=table.schema.field(col).type)
                writer.write(table.set_column(col, table.schema.field(col), swapped))
                position += table.num_rows
    log.info("shuffled the captions of %d %s rows (%d kept their own)", rows.size, split, unchanged)
    return {"rows": small.num_rows, "shuffled": int(rows.size), "unchanged_pairs": unchanged}


def export_shuffled_shards(curated_pairs: str, pairs_out: str, shards_dir: str, *, seed: int = 0,
                           samples_per_shard: int = 1000, mixture: dict | None = None) -> dict:
    """Write the shuffled copy of the pairs (`write_shuffled_pairs`) to `pairs_out` and export its
    training rows as shards under `shards_dir`, with the source mixture the trained run's shards were
    written with (their mixture.json: weights, caps and seed), so that the control differs from the trained
    run in the pairing only. Returns the shuffle stats."""
    stats = write_shuffled_pairs(curated_pairs, pairs_out, seed=seed)
    record = mixture or {}
    # Sample ids are kept, so the same seed gives every pair the copies it has in the trained run's shards.
    export_shards(pairs_out, shards_dir, samples_per_shard=samples_per_shard, seed=record.get("seed", 0),
                  mixture=mixture_from_record(record))
    return stats
