"""Fixtures of the report tests: a storage root with curated pairs, and one after a real tiny training run
(see report_helpers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from report_helpers import CATALOG_YAML, train_tiny, write_pairs


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
