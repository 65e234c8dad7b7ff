"""Rows of Parquet files counted by the values of some columns (Arrow's group-by; no row reaches Python)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

import pyarrow.compute as pc
import pyarrow.parquet as pq

from assets.shared.files import url_to_fs


def group_counts(urls: str | list[str], columns: list[str], where: Mapping[str, object] | None = None,
                 storage_options: dict | None = None) -> Counter:
    """{(value of each of `columns`): rows} over the Parquet files at `urls`, counting only the rows whose
    column equals the value for every item of `where`. A column a file lacks counts as None there; a
    file that does not exist counts nothing."""
    counts: Counter = Counter()
    for url in [urls] if isinstance(urls, str) else urls:
        fs, path = url_to_fs(url, storage_options)
        if not fs.exists(path):
            continue
        with fs.open(path, "rb") as f:
            present = set(pq.ParquetFile(f).schema_arrow.names)
            wanted = [c for c in dict.fromkeys([*columns, *(where or {})]) if c in present]
            table = pq.read_table(f, columns=wanted)
        for column, value in (where or {}).items():
            table = table.filter(pc.equal(table.column(column), value)) if column in present else table.slice(0, 0)
        grouped = [c for c in columns if c in present]
        if not grouped:
            if table.num_rows:
                counts[(None,) * len(columns)] += table.num_rows
            continue
        for row in table.group_by(grouped, use_threads=False).aggregate([([], "count_all")]).to_pylist():
            counts[tuple(row.get(c) for c in columns)] += row["count_all"]
    return counts
