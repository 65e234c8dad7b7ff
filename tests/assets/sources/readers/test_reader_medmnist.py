"""MedMNIST .npz: streamed images of any size, class names from medmnist's INFO or the catalog."""

from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from reader_helpers import make_spec, run_ingest

from assets.sources.readers import SourceError, read_source


def _pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)))


def test_rgb_npz_with_info_names_streamed_in_chunks(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {f"{s}_images": rng.integers(0, 256, (n, 64, 64, 3), dtype=np.uint8)
              for s, n in (("train", 7), ("val", 2), ("test", 3))}
    labels = {"train_labels": np.array([[0], [8], [3], [0], [1], [2], [4]]), "val_labels": np.array([[5], [6]]),
              "test_labels": np.array([[7], [7], [99]])}
    np.savez_compressed(tmp_path / "pathmnist_64.npz", **arrays, **labels)
    records = list(read_source(make_spec("medmnist_npz", tmp_path / "pathmnist_64.npz", chunk=3)).records)
    assert [r.record_id for r in records][:2] == ["pathmnist_64.npz#train/0", "pathmnist_64.npz#train/1"]
    assert [r.split for r in records] == ["train"] * 7 + ["val"] * 2 + ["test"] * 3
    assert records[0].label == "adipose" and records[1].label == "colorectal adenocarcinoma epithelium"
    assert records[-1].error == "unknown_label"
    for i in range(7):  # every chunk boundary decoded the right image
        assert np.array_equal(_pixels(records[i].image_bytes), arrays["train_images"][i])


def test_multilabel_gray_and_3d_volumes_with_catalog_names(tmp_path):
    rng = np.random.default_rng(1)
    np.savez(tmp_path / "chest_small.npz", train_images=rng.integers(0, 256, (3, 28, 28), dtype=np.uint8),
             train_labels=np.array([[1, 0, 1], [0, 0, 0], [0, 1, 0]]))
    spec = make_spec("medmnist_npz", tmp_path / "chest_small.npz", classes=["effusion", "mass", "atelectasis"])
    records = list(read_source(spec).records)
    assert [r.label for r in records] == ["atelectasis and effusion", "no finding", "mass"]
    assert records[0].labels == ("atelectasis", "effusion")
    vol = rng.normal(0, 1, (2, 28, 28, 28)).astype(np.float32)
    np.savez_compressed(tmp_path / "organ3d.npz", test_images=vol, test_labels=np.array([[1], [0]]))
    spec = make_spec("medmnist_npz", tmp_path / "organ3d.npz", modality="ct", classes=["liver", "kidney"])
    records = list(read_source(spec).records)
    assert [(r.label, r.split) for r in records] == [("kidney", "test"), ("liver", "test")]
    middle = _pixels(records[0].image_bytes)
    assert middle.shape == (28, 28) and middle.min() == 0 and middle.max() == 255


def test_missing_names_fail_the_source_and_a_truncated_file_is_quarantined(tmp_path):
    np.savez_compressed(tmp_path / "mystery.npz", train_images=np.zeros((2, 8, 8), np.uint8),
                        train_labels=np.zeros((2, 1)))
    with pytest.raises(SourceError, match="no class names"):
        list(read_source(make_spec("medmnist_npz", tmp_path / "mystery.npz")).records)
    data = (tmp_path / "mystery.npz").read_bytes()
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "bloodmnist.npz").write_bytes(data[: len(data) // 2])
    src = read_source(make_spec("medmnist_npz", tmp_path / "broken"))
    stats, samples, quarantine = run_ingest(src, tmp_path / "out")
    assert (stats["ingested"], [q["reason"] for q in quarantine]) == (0, ["corrupt_archive"])


def test_medmnist_info_is_read_without_importing_torch():
    code = ("import sys; from assets.sources.readers.medmnist_npz import medmnist_info; "
            "info = medmnist_info(); print(info['dermamnist']['label']['0'], 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split()[-1] == "False" and "actinic" in out.stdout
