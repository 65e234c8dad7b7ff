"""Export to `s3://` through s3fs against a real S3 API (moto's server on loopback): the same bytes as a
local export, webdataset and pyarrow read the result, and a re-run keeps every shard."""

from __future__ import annotations

import logging

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import webdataset as wds
from moto.server import ThreadedMotoServer
from webdataset.gopen import gopen_schemes

from assets.export.webdataset import MANIFEST_NAME, SHARDS_NAME, export_shards

BUCKET = "medpairs-export"


@pytest.fixture(scope="module")
def s3_options():
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    options = {"key": "testing", "secret": "testing", "endpoint_url": f"http://{host}:{port}",
               "skip_instance_cache": True}
    fsspec.filesystem("s3", **options).mkdir(BUCKET)
    yield options
    server.stop()


def _rows(n: int) -> list[dict]:
    return [{"sample_id": f"s{i}", "source": "src", "modality": "xray", "label": "normal", "split": "train",
             "image": {"bytes": bytes([i]) * (700 + 37 * i), "path": f"{i}.png"}, "image_format": "png",
             "captions": [f"caption {i}", f"other caption {i}"]} for i in range(n)]


def test_export_to_s3_matches_local_and_resumes(s3_options, tmp_path, monkeypatch):
    pq.write_table(pa.Table.from_pylist(_rows(7)), tmp_path / "pairs.parquet")
    local = export_shards(str(tmp_path / "pairs.parquet"), str(tmp_path / "local"), samples_per_shard=3)
    url = f"s3://{BUCKET}/shards"
    remote = export_shards(str(tmp_path / "pairs.parquet"), url, samples_per_shard=3, storage_options=s3_options)
    assert remote["shards"] == f"{url}/train-{{000000..000002}}.tar"
    assert remote["shard_sha256"] == local["shard_sha256"]

    fs = fsspec.filesystem("s3", **s3_options)
    assert not [p for p in fs.find(f"{BUCKET}/shards") if p.endswith(".tmp")]
    with fs.open(f"{url}/{MANIFEST_NAME}", "rb") as f:
        assert pq.read_table(f).column("key").to_pylist() == [f"{i:09d}" for i in range(7)]
    with fs.open(f"{url}/{SHARDS_NAME}", "rb") as f:
        assert pq.read_table(f).column("num_samples").to_pylist() == [3, 3, 1]

    monkeypatch.setitem(gopen_schemes, "s3", lambda u, mode="rb", bufsize=8192, **kw: fs.open(u, mode))
    samples = list(wds.WebDataset(remote["shards"], shardshuffle=False))
    assert [s["txt"].decode() for s in samples] == [f"caption {i}\nother caption {i}" for i in range(7)]

    again = export_shards(str(tmp_path / "pairs.parquet"), url, samples_per_shard=3, storage_options=s3_options)
    assert (again["shards_reused"], again["shards_written"]) == (3, 0)
