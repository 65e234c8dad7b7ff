"""Jobs: the pipeline in three steps, because ingest runs once per source (partition).

sources_job   validate the catalog (registering one raw_samples partition per source) and draw
              the embedded synthetic data;
ingest_job    ingest one source: run it once per partition (`--tags '{"dagster/partition": NAME}'`);
medpairs_job  from the ingested sources: captions, curation, shards, training, benchmark report.

`python -m pipelines.run` (what `make demo` runs) runs all three, ingest for every partition.
"""

import dagster as dg

SOURCES = dg.AssetSelection.assets("source_catalog", "synthetic_source")
INGEST = dg.AssetSelection.assets("raw_samples")

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
    name="medpairs_job", selection=dg.AssetSelection.all() - SOURCES - INGEST,
    description="From the ingested sources: caption classes with an LLM, curate in DuckDB, export "
                "WebDataset shards, train a CLIP with open_clip and write the benchmark report.",
)

all_jobs = [sources_job, ingest_job, medpairs_job]
