"""Small helpers that turn plain stats into Dagster-friendly Markdown previews (no dagster import)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence


def md_table(rows: Iterable[Sequence], header: Sequence[str]) -> str:
    """A Markdown table from rows of cells."""
    lines = ["| " + " | ".join(map(str, header)) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def md_counts(counts: Mapping[str, object], key: str = "key", value: str = "count") -> str:
    """A two-column Markdown table from a mapping."""
    return md_table(sorted(counts.items()), (key, value))


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value).replace("|", "\\|").replace("\n", " ")
