"""A run stopped anywhere, for real: `python -m pipelines.run` interrupted with Ctrl-C (as a terminal
sends it) in ingest, in the LLM captions and in training, and SIGKILLed (its whole process group, as
the out-of-memory killer would) between caption rounds, in the shard export and in training. Ctrl-C
gives the prompt back within seconds; each next run needs no manual step (a killed run is swept, its
gpu slot freed), says what it reused, and the last one ends with the dataset (curated pairs, shard
hashes) of an uninterrupted run."""

from __future__ import annotations

import hashlib
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq
import pytest

from tests.pipelines.pipeline_process import finish, interrupt_at, kill_at, make_project

SWEPT = "was still marked STARTED but its process is gone"


def dataset(home: Path) -> tuple[str, list]:
    pairs = home / "data/curated/curated_pairs.parquet"
    shards = pq.read_table(home / "data/shards/shards.parquet").to_pylist()
    return hashlib.sha256(pairs.read_bytes()).hexdigest(), sorted((s["shard"], s["sha256"]) for s in shards)


@pytest.mark.slow
def test_stopped_anywhere_the_next_run_goes_on_to_the_same_dataset(tmp_path):
    clean = make_project(tmp_path / "clean")
    assert "medpairs_job: ok" in finish(clean)

    home = make_project(tmp_path / "stopped")
    interrupt_at(home, 'Started execution of step "raw_samples"', 0.2)
    kill_at(home, "caption round 1:", 1.0)  # round 1 checkpointed, round 2 under way
    out = interrupt_at(home, "captions resumed after round 1", 1.0)
    assert SWEPT in out  # the run killed in captions
    out = kill_at(home, 'Started execution of step "webdataset_shards"', 0.3)
    assert "captions resumed after round 1" in out  # the Ctrl-C left the checkpoint as it was
    interrupt_at(home, "open_clip_train --", 3.0)
    kill_at(home, "open_clip_train --", 3.0)
    out = finish(home)
    assert SWEPT in out and "medpairs_job: ok" in out

    assert dataset(home) == dataset(clean)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        # Five runs stopped inside a step; the ingest run Ctrl-C'd may have finished its one step first
        # (the command stops before the next run all the same).
        stopped = [r for r in instance.get_runs() if r.status == dg.DagsterRunStatus.FAILURE]
        assert len(stopped) in (5, 6) and not instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
        assert not instance.event_log_storage.get_concurrency_info("gpu").claimed_slots
