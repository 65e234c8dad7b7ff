"""Re-execution from failure, as the UI's "Re-execute from failure" does it: an ingest run fails
because its source's manifest lacks the path column; once the manifest is fixed, Dagster re-executes
the failed run from its failed step (same partition, same config) in a new run linked to the first."""

from __future__ import annotations

import dagster as dg
import pyarrow.parquet as pq
from ops_helpers import write_chest_folder

from tests.ops.reconstructable_jobs import ingest_job_from_environment

# A manifest beside the chest folder (a missing location would not fail: it is ingested as empty).
CATALOG = """\
sources:
  - {name: chest_folder, modality: xray, format: csv, location: chest/list.csv, classes: [normal, pneumonia],
     split: {fixed: train}}
"""


def _manifest(folder, path_column: str) -> None:
    lines = [f"{label}/{i}.png,{label}" for label in ("normal", "pneumonia") for i in range(6)]
    (folder / "list.csv").write_text("\n".join([f"{path_column},label", *lines]) + "\n")


def test_failed_ingest_is_reexecuted_from_failure_once_the_source_is_fixed(tmp_path, monkeypatch):
    write_chest_folder(tmp_path / "chest")
    _manifest(tmp_path / "chest", "file")  # the reader looks for a `path` column
    (tmp_path / "catalog.yaml").write_text(CATALOG)
    monkeypatch.setenv("MEDPAIRS_CATALOG", str(tmp_path / "catalog.yaml"))
    monkeypatch.setenv("MEDPAIRS_STORAGE_ROOT", str(tmp_path / "data"))
    job = dg.reconstructable(ingest_job_from_environment)

    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("sources", ["chest_folder"])
        with dg.execute_job(job, instance, tags={"dagster/partition": "chest_folder"}) as failed:
            assert not failed.success
            failure = next(e for e in failed.all_events if e.is_step_failure)
            assert "lacks column(s) ['path']" in failure.step_failure_data.error.message, failure.step_failure_data.error

        _manifest(tmp_path / "chest", "path")
        options = dg.ReexecutionOptions.from_failure(failed.run_id, instance)
        parent = instance.get_run_by_id(failed.run_id)
        # Unlike the UI's re-execute, execute_job takes the parent's tags (the partition) and config
        # from the caller.
        with dg.execute_job(job, instance, reexecution_options=options, run_config=parent.run_config,
                            tags={"dagster/partition": parent.tags["dagster/partition"]}) as retried:
            assert retried.success
            run = instance.get_run_by_id(retried.run_id)
            assert (run.parent_run_id, run.root_run_id) == (failed.run_id, failed.run_id)
            assert run.tags["dagster/partition"] == "chest_folder"
            assert run.step_keys_to_execute == ["raw_samples"]  # the failed step, chosen from the parent
            assert [e.step_key for e in retried.all_events if e.is_step_success] == ["raw_samples"]

    rows = pq.read_table(tmp_path / "data/raw_samples/samples/chest_folder").to_pylist()
    assert sorted(r["label"] for r in rows) == ["normal"] * 6 + ["pneumonia"] * 6
