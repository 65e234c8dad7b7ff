"""Helpers for the operations tests: the tiny project they run, tools they need (free ports:
deploy/rehearsal/services.py)."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
# The repo's dagster.yaml semantics that every test instance keeps; storage is given per test.
TELEMETRY_OFF = "telemetry:\n  enabled: false\n"
CATALOG = """\
sources:
  - name: chest_folder
    modality: xray
    format: imagefolder
    location: {location}
    classes: [normal, pneumonia]
    split: {{ratio: {{train: 0.5, test: 0.5}}, seed: 1}}
"""
# sources_job also draws the embedded synthetic data; this keeps it to a few tiny images.
TINY_SYNTHETIC = {"ops": {"synthetic_source": {"config": {"train_per_class": 1, "test_per_class": 1,
                                                          "image_size": 16}}}}


def require(found: object, what: str, required_by: str) -> None:
    """Skip when `what` is not installed, or fail where the variable `required_by` is set (CI sets
    it after installing `what`)."""
    if not found:
        message = f"{what} is not installed (.ci/run installs it)"
        if os.environ.get(required_by):
            pytest.fail(f"{message}, and {required_by} is set")
        pytest.skip(message)


def write_png(path: Path, seed: int, size: int = 32) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (size, size), dtype=np.uint8)).save(buf, "PNG")
    path.write_bytes(buf.getvalue())


def write_chest_folder(folder: Path, per_class: int = 6) -> None:
    """`folder/<class>/<i>.png` for the two classes of CATALOG."""
    for c, label in enumerate(["normal", "pneumonia"]):
        for i in range(per_class):
            write_png(folder / label / f"{i}.png", seed=100 * c + i)
