"""What each step of a `python -m pipelines.run` did: its seconds, and what it kept from an earlier run
rather than redo (read from the metadata the assets return), so a re-run says what it skipped."""

from __future__ import annotations

import dagster as dg


def _value(metadata: dict, key: str):
    entry = metadata.get(key)
    return getattr(entry, "value", entry)


def reused(metadata: dict) -> str:
    """What an asset's materialization says it kept instead of redoing, or "" if nothing."""
    if _value(metadata, "unchanged") is True:
        return "unchanged since the last run: kept"
    hits, misses = _value(metadata, "cache_hits"), _value(metadata, "cache_misses")
    if hits:
        return f"{hits} of {hits + misses} labels from the caption cache" + ("" if misses else ", nothing generated")
    hits, misses = _value(metadata, "condense_cache_hits"), _value(metadata, "condense_cache_misses")
    if hits:
        return f"{hits} of {hits + misses} reports condensed from the cache" + ("" if misses else ", nothing generated")
    kept, written = _value(metadata, "shards_reused"), _value(metadata, "shards_written")
    if kept:
        return f"{kept} of {kept + written} shards unchanged: kept"
    return ""


def step_rows(name: str, result: dg.ExecuteInProcessResult) -> list[tuple[str, float, str]]:
    """(step, seconds, what it kept) for every step of run `name` that succeeded, in order."""
    notes: dict[str, str] = {}
    for event in result.get_asset_materialization_events():
        note = reused(event.step_materialization_data.materialization.metadata)
        if note:
            notes[event.step_key] = note
    rows = []
    for event in result.all_events:
        if event.is_step_success:
            step = event.step_key + (f"[{result.dagster_run.tags['dagster/partition']}]"
                                     if "dagster/partition" in result.dagster_run.tags else "")
            rows.append((f"{name.split('[')[0]}: {step}", event.event_specific_data.duration_ms / 1000,
                         notes.get(event.step_key, "")))
    return rows


def summary_lines(results: dict[str, dg.ExecuteInProcessResult]) -> list[str]:
    """One line per step of every run: seconds and, where it kept earlier work, what it kept."""
    rows = [row for name, result in results.items() for row in step_rows(name, result)]
    width = max((len(step) for step, _, _ in rows), default=0)
    return [f"{step:{width}}  {seconds:6.1f} s" + (f"  {note}" if note else "") for step, seconds, note in rows]
