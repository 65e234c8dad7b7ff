"""Parquet in the Hugging Face `datasets` layout: image struct<bytes, path>, ClassLabel ints, captions."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from reader_helpers import make_spec, png_bytes, run_ingest

from assets.sources.readers import SourceError, read_source

IMAGE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])


def _write(path, columns: dict, types: dict, features: dict | None = None):
    schema = pa.schema([(k, types[k]) for k in columns])
    if features is not None:
        schema = schema.with_metadata({"huggingface": json.dumps({"info": {"features": features}})})
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pydict(columns, schema=schema), path, row_group_size=2)


def test_classlabel_ints_named_from_metadata_and_split_from_file_name(tmp_path):
    features = {"image": {"_type": "Image"},
                "label": {"names": ["glioma", "meningioma", "no tumor"], "_type": "ClassLabel"}}
    images = [{"bytes": png_bytes(seed=i), "path": f"img{i}.png"} for i in range(4)]
    images.append({"bytes": None, "path": "lost.png"})
    images.append({"bytes": b"\x89PNG\r\n\x1a\n garbage", "path": "bad.png"})
    _write(tmp_path / "data" / "train-00000-of-00002.parquet",
           {"image": images, "label": [0, 1, 2, 5, 0, 1]}, {"image": IMAGE, "label": pa.int64()}, features)
    _write(tmp_path / "data" / "test-00000-of-00001.parquet",
           {"image": [images[0]], "label": [2]}, {"image": IMAGE, "label": pa.int64()}, features)
    src = read_source(make_spec("hf_parquet", tmp_path / "data", modality="mri", batch_size=4))
    stats, samples, quarantine = run_ingest(src, tmp_path / "out")
    got = sorted((s["orig_path"], s["label"], s["split"]) for s in samples)
    assert got == [("test-00000-of-00001.parquet#0", "no tumor", "test"),
                   ("train-00000-of-00002.parquet#0", "glioma", "train"),
                   ("train-00000-of-00002.parquet#1", "meningioma", "train"),
                   ("train-00000-of-00002.parquet#2", "no tumor", "train")]
    assert sorted((q["orig_path"], q["reason"]) for q in quarantine) == [
        ("train-00000-of-00002.parquet#3", "unknown_label"),
        ("train-00000-of-00002.parquet#4", "missing_image"),
        ("train-00000-of-00002.parquet#5", "corrupt")]


def test_string_labels_split_column_and_captions(tmp_path):
    _write(tmp_path / "roco.parquet",
           {"image": [png_bytes(seed=1), png_bytes(seed=2), png_bytes(seed=3)],
            "caption": ["Axial CT showing a renal cyst.", None, "Chest X-ray, right lower lobe opacity."],
            "split": ["validation", "train", "test"]},
           {"image": pa.binary(), "caption": pa.string(), "split": pa.string()})
    spec = make_spec("hf_parquet", tmp_path / "roco.parquet", kind="image_text", modality="ct")
    records = list(read_source(spec).records)
    assert [(r.split, r.error, r.caption) for r in records] == [
        ("val", None, "Axial CT showing a renal cyst."), ("train", "missing_caption", None),
        ("test", None, "Chest X-ray, right lower lobe opacity.")]
    _write(tmp_path / "labels" / "x.parquet", {"img": [png_bytes(seed=4)], "label": ["Cyst"]},
           {"img": pa.binary(), "label": pa.string()})
    spec = make_spec("hf_parquet", tmp_path / "labels", classes=["cyst", "stone"], image_column="img")
    assert [(r.label, r.split) for r in read_source(spec).records] == [("cyst", "train")]


def test_missing_image_column_fails_and_a_corrupt_file_is_quarantined(tmp_path):
    _write(tmp_path / "a" / "x.parquet", {"picture": [b"x"]}, {"picture": pa.binary()})
    with pytest.raises(SourceError, match="no image column 'image'"):
        list(read_source(make_spec("hf_parquet", tmp_path / "a")).records)
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "train-0.parquet").write_bytes(b"PAR1 not really parquet PAR1")
    records = list(read_source(make_spec("hf_parquet", tmp_path / "b")).records)
    assert [(r.record_id, r.error) for r in records] == [("train-0.parquet#unreadable", "corrupt_archive")]
