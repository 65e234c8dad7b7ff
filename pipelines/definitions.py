"""The one Definitions object of the MedPairs code location."""

import dagster as dg

from assets.captions.defs import class_captions, native_text_captions
from assets.curation.defs import curation
from assets.export.defs import data_card, webdataset_shards
from assets.ingest.defs import raw_samples
from assets.report.defs import benchmark_report
from assets.sources.defs import source_catalog, source_files, synthetic_source
from assets.training.defs import clip_model, shuffled_control
from pipelines.automation import automation_sensor, with_automation
from pipelines.environment import load_environment
from pipelines.jobs import all_jobs, ingest_job
from pipelines.sensors import make_source_catalog_sensor, make_stale_runs_sensor

all_assets = [
    source_catalog,
    source_files,
    synthetic_source,
    raw_samples,
    class_captions,
    native_text_captions,
    curation,
    webdataset_shards,
    data_card,
    clip_model,
    shuffled_control,
    benchmark_report,
]


def build_definitions(resources: dict, cron: str | None = None, catalog_poll_s: int = 60) -> dg.Definitions:
    """The code location with the given resources (tests swap in their own), the source catalog
    sensor looking every `catalog_poll_s` seconds and, when `cron` is set, training and the report on
    that schedule (see pipelines/automation.py)."""
    sensors = [make_source_catalog_sensor(ingest_job, catalog_poll_s), automation_sensor, make_stale_runs_sensor()]
    return dg.Definitions(assets=with_automation(all_assets, cron), jobs=all_jobs, sensors=sensors,
                          resources=resources)


environment = load_environment()
defs = build_definitions(environment.resources, environment.training_cron, environment.catalog_poll_s)
