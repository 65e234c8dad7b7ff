"""Sources on S3: a catalog on S3 naming an ImageFolder and a CSV manifest on S3, read by their
readers and ingested with the samples and the quarantine written back to S3."""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image
from s3_helpers import png_bytes, put, read_parquet

from assets.ingest.ingest import ingest_rows
from assets.sources.catalog import SourceSpec
from assets.sources.catalog_yaml import load_catalog
from assets.sources.readers import SourceError, read_source

CATALOG = """\
sources:
  - name: s3_folder
    modality: xray
    format: imagefolder
    location: folder                      # relative to the catalog: an s3:// URL too
    classes: [normal, pneumonia]
    split: {{fixed: train}}
  - name: s3_manifest
    modality: xray
    format: csv
    location: {prefix}/manifest/labels.csv
    classes: [normal, pneumonia]
    split: {{column: split}}
"""
MANIFEST = """\
path,label,split
images/a.png,normal,train
images/b.png,pneumonia,test
images/missing.png,normal,train
images/c.png,fracture,train
images/empty.png,normal,train
"""


@pytest.fixture
def s3_sources(s3, s3_prefix) -> str:
    """The catalog URL of an ImageFolder and a CSV manifest on S3, each with bad files among good ones."""
    good = png_bytes(seed=1)
    put(s3, s3_prefix, {
        "catalog.yaml": CATALOG.format(prefix=s3_prefix),
        "folder/normal/n1.png": png_bytes(10),
        "folder/normal/n2.png": png_bytes(20),
        "folder/normal/notes.txt": "not an image",
        "folder/pneumonia/p1.png": good,
        "folder/pneumonia/truncated.png": good[: len(good) // 2],
        "manifest/labels.csv": MANIFEST,
        "manifest/images/a.png": png_bytes(30),
        "manifest/images/b.png": png_bytes(seed=2),
        "manifest/images/c.png": png_bytes(40),
        "manifest/images/empty.png": b"",
    })
    return f"{s3_prefix}/catalog.yaml"


def test_catalog_sources_on_s3_ingest_to_s3_with_bad_files_quarantined(s3, s3_prefix, s3_sources):
    specs = {s.name: s for s in load_catalog(s3_sources)}
    assert specs["s3_folder"].location == f"{s3_prefix}/folder"
    out = {}
    for name, spec in specs.items():
        src = read_source(spec)
        assert src.root.startswith(f"{s3_prefix}/")
        stats = ingest_rows(src.rows(), root=src.root, out_path=f"{s3_prefix}/raw_samples/{name}.parquet",
                            quarantine_path=f"{s3_prefix}/raw_samples/quarantine/{name}.parquet", batch_size=2)
        assert stats["rows_read"] == stats["ingested"] + stats["quarantined"]
        samples = read_parquet(s3, f"{s3_prefix}/raw_samples/{name}.parquet")
        quarantine = read_parquet(s3, f"{s3_prefix}/raw_samples/quarantine/{name}.parquet")
        out[name] = ({r["orig_path"]: (r["label"], r["split"]) for r in samples},
                     {r["orig_path"]: r["reason"] for r in quarantine})
        for r in samples:
            assert Image.open(io.BytesIO(r["image"]["bytes"])).size == (r["width"], r["height"])
            assert json.loads(r["provenance"])["root"] == src.root

    assert out["s3_folder"] == (
        {"normal/n1.png": ("normal", "train"), "normal/n2.png": ("normal", "train"),
         "pneumonia/p1.png": ("pneumonia", "train")},
        {"normal/notes.txt": "unsupported_extension", "pneumonia/truncated.png": "corrupt"},
    )
    assert out["s3_manifest"] == (
        {"images/a.png": ("normal", "train"), "images/b.png": ("pneumonia", "test")},
        {"images/missing.png": "missing_file", "images/c.png": "unknown_label", "images/empty.png": "empty"},
    )
    written = s3.find(f"{s3_prefix}/raw_samples")
    assert sorted(p.rsplit("/raw_samples/", 1)[1] for p in written) == [
        "quarantine/s3_folder.parquet", "quarantine/s3_manifest.parquet", "s3_folder.parquet", "s3_manifest.parquet"]


@pytest.mark.parametrize("fmt", ["imagefolder", "csv"])
@pytest.mark.parametrize("where", ["missing_key", "missing_bucket"])
def test_missing_s3_location_is_a_clear_source_error(s3_prefix, where, fmt):
    location = {"missing_key": f"{s3_prefix}/not-there/labels.csv",
                "missing_bucket": "s3://medpairs-no-such-bucket/labels.csv"}[where]
    with pytest.raises(SourceError, match=rf"source 'gone': location '{location}' does not exist"):
        read_source(SourceSpec("gone", "xray", location=location, format=fmt))


def test_unreachable_s3_endpoint_is_a_clear_source_error(s3_prefix, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # closed port
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    with pytest.raises(SourceError, match=r"source 'away': cannot reach 's3://.*': .*Could not connect"):
        read_source(SourceSpec("away", "xray", location=f"{s3_prefix}/labels.csv", format="csv"))


def test_partitioned_ingest_through_dagster_with_catalog_and_storage_root_on_s3(s3, s3_prefix, s3_sources):
    """The same sources through sources_job and one ingest_job run per partition, everything on S3."""
    import dagster as dg

    from assets.shared.storage import StorageResource
    from assets.sources.resource import SourceCatalogResource
    from pipelines.definitions import build_definitions
    from pipelines.environment import load_environment
    from pipelines.run import run_pipeline

    root = f"{s3_prefix}/store"
    defs = build_definitions({**load_environment({}).resources, "storage": StorageResource(root=root),
                              "catalog": SourceCatalogResource(path=s3_sources)})
    small = {"ops": {"synthetic_source": {"config": {"train_per_class": 1, "test_per_class": 1, "image_size": 16}}}}
    with dg.instance_for_test() as instance:
        outcome = run_pipeline(defs, instance, small, ingest_only=True)
    assert outcome.success and sorted(outcome.ingested) == ["s3_folder", "s3_manifest"]
    assert s3.exists(f"{root}/sources/catalog.json")
    samples = read_parquet(s3, f"s3://{s3.glob(f'{root}/raw_samples/samples/s3_folder/part-*.parquet')[0]}")
    quarantine = read_parquet(s3, f"s3://{s3.glob(f'{root}/raw_samples/quarantine/s3_manifest/part-*.parquet')[0]}")
    assert sorted(r["orig_path"] for r in samples) == ["normal/n1.png", "normal/n2.png", "pneumonia/p1.png"]
    assert sorted(r["reason"] for r in quarantine) == ["empty", "missing_file", "unknown_label"]
