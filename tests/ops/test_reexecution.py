"""Re-execution from failure, as the UI's "Re-execute from failure" does it: an ingest run fails
because its source folder is missing; once the folder is there, Dagster re-executes the failed run
from its failed step (same partition, same config) in a new run linked to the first."""

from __future__ import annotations

import dagster as dg
import pyarrow.parquet as pq
from ops_helpers import CATALOG, write_chest_folder

from tests.ops.reconstructable_jobs import ingest_job_from_environment


def test_failed_ingest_is_reexecuted_from_failure_once_the_source_is_there(tmp_path, monkeypatch):
    (tmp_path / "catalog.yaml").write_text(CATALOG.format(location=tmp_path / "chest"))  # not written yet
    monkeypatch.setenv("MEDPAIRS_CATALOG", str(tmp_path / "catalog.yaml"))
    monkeypatch.setenv("MEDPAIRS_STORAGE_ROOT", str(tmp_path / "data"))
    job = dg.reconstructable(ingest_job_from_environment)

    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("sources", ["chest_folder"])
        with dg.execute_job(job, instance, tags={"dagster/partition": "chest_folder"}) as failed:
            assert not failed.success
            failure = next(e for e in failed.all_events if e.is_step_failure)
            assert "does not exist" in failure.step_failure_data.error.message, failure.step_failure_data.error

        write_chest_folder(tmp_path / "chest")
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
