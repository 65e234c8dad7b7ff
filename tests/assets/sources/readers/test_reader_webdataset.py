"""Existing WebDataset shards: samples grouped by key, captions, JSON, broken members and tars."""

from __future__ import annotations

import io
import json
import tarfile

from PIL import Image
from reader_helpers import make_spec, png_bytes, run_ingest

from assets.sources.readers import read_source


def _tar(path, members: list[tuple[str, bytes]], mode: str = "w"):
    with tarfile.open(path, mode) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def _bomb() -> bytes:
    buf = io.BytesIO()
    Image.new("1", (9000, 9000)).save(buf, format="PNG")  # 81M pixels in a ~10 kB file
    return buf.getvalue()


def test_image_text_shards(tmp_path):
    shards = tmp_path / "shards"
    shards.mkdir()
    _tar(shards / "roco-000000.tar", [
        ("s/000001.png", png_bytes(seed=1)),
        ("s/000001.txt", "Sagittal MRI of the lumbar spine.".encode()),
        ("s/000001.json", json.dumps({"pmcid": "PMC123", "license": "CC BY"}).encode()),
        ("s/000002.png", png_bytes(seed=2)),
        ("s/000002.txt", b"caf\xe9 in latin-1"),
        ("s/000003.txt", b"a caption with no image"),
        ("s/000004.jpg", png_bytes(seed=4)),
        ("s/000004.json", json.dumps({"caption": "Ultrasound of a breast mass."}).encode()),
        ("s/000005.png", b"\x89PNG\r\n\x1a\ntruncated"),
        ("s/000005.txt", b"broken image"),
        ("s/000007.png", b"just some text"),
        ("s/000007.txt", b"not an image"),
        ("s/000008.png", _bomb()),
        ("s/000008.txt", b"a decompression bomb"),
    ])
    _tar(shards / "roco-000001.tar.gz", [("000006.png", png_bytes(seed=6)), ("000006.txt", b"Fundus photo.")],
         mode="w:gz")
    spec = make_spec("webdataset", shards, kind="image_text", modality="mri")
    records = list(read_source(spec).records)
    assert [(r.record_id, r.error) for r in records] == [
        ("roco-000000.tar#s/000001", None), ("roco-000000.tar#s/000002", "bad_encoding"),
        ("roco-000000.tar#s/000003", "missing_image"), ("roco-000000.tar#s/000004", None),
        ("roco-000000.tar#s/000005", None), ("roco-000000.tar#s/000007", None), ("roco-000000.tar#s/000008", None),
        ("roco-000001.tar.gz#000006", None)]
    assert records[0].caption == "Sagittal MRI of the lumbar spine."
    assert records[0].meta == {"json": {"pmcid": "PMC123", "license": "CC BY"}}
    assert records[3].caption == "Ultrasound of a breast mass."
    stats, samples, quarantine = run_ingest(read_source(spec), tmp_path / "out")
    assert stats["ingested"] == 3 and stats["quarantine_reasons"] == {
        "bad_encoding": 1, "corrupt": 1, "decompression_bomb": 1, "missing_image": 1, "not_an_image": 1}
    assert {s["kind"] for s in samples} == {"image_text"}


def test_labels_from_cls_and_a_truncated_tar(tmp_path):
    _tar(tmp_path / "cls.tar", [("a.png", png_bytes(seed=1)), ("a.cls", b"benign"),
                                ("b.png", png_bytes(seed=2)), ("b.cls", b"unknown class"),
                                ("c.png", png_bytes(seed=3)), ("c.txt", b"no label")])
    spec = make_spec("webdataset", tmp_path / "cls.tar", classes=["benign", "malignant"], modality="ultrasound")
    assert [(r.label, r.error) for r in read_source(spec).records] == [
        ("benign", None), (None, "unknown_label"), (None, "missing_label")]
    data = (tmp_path / "cls.tar").read_bytes()
    with tarfile.open(tmp_path / "cls.tar") as tar:
        cut = tar.getmember("b.png").offset_data + 10
    (tmp_path / "cut").mkdir()
    (tmp_path / "cut" / "cls.tar").write_bytes(data[:cut])  # ends inside b.png
    records = list(read_source(make_spec("webdataset", tmp_path / "cut", classes=["benign"])).records)
    assert [(r.record_id, r.error) for r in records] == [("cls.tar#a", None),
                                                         ("cls.tar#unreadable@b", "corrupt_archive")]
