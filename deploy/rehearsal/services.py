"""The services of a cluster deployment, started for real on loopback: PostgreSQL (the instance
storage), moto's S3 server (the storage root), Redis (Celery's broker) and Celery workers, each worker
in a working directory and temporary folder of its own. Each is a context manager that stops what it
started; the operations tests, the rehearsal (`make rehearsal`) and bench/distributed.py use them."""

from __future__ import annotations

import glob
import logging
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WORKER_YAML = ROOT / "deploy" / "celery" / "worker.yaml"


class ServiceError(RuntimeError):
    """A service did not start."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(process: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 30) -> None:
    if process.poll() is None:
        process.send_signal(sig)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def postgres_bin() -> Path | None:
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

    def dagster_env(self) -> dict[str, str]:
        """The DAGSTER_PG_* variables that POSTGRES_STORAGE_YAML reads."""
        return {"DAGSTER_PG_HOST": self.host, "DAGSTER_PG_PORT": str(self.port), "DAGSTER_PG_USER": self.user,
                "DAGSTER_PG_PASSWORD": self.password, "DAGSTER_PG_DB": self.db_name}


# The storage block of the README's PostgreSQL dagster.yaml ("Instance storage"): connection from the
# environment, never in the file; the driver named, because SQLAlchemy 2.1 takes a bare postgresql://
# for psycopg 3 while dagster-postgres installs psycopg2.
POSTGRES_STORAGE_YAML = """\
storage:
  postgres:
    postgres_db:
      scheme: postgresql+psycopg2
      hostname: {env: DAGSTER_PG_HOST}
      port: {env: DAGSTER_PG_PORT}
      username: {env: DAGSTER_PG_USER}
      password: {env: DAGSTER_PG_PASSWORD}
      db_name: {env: DAGSTER_PG_DB}
"""


@contextmanager
def postgres_server(bin_dir: Path) -> Iterator[PostgresServer]:
    """Database `medpairs` of user `medpairs` (password authentication) on a fresh cluster (initdb) in a
    temporary folder, served by `postgres` on a free loopback port; stopped and removed afterwards.
    Postgres refuses to run as root: as root, initdb and the server run as Debian's `postgres` user."""
    import psycopg2

    as_user = {}
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            raise ServiceError("running as root needs the `postgres` user (Debian's postgresql package creates it)")
        as_user = {"user": owner.pw_uid, "group": owner.pw_gid, "extra_groups": []}
    # Not under a private temporary folder of the caller: the postgres user must reach it.
    base = Path(tempfile.mkdtemp(prefix="medpairs-pg-"))
    if as_user:
        os.chown(base, as_user["user"], as_user["group"])
    password = secrets.token_hex(8)
    (base / "pwfile").write_text(password + "\n")
    if as_user:
        os.chown(base / "pwfile", as_user["user"], as_user["group"])
    initdb = subprocess.run([bin_dir / "initdb", "-D", base / "data", "-U", "medpairs", "--pwfile", base / "pwfile",
                             "--auth=scram-sha-256", "-E", "UTF8", "--no-sync"],
                            check=False, capture_output=True, text=True, timeout=120, **as_user)
    if initdb.returncode != 0:
        raise ServiceError(initdb.stdout + initdb.stderr)
    port = free_port()
    log = open(base / "server.log", "wb")  # noqa: SIM115 (open while the server runs)
    # -k: the Unix socket in our folder, not /var/run/postgresql; -F: no fsync (a throwaway cluster).
    server = subprocess.Popen([bin_dir / "postgres", "-D", base / "data", "-k", base, "-p", str(port),
                               "-h", "127.0.0.1", "-F"], stdout=log, stderr=subprocess.STDOUT, **as_user)
    try:
        admin = f"postgresql://medpairs:{password}@127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                connection = psycopg2.connect(f"{admin}/postgres", connect_timeout=2)
                break
            except psycopg2.OperationalError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise ServiceError(f"postgres did not start:\n{(base / 'server.log').read_text()[-3000:]}")
                time.sleep(0.2)
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute("CREATE DATABASE medpairs")
        connection.close()
        yield PostgresServer("127.0.0.1", port, "medpairs", password, "medpairs")
    finally:
        _stop(server, signal.SIGINT)  # fast shutdown
        log.close()
        shutil.rmtree(base, ignore_errors=True)


@contextmanager
def moto_s3_server(bucket: str) -> Iterator[str]:
    """The endpoint URL of moto's S3 server on a free loopback port (in a thread of this process),
    holding the empty bucket `bucket`; stopped afterwards."""
    import s3fs
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one log line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        s3fs.S3FileSystem(key="testing", secret="testing", endpoint_url=endpoint, skip_instance_cache=True).mkdir(bucket)
        yield endpoint
    finally:
        server.stop()


def redis_binary() -> str | None:
    return shutil.which("redis-server")


@contextmanager
def redis_server(folder: Path) -> Iterator[str]:
    """`redis://127.0.0.1:<port>/0` of Debian's redis-server on a free loopback port, nothing persisted
    (its folder `folder`); stopped afterwards."""
    import redis

    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    server = subprocess.Popen([redis_binary() or "redis-server", "--port", str(port), "--bind", "127.0.0.1",
                               "--save", "", "--appendonly", "no", "--dir", str(folder)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                redis.Redis.from_url(url).ping()
                break
            except redis.ConnectionError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise ServiceError(f"redis-server did not start on port {port}")
                time.sleep(0.1)
        yield url
    finally:
        _stop(server)


@dataclass
class Worker:
    name: str
    folder: Path  # its working directory, holding its DAGSTER_HOME
    process: subprocess.Popen
    log: Path

    def step_processes(self) -> list[int]:
        """The pids of the worker's pool processes: where its steps run."""
        import psutil

        # `dagster-celery worker start` runs `celery worker`, whose children are its pool processes.
        return [pool.pid for celery in psutil.Process(self.process.pid).children() for pool in celery.children()]


@contextmanager
def celery_workers(count: int, folder: Path, env: Mapping[str, str]) -> Iterator[list[Worker]]:
    """`count` dagster-celery workers (one step at a time each), worker i in `folder/worker-i`, its
    working directory with a DAGSTER_HOME of its own, and a TMPDIR of its own, started with `env` (the
    broker, storage root and instance settings a deployment gives them) and the project on
    PYTHONPATH; ready once every one answers a ping; stopped afterwards."""
    from celery import Celery

    workers, temporary = [], []
    try:
        for i in range(count):
            home = folder / f"worker-{i}"
            (home / "dagster_home").mkdir(parents=True, exist_ok=True)
            # A short TMPDIR of its own: multiprocessing's sockets live there (torch's data loader), and a
            # Unix socket's path may not exceed 107 bytes.
            tmp = Path(tempfile.mkdtemp(prefix=f"medpairs-w{i}-"))
            temporary.append(tmp)
            (home / "dagster_home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
            worker_env = {**env, "TMPDIR": str(tmp), "DAGSTER_HOME": str(home / "dagster_home"),
                          "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
                          # the wrapper runs `celery` from PATH: this environment's
                          "PATH": os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")])}
            log = home / "worker.log"
            command = [sys.executable, "-m", "dagster_celery.cli", "worker", "start", "-A", "dagster_celery.app",
                       "-n", f"worker-{i}", "-y", str(WORKER_YAML), "--", "--concurrency", "1", "--pool", "prefork"]
            with open(log, "wb") as out:
                process = subprocess.Popen(command, cwd=home, env=worker_env, stdout=out, stderr=subprocess.STDOUT,
                                           start_new_session=True)
            workers.append(Worker(f"worker-{i}", home, process, log))
        app = Celery(broker=env["MEDPAIRS_CELERY_BROKER"])
        deadline = time.monotonic() + 120
        while len(app.control.ping(timeout=1) or []) < count:
            dead = [w for w in workers if w.process.poll() is not None]
            if dead or time.monotonic() > deadline:
                tail = "\n".join(w.log.read_text()[-2000:] for w in dead or workers)
                raise ServiceError(f"celery workers did not start:\n{tail}")
        yield workers
    finally:
        for w in workers:
            if w.process.poll() is None:
                os.killpg(w.process.pid, signal.SIGTERM)
            try:
                w.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(w.process.pid, signal.SIGKILL)
                w.process.wait()
        for tmp in temporary:
            shutil.rmtree(tmp, ignore_errors=True)
