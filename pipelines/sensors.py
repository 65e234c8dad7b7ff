"""Sensors: ingest a source when its catalog entry or its files change; clear runs whose process died."""

from __future__ import annotations

import json

import dagster as dg

from assets.sources.catalog import SourceSpec, changed_sources, partition_changes
from assets.sources.catalog_yaml import CatalogError
from assets.sources.defs import source_partitions
from assets.sources.fingerprint import source_fingerprint
from assets.sources.readers import SourceError
from assets.sources.resource import SourceCatalogResource
from pipelines.jobs import sources_job
from pipelines.stale_runs import sweep_dead_runs

SYNTHETIC_SOURCE = dg.AssetKey("synthetic_source")


def make_source_catalog_sensor(job: dg.UnresolvedAssetJobDefinition, minimum_interval_seconds: int = 60,
                               draw_job: dg.UnresolvedAssetJobDefinition = sources_job) -> dg.SensorDefinition:
    """A sensor that keeps raw_samples' partitions equal to the catalog's sources and requests an
    ingest run of `job` for every source that is new or whose entry or files changed (its
    source_fingerprint). A source whose location cannot be listed gets one run per state of its
    entry, which ingests it as empty if its location does not exist (and again once its files are
    there), or fails with the reason. The embedded synthetic sources have no files until
    synthetic_source has materialized: until the instance records that, the sensor requests one
    run of `draw_job` (which draws them) instead of their ingests, and leaves them out of the
    cursor, so the first tick after it ingests them. The cursor is the JSON {source: fingerprint}
    last seen."""

    @dg.sensor(name="source_catalog_sensor", jobs=[job, draw_job], minimum_interval_seconds=minimum_interval_seconds,
               default_status=dg.DefaultSensorStatus.STOPPED,
               description="Adds or removes ingest partitions as the source catalog changes, and ingests "
                           "every new source and every source whose entry or files changed.")
    def source_catalog_sensor(context: dg.SensorEvaluationContext, catalog: SourceCatalogResource):
        try:
            specs = catalog.sources()
        except (CatalogError, OSError) as e:
            return dg.SkipReason(f"the catalog {catalog.path} cannot be used: {e}")
        drawn = context.instance.get_latest_materialization_event(SYNTHETIC_SOURCE) is not None
        waiting = {spec.name for spec in specs if spec.synthetic and not drawn}
        current = {spec.name: _fingerprint(spec) for spec in specs if spec.name not in waiting}
        changed = changed_sources(json.loads(context.cursor or "{}"), current)
        added, removed = partition_changes(context.instance.get_dynamic_partitions(source_partitions.name),
                                           [spec.name for spec in specs])
        ingests = [dg.RunRequest(job_name=job.name, partition_key=name, run_key=f"{name}:{current[name]}")
                   for name in changed]
        # One run key: while the draw is queued or running, later ticks request nothing more.
        draws = [dg.RunRequest(job_name=draw_job.name, run_key="draw:synthetic_source")] if waiting else []
        return dg.SensorResult(
            run_requests=ingests + draws,
            dynamic_partitions_requests=[source_partitions.build_add_request(added),
                                         source_partitions.build_delete_request(removed)],
            cursor=json.dumps(current, sort_keys=True),
        )

    return source_catalog_sensor


def _fingerprint(spec: SourceSpec) -> str:
    try:
        return source_fingerprint(spec)
    except SourceError:
        return f"unreadable:{spec.fingerprint()}"


def make_stale_runs_sensor(minimum_interval_seconds: int = 60) -> dg.SensorDefinition:
    """A sensor that, every minute the daemon runs, marks failed the runs whose process is gone and
    frees the pool slots they hold (pipelines/stale_runs.py): Dagster's default run launcher cannot
    tell the daemon's run monitoring that a run worker died. On by default: it launches nothing."""

    @dg.sensor(name="stale_runs_sensor", minimum_interval_seconds=minimum_interval_seconds,
               default_status=dg.DefaultSensorStatus.RUNNING,
               description="Marks failed the runs whose process was killed and frees their pool slots.")
    def stale_runs_sensor(context: dg.SensorEvaluationContext):
        acted = sweep_dead_runs(context.instance)
        return dg.SkipReason(f"cleared {len(acted)} run(s): {', '.join(r[:8] for r in acted)}" if acted
                             else "no run with a dead process")

    return stale_runs_sensor
