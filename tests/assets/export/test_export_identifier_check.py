"""The export's privacy check: shard members and manifests searched for the clinical sources' keyed
identifiers; a hit removes the shards and names the shard and member, never the value."""

from __future__ import annotations

import io
import json
import tarfile

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from assets.export.identifier_check import check_no_identifiers, digest_files
from assets.sources.readers.identifiers import IdentifierLeak, Identifiers


def _shard(path, meta: dict, caption: str) -> str:
    with tarfile.open(path, "w") as tar:
        for name, data in (("000000000.png", b"\x89PNG"), ("000000000.txt", caption.encode()),
                           ("000000000.json", json.dumps(meta).encode())):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return str(path)


@pytest.fixture
def digests(tmp_path):
    ids = Identifiers(salt=b"salt")
    ids.add("Quincyworth^Janet")
    (tmp_path / "samples" / "pacs").mkdir(parents=True)
    ids.keyed().write(str(tmp_path / "samples" / "pacs" / "_identifiers.parquet"))
    (tmp_path / "samples" / "public_set").mkdir()
    return digest_files(str(tmp_path / "samples"), "_identifiers.parquet")


def test_a_name_in_a_shard_member_removes_the_shards_and_names_the_member(tmp_path, digests):
    clean = _shard(tmp_path / "train-000000.tar", {"label": "pneumonia", "orig_path": "id-0a1b"}, "A chest X-ray.")
    leaky = _shard(tmp_path / "train-000001.tar", {"label": "pneumonia", "orig_path": "QUINCYWORTH_JANET/1.png"},
                   "A chest X-ray.")
    pq.write_table(pa.table({"sample_id": ["a"], "label": ["pneumonia"]}), tmp_path / "manifest.parquet")
    with pytest.raises(IdentifierLeak) as err:
        check_no_identifiers(digests, [clean, leaky], [str(tmp_path / "manifest.parquet")], salt=lambda: b"salt")
    assert "train-000001.tar .json" in str(err.value) and "000000.tar" not in str(err.value)
    assert "janet" not in str(err.value).lower() and not list(tmp_path.glob("*.tar"))


def test_clean_shards_pass_and_without_clinical_sources_nothing_is_searched(tmp_path, digests):
    clean = _shard(tmp_path / "train-000000.tar", {"label": "normal"}, "A normal chest X-ray.")
    assert check_no_identifiers(digests, [clean], [], salt=lambda: b"salt") == {
        "identifiers_searched": 2, "files_searched": 1}
    assert check_no_identifiers([], [clean], [], salt=pytest.fail) == {"identifiers_searched": 0, "files_searched": 0}


def test_a_name_in_a_list_column_of_curations_outputs_is_found(tmp_path, digests):
    """Curation's outputs are searched too: a caption list and a log's detail column."""
    clean = _shard(tmp_path / "train-000000.tar", {"label": "normal"}, "A normal chest X-ray.")
    pq.write_table(pa.table({"sample_id": ["a"], "captions": [["A chest X-ray of Janet Quincyworth."]]}),
                   tmp_path / "curated_pairs.parquet")
    pq.write_table(pa.table({"sample_id": ["a"], "reason": ["exact_duplicate"], "detail": ["kept a"]}),
                   tmp_path / "curation_log.parquet")
    with pytest.raises(IdentifierLeak) as err:
        check_no_identifiers(digests, [clean], [str(tmp_path / "curated_pairs.parquet"),
                                                str(tmp_path / "curation_log.parquet")], salt=lambda: b"salt")
    assert "curated_pairs.parquet captions" in str(err.value) and "curation_log" not in str(err.value)
