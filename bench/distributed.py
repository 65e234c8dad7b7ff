"""The default job on two Celery workers against the single machine, in the same run: wall time of
`python -m pipelines.run -c CONFIG` (one process, local instance and storage) and of
`python -m deploy.celery.run -c CONFIG` on the loopback cluster of deploy/rehearsal (PostgreSQL, S3 on
moto, Redis, two workers), each from a fresh instance and storage root, timed from launch to exit (the
services' start-up is not counted; the workers are up and idle). Both end with the same dataset version
(shown), the overhead being the price of the broker, S3 and the per-step start-up. Writes
bench/results/distributed.{json,md}. Usage:
    python -m bench.distributed [--config pipelines/configs/small.yaml] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from bench.output import write_results
from deploy.rehearsal.cluster import dataset_fingerprint, loopback_cluster

REPO = Path(__file__).resolve().parents[1]


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def single_machine(config: str, folder: Path) -> dict:
    folder.mkdir()
    env = {**os.environ, "DAGSTER_HOME": str(folder), "MEDPAIRS_STORAGE_ROOT": str(folder / "data"),
           "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    (folder / "dagster.yaml").write_text("telemetry: {enabled: false}\nconcurrency: {pools: {default_limit: 1}}\n")
    load, started = _load(), time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pipelines.run", "-c", config], cwd=REPO, env=env, check=False,
                          capture_output=True, text=True)
    seconds = round(time.perf_counter() - started, 1)
    version = dataset_fingerprint(str(folder / "data"))["dataset_version"] if done.returncode == 0 else None
    return {"seconds": seconds, "returncode": done.returncode, "load_average_before": load,
            "load_average_after": _load(), "dataset_version": version,
            "log_tail": "" if done.returncode == 0 else (done.stdout + done.stderr)[-2000:]}


def distributed(config: str, folder: Path, workers: int) -> dict:
    with loopback_cluster(folder, workers=workers) as cluster:
        load, started = _load(), time.perf_counter()
        launcher = cluster.launch("-c", str(REPO / config))
        out, _ = launcher.communicate()
        seconds = round(time.perf_counter() - started, 1)
        os.environ.update({k: v for k, v in cluster.env.items() if k.startswith("AWS_")})
        version = dataset_fingerprint(cluster.storage_root)["dataset_version"] if launcher.returncode == 0 else None
    return {"seconds": seconds, "returncode": launcher.returncode, "workers": workers, "load_average_before": load,
            "load_average_after": _load(), "dataset_version": version,
            "log_tail": "" if launcher.returncode == 0 else out[-2000:]}


def run(config: str, workers: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        single = single_machine(config, Path(tmp) / "single")
        spread = distributed(config, Path(tmp) / "cluster", workers)
    return {"machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "config": config,
            "single_machine": single, "distributed": spread,
            "same_dataset_version": single["dataset_version"] is not None
            and single["dataset_version"] == spread["dataset_version"],
            "figures": [{"stage": f"default job on {workers} Celery workers (PostgreSQL, S3, Redis)", "unit": "s",
                         "value": spread["seconds"], "baseline": "single machine, one process",
                         "baseline_value": single["seconds"],
                         "ratio": round(spread["seconds"] / max(single["seconds"], 1e-9), 2)}]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="pipelines/configs/small.yaml")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    result = run(args.config, args.workers)
    single, spread = result["single_machine"], result["distributed"]
    text = (f"Default job ({args.config}) on one machine: {single['seconds']} s (exit {single['returncode']}, "
            f"load average before {single['load_average_before']}); on {args.workers} Celery workers: "
            f"{spread['seconds']} s (exit {spread['returncode']}, load average before "
            f"{spread['load_average_before']}); dataset version {single['dataset_version']} and "
            f"{spread['dataset_version']} ({'equal' if result['same_dataset_version'] else 'DIFFERENT'}).\n")
    write_results("distributed", result, text)
    print(text)


if __name__ == "__main__":
    main()
