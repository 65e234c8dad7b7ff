"""Fixtures of the operations tests: a tiny project (one imagefolder source of a few PNGs, its own
storage root and DAGSTER_HOME) handed to subprocesses through the environment, as a user sets it,
and a real PostgreSQL server on loopback (Debian's `postgresql` package)."""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import pytest
from ops_helpers import CATALOG, TELEMETRY_OFF, free_port, require, write_chest_folder


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


def _postgres_bin() -> Path | None:
    """The folder of `initdb` and `postgres`: on PATH, or Debian's /usr/lib/postgresql/<version>/bin."""
    found = shutil.which("initdb")
    if found:
        return Path(os.path.realpath(found)).parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    return Path(versions[-1]).parent if versions else None


@dataclass(frozen=True)
class PostgresServer:
    host: str
    port: int
    user: str
    password: str
    db_name: str

    @property
    def url(self) -> str:
        """The libpq URL (psycopg2.connect takes it)."""
        return f"postgresql://{self.user}:{self.password}@{self.host}:{self.port}/{self.db_name}"


@pytest.fixture(scope="session")
def postgres_server():
    """Database `medpairs` of user `medpairs` (password authentication) on a fresh cluster (initdb)
    in a temporary folder, served by `postgres` on a free loopback port; stopped and removed after
    the session. Postgres refuses to run as root: as root, initdb and the server run as the
    `postgres` user that Debian's package creates."""
    bin_dir = _postgres_bin()
    require(bin_dir, "PostgreSQL (Debian package postgresql)", required_by="MEDPAIRS_REQUIRE_POSTGRES")
    as_user = {}
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            pytest.fail("running as root needs the `postgres` user (Debian's postgresql package creates it)")
        as_user = {"user": owner.pw_uid, "group": owner.pw_gid, "extra_groups": []}
    # Not under pytest's tmp_path: its parent is private to the user running pytest.
    base = Path(tempfile.mkdtemp(prefix="medpairs-pg-"))
    if as_user:
        os.chown(base, as_user["user"], as_user["group"])
    password = secrets.token_hex(8)
    (base / "pwfile").write_text(password + "\n")
    if as_user:
        os.chown(base / "pwfile", as_user["user"], as_user["group"])
    initdb = subprocess.run([bin_dir / "initdb", "-D", base / "data", "-U", "medpairs", "--pwfile", base / "pwfile",
                             "--auth=scram-sha-256", "-E", "UTF8", "--no-sync"],
                            capture_output=True, text=True, timeout=120, **as_user)
    assert initdb.returncode == 0, initdb.stdout + initdb.stderr
    port = free_port()
    log = open(base / "server.log", "wb")  # noqa: SIM115 (open while the server runs)
    # -k: the Unix socket in our folder, not /var/run/postgresql; -F: no fsync (a throwaway cluster).
    server = subprocess.Popen([bin_dir / "postgres", "-D", base / "data", "-k", base, "-p", str(port),
                               "-h", "127.0.0.1", "-F"], stdout=log, stderr=subprocess.STDOUT, **as_user)
    admin = f"postgresql://medpairs:{password}@127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            connection = psycopg2.connect(f"{admin}/postgres", connect_timeout=2)
            break
        except psycopg2.OperationalError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                pytest.fail(f"postgres did not start:\n{(base / 'server.log').read_text()[-3000:]}")
            time.sleep(0.2)
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute("CREATE DATABASE medpairs")
    connection.close()
    try:
        yield PostgresServer("127.0.0.1", port, "medpairs", password, "medpairs")
    finally:
        server.send_signal(signal.SIGINT)  # fast shutdown
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
        shutil.rmtree(base, ignore_errors=True)
