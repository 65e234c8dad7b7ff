"""Near-duplicate dedup as a keep set against single-linkage clusters, on real images: how many
samples each keeps on the synthetic default, pydicom-data (every frame of every file) and a NIfTI
volume (every slice of nibabel's bundled anatomical scan), all taken as training samples.

Single linkage (MedPairs before the keep set) kept one sample per connected component of the
within-radius links, so a chain A~B~C dropped C for A though C was beyond the radius of A; the keep
set drops a sample only for a kept one within the radius. Both are counted from one curate() run:
the components from its clusters file (members - components is what single linkage dropped), the
keep set's drops from its log (exact_duplicate + near_duplicate). Writes bench/results/keep_set.json
and keep_set.md. Usage:
    python -m bench.keep_set
"""

from __future__ import annotations

import os
import platform
import tempfile
from datetime import datetime, timezone

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from assets.curation.curate import CurationParams, curate
from assets.ingest.ingest import ingest_rows
from assets.shared.metadata import md_table
from assets.sources.catalog import SourceSpec, SplitRule
from assets.sources.readers import read_source
from bench.output import write_results

LABEL = "scan"  # one class per set: dedup, not captions, is measured


def _specs(tmp: str) -> dict[str, SourceSpec]:
    import nibabel
    from data_store import DataStore

    from assets.sources.synthetic import generate_synthetic_dataset
    generate_synthetic_dataset(f"{tmp}/synthetic")
    train = SplitRule(by="fixed", default="train")
    return {
        "synthetic default": SourceSpec(name="synthetic", modality="xray", format="jsonl",
                                        location=f"{tmp}/synthetic/manifest.jsonl", split=train, privacy="public"),
        "pydicom-data, every frame": SourceSpec(
            name="pydicom_data", modality="ct", format="dicom", location=str(DataStore().data_path), split=train,
            options={"label_from": "none", "frames": "all"}, privacy="public"),
        "NIfTI volume, every slice": SourceSpec(
            name="anatomical", modality="mri", format="nifti", split=train, privacy="public",
            location=os.path.join(os.path.dirname(nibabel.__file__), "tests", "data", "anatomical.nii"),
            options={"slices": "every", "label_from": "none"}),
    }


def measure(name: str, spec: SourceSpec, tmp: str) -> dict:
    src = read_source(spec)
    raw = f"{tmp}/{spec.name}-raw.parquet"
    ingest_rows(src.rows(), root=src.root, out_path=raw, quarantine_path=f"{tmp}/{spec.name}-q.parquet")
    table = pq.read_table(raw)
    table = table.set_column(table.schema.get_field_index("label"), "label", pa.array([LABEL] * len(table)))
    pq.write_table(table, raw)
    captions = f"{tmp}/{spec.name}-captions.parquet"
    pq.write_table(pa.table({"source": [spec.name], "label": [LABEL], "caption": ["an image of a scan"],
                             "status": ["valid"], "origin": ["llm"]}), captions)
    pairs, log, clusters = (f"{tmp}/{spec.name}-{n}.parquet" for n in ("pairs", "log", "clusters"))
    stats = curate(raw, captions, pairs, log, out_clusters=clusters)
    members = pq.read_table(clusters, columns=["cluster_id"])["cluster_id"]
    components = len(pc.unique(members))
    dropped = {r: stats["dropped_by_reason"].get(r, 0) for r in ("exact_duplicate", "near_duplicate")}
    single_linkage_drops = len(members) - components
    return {"set": name, "samples": stats["samples_in"], "in_clusters": len(members), "clusters": components,
            "single_linkage_dropped": single_linkage_drops, "keep_set_dropped": sum(dropped.values()),
            **{f"keep_set_{r}": n for r, n in dropped.items()},
            "kept_more": single_linkage_drops - sum(dropped.values())}


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        rows = [measure(name, spec, tmp) for name, spec in _specs(tmp).items()]
    result = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
              "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "radius": CurationParams().near_duplicate_radius, "sets": rows}
    text = md_table([(r["set"], r["samples"], r["in_clusters"], r["clusters"], r["single_linkage_dropped"],
                      r["keep_set_dropped"], r["kept_more"]) for r in rows],
                    ("set", "samples", "in clusters", "clusters", "single linkage dropped", "keep set dropped",
                     "kept by the keep set, not by single linkage"))
    write_results("keep_set", result, text + "\n")
    print(text)


if __name__ == "__main__":
    main()
