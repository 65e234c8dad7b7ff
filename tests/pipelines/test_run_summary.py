"""The end-of-run summary of `python -m pipelines.run`: every step with its seconds, and what a step
kept from an earlier run, read from the metadata the assets return."""

import dagster as dg

from pipelines.run_summary import reused, summary_lines


@dg.asset
def kept_source() -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"unchanged": True})


@dg.asset(deps=[kept_source])
def cached_captions() -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"cache_hits": 22, "cache_misses": 0})


@dg.asset(deps=[cached_captions])
def fresh_model() -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"unchanged": False, "shards_reused": 0, "shards_written": 3})


def test_lists_every_step_and_what_it_skipped():
    result = dg.materialize([kept_source, cached_captions, fresh_model])
    lines = summary_lines({"medpairs_job": result})

    assert [line.split()[:2] for line in lines] == [["medpairs_job:", "kept_source"],
                                                     ["medpairs_job:", "cached_captions"],
                                                     ["medpairs_job:", "fresh_model"]]
    assert lines[0].endswith("s  unchanged since the last run: kept")
    assert lines[1].endswith("s  22 of 22 labels from the caption cache, nothing generated")
    assert lines[2].endswith(" s")  # did its work: nothing kept


def test_partial_reuse_is_said_as_such():
    assert reused({"cache_hits": 20, "cache_misses": 2}) == "20 of 22 labels from the caption cache"
    assert reused({"shards_reused": 4, "shards_written": 1}) == "4 of 5 shards unchanged: kept"
    assert reused({"condense_cache_hits": 7, "condense_cache_misses": 0}) == (
        "7 of 7 reports condensed from the cache, nothing generated")
    assert reused({"cache_hits": 0, "cache_misses": 22}) == ""
