"""Fixtures of the report tests: a storage root with curated pairs, one after a real tiny training run, and
a copy of that one where the shuffled-caption control was trained too (see report_helpers.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from report_helpers import CATALOG_YAML, train_control, train_tiny, write_pairs


@pytest.fixture(scope="session")
def pairs_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("report_pairs")
    write_pairs(root)
    return root


@pytest.fixture(scope="session")
def trained_root(tmp_path_factory) -> tuple[Path, dict]:
    """(storage root, run pointer) after a real one-epoch training run."""
    root = tmp_path_factory.mktemp("report_trained")
    write_pairs(root)
    (root / "catalog.yaml").write_text(CATALOG_YAML)
    return root, train_tiny(root)


@pytest.fixture(scope="session")
def control_root(trained_root, tmp_path_factory) -> Path:
    """A copy of `trained_root` after the shuffled_control asset was materialized on it."""
    root = tmp_path_factory.mktemp("report_control") / "data"
    shutil.copytree(trained_root[0], root)
    train_control(root)
    return root
