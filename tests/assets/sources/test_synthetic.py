"""The embedded synthetic dataset: shape of the specs, determinism, counts, and that classes are learnable."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import fsspec
import numpy as np
import pytest
from PIL import Image

from assets.sources.readers import read_source
from assets.sources.synthetic import (
    SYNTHETIC_SOURCES,
    class_slug,
    draw_class,
    generate_synthetic_dataset,
    synthetic_manifest_spec,
)
from assets.sources.synthetic_draw import DRAWERS, Canvas

MODALITIES = {"xray", "ct", "mri", "ultrasound", "pathology", "fundus"}


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_specs_cover_six_modalities_with_real_class_names():
    assert {s.modality for s in SYNTHETIC_SOURCES} == MODALITIES
    assert len(SYNTHETIC_SOURCES) == 6
    for spec in SYNTHETIC_SOURCES:
        assert spec.name == f"synthetic_{spec.modality}"
        assert spec.synthetic and spec.kind == "classification" and spec.license == "CC0 (synthetic)"
        assert 2 <= len(spec.classes) <= 5
        assert len({class_slug(c.name) for c in spec.classes}) == len(spec.classes)
        for cls in spec.classes:
            assert cls.description.endswith(".") and len(cls.synonyms) >= 3


@pytest.mark.parametrize("spec", SYNTHETIC_SOURCES, ids=lambda s: s.name)
def test_no_class_term_names_another_class(spec):
    """A caption validator matches terms as substrings: no term of one class may contain a term
    of another class of the same source (e.g. 'abnormal' would contain 'normal')."""
    for a in spec.classes:
        for b in spec.classes:
            if a is b:
                continue
            for term in a.terms:
                for other in b.terms:
                    assert other.lower() not in term.lower(), (a.name, term, b.name, other)


@pytest.mark.parametrize("modality", sorted(MODALITIES))
def test_drawers_return_float32_in_range(modality):
    """float32 all the way (a float64 promotion once made generation 3x slower)."""
    spec = next(s for s in SYNTHETIC_SOURCES if s.modality == modality)
    for k in range(len(spec.classes)):
        img = DRAWERS[modality](Canvas(np.random.default_rng(k), 3, 48), k)
        assert img.dtype == np.float32
        assert img.shape[0] == 3 and img.shape[-2:] == (48, 48)
        assert 0.0 <= img.min() and img.max() <= 1.0 and img.std() > 0.02


def test_generate_counts_manifest_and_files(tmp_path):
    rows, stats = generate_synthetic_dataset(tmp_path, train_per_class=3, test_per_class=2, image_size=40)
    n_classes = sum(len(s.classes) for s in SYNTHETIC_SOURCES)
    assert stats["total"] == len(rows) == 5 * n_classes
    assert stats["per_split"] == {"train": 3 * n_classes, "test": 2 * n_classes}
    for spec in SYNTHETIC_SOURCES:
        assert stats["per_source"][spec.name] == {"train": 3 * len(spec.classes), "test": 2 * len(spec.classes)}
    manifest = [json.loads(line) for line in (tmp_path / "manifest.jsonl").read_text().splitlines()]
    assert manifest == rows
    first = rows[0]
    assert set(first) == {"path", "source", "modality", "label", "split"}
    assert first["path"] == "synthetic_xray/train/normal/00000.png"
    colour = {"pathology", "fundus"}
    for row in rows:
        spec = next(s for s in SYNTHETIC_SOURCES if s.name == row["source"])
        assert row["label"] in spec.class_names() and row["modality"] == spec.modality
        assert row["path"].split("/")[2] == class_slug(row["label"])
        with Image.open(tmp_path / row["path"]) as im:
            assert im.size == (40, 40)
            assert im.mode == ("RGB" if row["modality"] in colour else "L")


def test_each_source_is_a_jsonl_manifest_source_and_any_fsspec_root_works():
    root = "memory://synthetic-test"
    rows, _ = generate_synthetic_dataset(root, train_per_class=2, test_per_class=1, image_size=24)
    for spec in SYNTHETIC_SOURCES:
        read = read_source(synthetic_manifest_spec(spec, root))
        records = [r for r in read.rows()]
        expected = sorted((r["label"], r["split"]) for r in rows if r["source"] == spec.name)
        assert sorted((r["label"], r["split"]) for r in records) == expected
        assert all(r["source"] == spec.name and r["modality"] == spec.modality and not r.get("error")
                   for r in records)
        fs, base = fsspec.core.url_to_fs(read.root)
        assert fs.cat_file(f"{base}/{records[0]['path']}").startswith(b"\x89PNG")


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    kw = {"train_per_class": 2, "test_per_class": 1, "image_size": 48}
    generate_synthetic_dataset(tmp_path / "a", seed=7, **kw)
    generate_synthetic_dataset(tmp_path / "b", seed=7, **kw)
    generate_synthetic_dataset(tmp_path / "c", seed=8, **kw)
    a, b, c = (_digest(tmp_path / d) for d in "abc")
    assert a == b
    assert a.keys() == c.keys()
    pngs = [k for k in a if k.endswith(".png")]
    assert all(a[k] != c[k] for k in pngs)


def test_train_and_test_images_differ(tmp_path):
    rows, _ = generate_synthetic_dataset(tmp_path, train_per_class=4, test_per_class=4, image_size=32)
    hashes = {}
    for row in rows:
        hashes.setdefault(hashlib.sha256((tmp_path / row["path"]).read_bytes()).hexdigest(), []).append(row)
    assert len(hashes) == len(rows)


def _features(images: np.ndarray) -> np.ndarray:
    """32 px pixels mirrored onto themselves (lesion side is random), each image standardised,
    plus a 16-bin intensity histogram per channel (texture and colour, wherever they are)."""
    small = np.stack([np.asarray(Image.fromarray(a).resize((32, 32), Image.BILINEAR), np.float32)
                      .reshape(32, 32, -1) for a in images])
    f = ((small + small[:, :, ::-1]) / 2).reshape(len(images), -1)
    f = (f - f.mean(1, keepdims=True)) / (f.std(1, keepdims=True) + 1e-3)
    hist = np.stack([np.concatenate([np.histogram(im[..., ch], 16, (0, 255))[0] for ch in range(im.shape[-1])])
                     for im in small]) / 1024
    return np.concatenate([f, 30 * hist], 1)


def _ridge_accuracy(x_train, y_train, x_test, y_test, k: int, lam: float = 100.0) -> float:
    """One-vs-rest ridge regression in closed (dual) form, then argmax."""
    mu = x_train.mean(0)
    a = x_train - mu
    w = a.T @ np.linalg.solve(a @ a.T + lam * np.eye(len(a)), np.eye(k)[y_train] - 1 / k)
    return float((((x_test - mu) @ w).argmax(1) == y_test).mean())


@pytest.mark.parametrize("si", range(len(SYNTHETIC_SOURCES)), ids=[s.name for s in SYNTHETIC_SOURCES])
def test_classes_are_learnable_by_a_linear_classifier(si):
    """Classes differ robustly after downscaling to 32 px: a linear classifier on raw pixels
    beats chance by a wide margin on held-out images, and falls to chance when the training
    labels are shuffled (the control a broken caption pipeline would be)."""
    spec = SYNTHETIC_SOURCES[si]
    k = len(spec.classes)
    x_train = np.concatenate([_features(draw_class(spec.modality, c, 40, 128, np.random.default_rng([3, si, c, 0])))
                              for c in range(k)])
    x_test = np.concatenate([_features(draw_class(spec.modality, c, 20, 128, np.random.default_rng([3, si, c, 1])))
                             for c in range(k)])
    y_train, y_test = np.repeat(np.arange(k), 40), np.repeat(np.arange(k), 20)
    acc = _ridge_accuracy(x_train, y_train, x_test, y_test, k)
    shuffled = np.random.default_rng(0).permutation(len(x_train)) % k
    control = _ridge_accuracy(x_train, shuffled, x_test, y_test, k)
    assert acc >= 1 / k + 0.3, acc
    assert control < 1 / k + 0.2, control


def test_ultrasound_lesions_show_at_the_training_resolution():
    """At 64 px (what the default CLIP sees) the ultrasound classes differ in their mean image: a lesion
    spanning several patches with its posterior band, not a speckle-sized spot. Each test image is nearest
    its own class's mean training image."""
    si = next(i for i, s in enumerate(SYNTHETIC_SOURCES) if s.modality == "ultrasound")

    def pixels(c: int, n: int, split: int) -> np.ndarray:
        images = draw_class("ultrasound", c, n, 128, np.random.default_rng([3, si, c, split]))
        return np.stack([np.asarray(Image.fromarray(a).resize((64, 64), Image.BICUBIC), np.float32).ravel()
                         for a in images])

    means = np.stack([pixels(c, 40, 0).mean(0) for c in range(3)])
    test = np.concatenate([pixels(c, 20, 1) for c in range(3)])
    nearest = ((test[:, None] - means[None]) ** 2).sum(-1).argmin(1)
    assert (nearest == np.repeat(np.arange(3), 20)).mean() >= 0.75
