"""source_fingerprint: a source's data version moves with its entry and its files, and only then."""

from __future__ import annotations

import dataclasses
import os

import pytest

from assets.sources.catalog import ClassInfo, SourceSpec, SplitRule
from assets.sources.fingerprint import source_fingerprint
from assets.sources.readers import SourceError


def _spec(location, **kw) -> SourceSpec:
    return SourceSpec("cxr", "xray", classes=(ClassInfo("normal"),), location=str(location), format="imagefolder", **kw)


def test_moves_with_files_and_entry_only(tmp_path):
    (tmp_path / "normal").mkdir()
    (tmp_path / "normal" / "a.png").write_bytes(b"one")
    spec = _spec(tmp_path)
    first = source_fingerprint(spec)
    assert source_fingerprint(spec) == first
    (tmp_path / "normal" / "b.png").write_bytes(b"two")
    added = source_fingerprint(spec)
    assert added != first
    os.utime(tmp_path / "normal" / "a.png", (1, 1))
    touched = source_fingerprint(spec)
    assert touched != added
    assert source_fingerprint(dataclasses.replace(spec, license="CC BY 4.0")) != touched


def test_a_manifest_and_the_images_beside_it_both_count(tmp_path):
    (tmp_path / "labels.csv").write_text("path,label\nimg/a.png,normal\n")
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "a.png").write_bytes(b"one")
    spec = SourceSpec("m", "xray", location=str(tmp_path / "labels.csv"), format="csv")
    first = source_fingerprint(spec)
    (tmp_path / "img" / "a.png").write_bytes(b"changed bytes")
    assert source_fingerprint(spec) != first


def test_a_join_file_outside_the_image_root_counts(tmp_path):
    (tmp_path / "meta.csv").write_text("id,caption\na,x\n")
    (tmp_path / "split.csv").write_text("id,split\na,train\n")
    (tmp_path / "images").mkdir()
    spec = SourceSpec("m", "xray", kind="image_text", location=str(tmp_path / "meta.csv"), format="csv",
                      options={"image_root": "images", "path_template": "{id}.png",
                               "join": [{"file": "split.csv", "key": ["id"], "columns": ["split"]}]})
    first = source_fingerprint(spec)
    (tmp_path / "split.csv").write_text("id,split\na,test\n")
    assert source_fingerprint(spec) != first


def test_synthetic_sources_go_by_their_entry_and_missing_locations_are_source_errors(tmp_path):
    synthetic = SourceSpec("s", "ct", location="embedded:synthetic", synthetic=True)
    assert source_fingerprint(synthetic) == source_fingerprint(synthetic)
    with pytest.raises(SourceError, match="does not exist"):
        source_fingerprint(_spec(tmp_path / "nowhere"))


def test_split_lists_beside_an_image_folder_count(tmp_path):
    (tmp_path / "images" / "normal").mkdir(parents=True)
    (tmp_path / "images" / "normal" / "a.png").write_bytes(b"one")
    (tmp_path / "test_list.txt").write_text("a.png\n")
    spec = _spec(tmp_path / "images", split=SplitRule(by="lists", lists=(("test", "test_list.txt"),)))
    first = source_fingerprint(spec)
    (tmp_path / "test_list.txt").write_text("a.png\nb.png\n")
    assert source_fingerprint(spec) != first
