"""The one Definitions object of the MedPairs code location."""

import dagster as dg

from assets.captions.defs import class_captions
from assets.curation.defs import curation
from assets.export.defs import webdataset_shards
from assets.ingest.defs import raw_samples
from assets.report.defs import benchmark_report
from assets.sources.defs import synthetic_source
from assets.training.defs import clip_model
from pipelines.environment import current_environment, resources_for
from pipelines.jobs import medpairs_job

all_assets = [
    synthetic_source,
    raw_samples,
    class_captions,
    curation,
    webdataset_shards,
    clip_model,
    benchmark_report,
]

defs = dg.Definitions(
    assets=all_assets,
    jobs=[medpairs_job],
    resources=resources_for(current_environment()),
)
