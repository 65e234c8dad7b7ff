"""Fixtures of the operations tests: a tiny project (one imagefolder source of a few PNGs, its own
storage root and DAGSTER_HOME) handed to subprocesses through the environment, as a user sets it,
and a real PostgreSQL server on loopback (Debian's `postgresql` package)."""

from __future__ import annotations

import os

import pytest
from ops_helpers import CATALOG, TELEMETRY_OFF, require, write_chest_folder

from deploy.rehearsal.services import PostgresServer, postgres_bin
from deploy.rehearsal.services import postgres_server as start_postgres


@pytest.fixture
def tiny_project(tmp_path) -> dict[str, str]:
    """The environment of a project whose catalog holds one imagefolder source, `chest_folder`
    (location `tmp_path/chest`, written here), with storage root and DAGSTER_HOME under tmp_path."""
    write_chest_folder(tmp_path / "chest")
    (tmp_path / "catalog.yaml").write_text(CATALOG.format(location=tmp_path / "chest"))
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(TELEMETRY_OFF)
    return {**os.environ, "DAGSTER_HOME": str(home), "MEDPAIRS_CATALOG": str(tmp_path / "catalog.yaml"),
            "MEDPAIRS_STORAGE_ROOT": str(tmp_path / "data"), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


@pytest.fixture(scope="session")
def postgres_server() -> PostgresServer:
    """A fresh PostgreSQL cluster on loopback for the session (deploy/rehearsal/services.py), database
    and user `medpairs`."""
    bin_dir = postgres_bin()
    require(bin_dir, "PostgreSQL (Debian package postgresql)", required_by="MEDPAIRS_REQUIRE_POSTGRES")
    with start_postgres(bin_dir) as server:
        yield server
