"""Jobs: the whole default pipeline, from the embedded source to the benchmark report."""

import dagster as dg

medpairs_job = dg.define_asset_job(
    name="medpairs_job",
    selection=dg.AssetSelection.all(),
    description="Synthesize or ingest sources, caption classes with an LLM, curate in DuckDB, "
                "export WebDataset shards, train a CLIP with open_clip and write the benchmark report.",
)
