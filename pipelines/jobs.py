"""Jobs: the pipeline in three steps, because ingest runs once per source (partition).

sources_job   validate the catalog (registering one raw_samples partition per source) and draw
              the embedded synthetic data;
ingest_job    ingest one source: run it once per partition (`--tags '{"dagster/partition": NAME}'`);
medpairs_job  from the ingested sources: captions, curation, shards, training, benchmark report;
shuffled_control_job  on request, after medpairs_job: train the shuffled-caption control and write the
              report again with it.

`python -m pipelines.run` (what `make demo` runs) runs all three, ingest for every partition.
"""

import dagster as dg

SOURCES = dg.AssetSelection.assets("source_catalog", "synthetic_source")
INGEST = dg.AssetSelection.assets("raw_samples")
# Trained only on request: as long as a second training run.
CONTROL = dg.AssetSelection.assets("shuffled_control")

sources_job = dg.define_asset_job(
    name="sources_job", selection=SOURCES,
    description="Validate the source catalog, register one ingest partition per source and draw "
                "the embedded synthetic sources.",
)
ingest_job = dg.define_asset_job(
    name="ingest_job", selection=INGEST,
    description="Ingest one source (one partition): decode, normalize, hash, quarantine bad inputs.",
)
medpairs_job = dg.define_asset_job(
    name="medpairs_job", selection=dg.AssetSelection.all() - SOURCES - INGEST - CONTROL,
    description="From the ingested sources: caption classes with an LLM and image-text samples from "
                "their own text, curate in DuckDB, export "
                "WebDataset shards, train a CLIP with open_clip and write the benchmark report.",
)
shuffled_control_job = dg.define_asset_job(
    name="shuffled_control_job", selection=CONTROL | dg.AssetSelection.assets("benchmark_report"),
    description="Train a control CLIP with the trained run's settings on captions shuffled against images, "
                "then write the benchmark report again with it (it should score at chance).",
)

all_jobs = [sources_job, ingest_job, medpairs_job, shuffled_control_job]
