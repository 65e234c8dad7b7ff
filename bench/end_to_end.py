"""The default job end to end: `python -m pipelines.run -c pipelines/configs/small.yaml`, timed twice.

The first run starts from a fresh temporary DAGSTER_HOME and MEDPAIRS_STORAGE_ROOT; the second runs again
with nothing changed, so its time is what re-running costs (sources and shards unchanged are reused).
Each run is a separate process, timed from launch to exit. Writes bench/results/end_to_end.{json,md}. Usage:
    python -m bench.end_to_end [--config pipelines/configs/small.yaml]
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

from bench.output import write_results

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def timed_run(config: str, env: dict, log_path: str) -> dict:
    started = time.perf_counter()
    with open(log_path, "w") as log:
        rc = subprocess.call([sys.executable, "-m", "pipelines.run", "-c", config], cwd=REPO, env=env,
                             stdout=log, stderr=subprocess.STDOUT)
    return {"seconds": round(time.perf_counter() - started, 1), "returncode": rc}


def run(config: str) -> dict:
    load = [round(x, 2) for x in os.getloadavg()]
    with tempfile.TemporaryDirectory() as tmp:
        os.makedirs(f"{tmp}/home")
        env = {**os.environ, "DAGSTER_HOME": f"{tmp}/home", "MEDPAIRS_STORAGE_ROOT": f"{tmp}/data"}
        first = timed_run(config, env, f"{tmp}/first.log")
        second = timed_run(config, env, f"{tmp}/second.log")
        tails = {name: open(f"{tmp}/{name}.log").read()[-2000:] for name in ("first", "second")
                 if (first if name == "first" else second)["returncode"]}
    return {"machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "load_average_before": load,
            "config": config, "first_run": first, "second_run": second, "failed_log_tails": tails,
            "figures": [{"stage": "pipelines.run, second run unchanged", "unit": "s", "value": second["seconds"],
                         "baseline": "first run, fresh instance", "baseline_value": first["seconds"],
                         "ratio": round(first["seconds"] / max(second["seconds"], 1e-9), 1)}]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="pipelines/configs/small.yaml")
    args = parser.parse_args()
    result = run(args.config)
    first = result["first_run"]
    text = (f"First run (fresh instance): {first['seconds']} s (exit {first['returncode']}); "
            f"second run, nothing changed: {result['second_run']['seconds']} s "
            f"(exit {result['second_run']['returncode']}).\n")
    write_results("end_to_end", result, text)
    print(text)
    if result["first_run"]["returncode"] or result["second_run"]["returncode"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
