"""Every writer of finished files keeps one contract: the final name holds a complete file or what it
held before, never half a file, and no temporary file is left behind, on success or failure."""

import io
import json

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from assets.export.shard_writer import ShardWriter
from assets.shared.duckdb_fs import connect
from assets.shared.files import ParquetWriter, atomic_write, published_together, write_parquet_table

SCHEMA = pa.schema([("n", pa.int64())])


class Boom(Exception):
    pass


def _atomic(url, fail):
    fs, path = fsspec.core.url_to_fs(url)

    def write(f):
        f.write(b"new ")
        if fail:
            raise Boom
        f.write(b"content")
    atomic_write(fs, path, write)


def _parquet_table(url, fail):
    if fail:
        raise Boom  # nothing to fail midway: the table is whole before the write starts
    write_parquet_table(url, pa.table({"n": [1, 2, 3]}, schema=SCHEMA))


def _parquet_stream(url, fail):
    with ParquetWriter(url, SCHEMA) as writer:
        writer.write({"n": [1, 2]})
        if fail:
            raise Boom
        writer.write(pa.table({"n": [3]}, schema=SCHEMA))


def _shards(url, fail):
    with ShardWriter(url.rsplit("/", 1)[0], prefix="final", samples_per_shard=10) as writer:
        for i in range(3):
            writer.write({"key": f"s{i}", "image": b"png", "image_ext": "png", "txt": "a caption", "json": {}})
            if fail and i == 1:
                raise Boom


def _duckdb_copy(url, fail):
    with published_together([url]) as (temporary,):
        con = connect([temporary])
        con.execute("COPY (SELECT * FROM range(1, 4) t(n)) TO $out (FORMAT parquet)", {"out": temporary})
        con.close()
        if fail:
            raise Boom


WRITERS = {"atomic_write": (_atomic, "final.bin", lambda data: data == b"new content"),
           "write_parquet_table": (_parquet_table, "final.parquet",
                                   lambda data: pq.read_table(io.BytesIO(data))["n"].to_pylist() == [1, 2, 3]),
           "ParquetWriter": (_parquet_stream, "final.parquet",
                             lambda data: pq.read_table(io.BytesIO(data))["n"].to_pylist() == [1, 2, 3]),
           "published_together (DuckDB COPY)": (_duckdb_copy, "final.parquet",
                                                 lambda data: pq.read_table(io.BytesIO(data))["n"].to_pylist() == [1, 2, 3]),
           "ShardWriter": (_shards, "final-000000.tar", lambda data: data.count(b"a caption") == 3)}


@pytest.fixture(params=["local", "memory"])
def folder(request, tmp_path):
    if request.param == "local":
        yield str(tmp_path)
    else:
        url = f"memory://writers-{id(request)}"
        yield url
        fsspec.filesystem("memory").rm(url.split("://", 1)[1], recursive=True)


def _listing(folder):
    fs, path = fsspec.core.url_to_fs(folder)
    return sorted(p.rsplit("/", 1)[-1] for p in fs.find(path))


@pytest.mark.parametrize("name", WRITERS)
def test_success_publishes_a_complete_file_and_leaves_no_temporary(folder, name):
    write, final, complete = WRITERS[name]
    write(f"{folder}/{final}", fail=False)
    fs, path = fsspec.core.url_to_fs(f"{folder}/{final}")
    assert complete(fs.cat_file(path))
    assert not [n for n in _listing(folder) if n.endswith(".tmp")]


@pytest.mark.parametrize("name", WRITERS)
def test_failure_keeps_what_was_there_and_leaves_no_temporary(folder, name):
    write, final, _ = WRITERS[name]
    fs, path = fsspec.core.url_to_fs(f"{folder}/{final}")
    fs.pipe_file(path, b"previous")
    with pytest.raises(Boom):
        write(f"{folder}/{final}", fail=True)
    assert fs.cat_file(path) == b"previous"
    assert not [n for n in _listing(folder) if n.endswith(".tmp")], _listing(folder)


def test_a_closed_parquet_writer_refuses_more(tmp_path):
    writer = ParquetWriter(str(tmp_path / "x.parquet"), SCHEMA)
    writer.close()
    with pytest.raises(ValueError, match="already closed"):
        writer.close()
    assert json.dumps(pq.read_table(tmp_path / "x.parquet").to_pylist()) == "[]"
