"""The labels ingested samples carry, each with its samples' modality: what class captions are written for."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from assets.captions.targets import targets_for_labels
from assets.ingest.chunked import ingest_source
from assets.ingest.parts import labels_in_data
from assets.sources.catalog import ClassInfo, SourceSpec
from assets.sources.readers import read_source

MODALITIES = {"CT": "ct", "MR": "mri", "US": "ultrasound"}


def _ingest(tmp_path, files: list[str], label_from: list[int], classes=()) -> tuple[SourceSpec, str]:
    """A RadImageNet-like folder ingested into tmp_path/samples/<source>: (its spec, the samples folder)."""
    root = tmp_path / "radiology_ai"
    for i, rel in enumerate(files):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        Image.fromarray(np.random.default_rng(i).integers(0, 256, (16, 16), dtype=np.uint8)).save(buf, format="PNG")
        (root / rel).write_bytes(buf.getvalue())
    spec = SourceSpec("radimagenet", "ct", classes=tuple(classes),
                      format="imagefolder", location=str(root),
                      options={"label_from": label_from, "modality_folder": 0, "modalities": MODALITIES})
    read = read_source(spec)
    samples = tmp_path / "samples"
    ingest_source(read.rows(), root=read.root, out_dir=str(samples / spec.name),
                  quarantine_dir=str(tmp_path / "quarantine" / spec.name))
    return spec, str(samples)


def test_a_source_mixing_modalities_gets_captions_per_modality(tmp_path):
    spec, samples = _ingest(tmp_path, ["CT/abd/pancreatitis/1.png", "MR/knee/acl pathology/2.png",
                                       "US/thyroid/thyroid/3.png"], label_from=[1, 2],
                            classes=[ClassInfo("abd/pancreatitis", "Inflamed pancreas."), ClassInfo("knee/acl pathology"),
                                     ClassInfo("thyroid/thyroid")])
    targets = targets_for_labels(labels_in_data([spec], samples))
    assert sorted((t.label, t.source.modality) for t in targets) == [
        ("abd/pancreatitis", "ct"), ("knee/acl pathology", "mri"), ("thyroid/thyroid", "ultrasound")]
    ct = next(t for t in targets if t.label == "abd/pancreatitis")
    assert ct.cls.description == "Inflamed pancreas."
    assert [c.name for c in ct.siblings] == ["abd/pancreatitis"]  # the MRI and ultrasound classes are no rivals


def test_a_label_shared_by_two_modalities_is_refused(tmp_path):
    spec, samples = _ingest(tmp_path, ["CT/abd/normal/1.png", "MR/abd/normal/2.png"], label_from=[2])
    with pytest.raises(ValueError, match="'radimagenet': label 'normal' is carried by ct and mri samples"):
        labels_in_data([spec], samples)
