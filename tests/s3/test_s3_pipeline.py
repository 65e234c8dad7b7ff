"""The data path on S3 end to end: sources read and ingested, curated in DuckDB, exported as
WebDataset shards, and the shards read back by webdataset; configured by the environment or by
explicit storage_options."""

from __future__ import annotations

import json
import shlex
import sys

import fsspec
import pytest
import webdataset as wds
from s3_helpers import png_bytes, put, put_parquet, read_parquet
from webdataset.gopen import gopen_schemes

from assets.curation.curate import check_invariants, curate
from assets.export.webdataset import MANIFEST_NAME, SIZES_NAME, export_shards
from assets.ingest.ingest import ingest_rows
from assets.sources.catalog import ClassInfo, SourceSpec, SplitRule
from assets.sources.readers import read_source

CLASSES = (ClassInfo("normal"), ClassInfo("pneumonia"))
CAPTIONS = [{"source": s, "label": label, "caption": f"A {label} chest X-ray.", "status": "valid", "origin": "llm"}
            for s in ("folder_src", "manifest_src") for label in ("normal", "pneumonia")]
# Closed port: a client that ignores explicit storage_options and follows the environment fails fast.
DEAD_ENDPOINT = "http://127.0.0.1:9"


def _fsspec_gopen(storage_options: dict):
    """A webdataset gopen handler that opens URLs through fsspec (in process, no CLI needed)."""
    def gopen(url, mode="rb", bufsize=8192, **kw):
        return fsspec.open(url, mode, **storage_options).open()
    return gopen


def _read_shards(urls: str | list[str]) -> dict[str, tuple[str, tuple[int, int]]]:
    """{key: (caption, image size)} of every sample in the shards, as open_clip's loader sees them."""
    return {s["__key__"]: (s["txt"], s["png"].size)
            for s in wds.WebDataset(urls, shardshuffle=False).decode("pil")}


@pytest.mark.parametrize("config", ["environment", "storage_options"])
def test_ingest_curate_export_on_s3(s3, s3_env, s3_prefix, monkeypatch, config):
    duplicate = png_bytes(seed=7, size=64)  # a training image that is also a test image: must not train
    put(s3, s3_prefix, {
        "folder/normal/n1.png": png_bytes(seed=10, size=64), "folder/normal/n2.png": png_bytes(seed=20, size=64),
        "folder/pneumonia/p1.png": duplicate, "folder/pneumonia/bad.png": b"\x89PNG\r\n\x1a\n broken",
        "manifest/labels.csv": "path,label,split\nimg/a.png,normal,train\nimg/b.png,pneumonia,test\n",
        "manifest/img/a.png": png_bytes(seed=30, size=64), "manifest/img/b.png": duplicate,
    })
    put_parquet(s3, f"{s3_prefix}/captions/class_captions.parquet", CAPTIONS)
    options = None
    if config == "storage_options":
        monkeypatch.setenv("AWS_ENDPOINT_URL", DEAD_ENDPOINT)
        s3.clear_instance_cache()
        options = {"endpoint_url": s3_env}
    specs = [SourceSpec("folder_src", "xray", classes=CLASSES, location=f"{s3_prefix}/folder", format="imagefolder",
                        split=SplitRule(by="fixed", default="train")),
             SourceSpec("manifest_src", "xray", classes=CLASSES, location=f"{s3_prefix}/manifest/labels.csv",
                        format="csv")]
    raw = f"{s3_prefix}/raw_samples"
    for spec in specs:
        src = read_source(spec, storage_options=options)
        stats = ingest_rows(src.rows(), root=src.root, out_path=f"{raw}/{spec.name}.parquet",
                            quarantine_path=f"{raw}/quarantine/{spec.name}.parquet", storage_options=options)
        assert stats["rows_read"] == stats["ingested"] + stats["quarantined"]
        assert stats["quarantined"] == (spec.name == "folder_src")

    pairs, drop_log = f"{s3_prefix}/curated/curated_pairs.parquet", f"{s3_prefix}/curated/curation_log.parquet"
    stats = curate(f"{raw}/*.parquet", f"{s3_prefix}/captions/class_captions.parquet", pairs, drop_log,
                   storage_options=options)
    assert stats["samples_in"] == 5 == stats["kept"] + stats["dropped"]
    assert stats["dropped_by_reason"] == {"evaluation_duplicate": 1}
    assert check_invariants(pairs, storage_options=options) == {"train_eval_overlap": 0, "duplicate_train_hashes": 0}

    shards = f"{s3_prefix}/shards/train"
    export = export_shards(pairs, shards, samples_per_shard=2, storage_options=options)
    assert (export["num_samples"], export["num_shards"]) == (3, 2)

    fs = fsspec.filesystem("s3", **(options or {}))
    log_rows = read_parquet(fs, drop_log)
    assert [r["reason"] for r in log_rows] == ["evaluation_duplicate"]
    kept = {(r["source"], r["label"], r["split"]) for r in read_parquet(fs, pairs)}
    assert kept == {("folder_src", "normal", "train"), ("manifest_src", "normal", "train"),
                    ("manifest_src", "pneumonia", "test")}
    manifest = read_parquet(fs, f"{shards}/{MANIFEST_NAME}")
    urls = [f"{shards}/{name}" for name in sorted({r["shard"] for r in manifest})]
    monkeypatch.setitem(gopen_schemes, "s3", _fsspec_gopen(options or {}))
    samples = _read_shards(urls)
    assert sorted(samples) == sorted(r["key"] for r in manifest)
    assert {caption for caption, _ in samples.values()} == {"A normal chest X-ray."}
    assert not [p for p in fs.find(s3_prefix) if p.endswith(".tmp")]


def test_shards_on_s3_are_read_by_webdataset_through_a_pipe(s3, s3_prefix):
    """open_clip's way to read S3 shards: `pipe:` URLs whose command writes the object to stdout."""
    rows = [{"sample_id": f"s{i}", "source": "src", "modality": "xray", "label": "normal", "split": "train",
             "image": {"bytes": png_bytes(seed=i, size=8 + i), "path": f"s{i}.png"}, "image_format": "png",
             "captions": [f"caption {i}"]} for i in range(5)]
    put_parquet(s3, f"{s3_prefix}/curated.parquet", rows)
    stats = export_shards(f"{s3_prefix}/curated.parquet", f"{s3_prefix}/shards", samples_per_shard=2)
    assert stats["shards"] == f"{s3_prefix}/shards/train-{{000000..000002}}.tar"
    assert json.loads(s3.cat_file(f"{s3_prefix}/shards/{SIZES_NAME}")) == {
        "train-000000.tar": 2, "train-000001.tar": 2, "train-000002.tar": 1}

    cat = "import fsspec, shutil, sys; shutil.copyfileobj(fsspec.open(sys.argv[1]).open(), sys.stdout.buffer)"
    samples = _read_shards(f"pipe:{shlex.quote(sys.executable)} -c {shlex.quote(cat)} {stats['shards']}")
    assert samples == {f"{i:09d}": (f"caption {i}", (8 + i, 8 + i)) for i in range(5)}
