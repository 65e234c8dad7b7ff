"""The default job end to end (`python -m pipelines.run`), timed twice, with what each step took and what
the trained model reached.

The first run starts from a fresh temporary DAGSTER_HOME and MEDPAIRS_STORAGE_ROOT; the second runs again
with nothing changed, so its time is what re-running costs. Each run is a separate process, timed from
launch to exit, with the CPU seconds of the process and its children. Per run, the seconds of every step
(read from the Dagster instance's step stats). From the first run's report: the trained model's mean
zero-shot top-1 over chance, each modality's top-1 with its 95% CI against its chance, and the untrained
model's (the control that must stay at chance). Writes bench/results/end_to_end.{json,md}. Usage:
    python -m bench.end_to_end [--config pipelines/configs/small.yaml ...] [--keep /tmp/e2e]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from assets.shared.metadata import md_table
from bench.output import write_results

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET_FIRST_RUN_S = 300  # issue 20: the default job in at most 5 minutes on 2 cores
TARGET_RERUN_S = 15


def timed_run(configs: list[str], env: dict, log_path: str) -> dict:
    argv = [sys.executable, "-m", "pipelines.run", *(arg for c in configs for arg in ("-c", c))]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    with open(log_path, "w") as log:
        rc = subprocess.call(argv, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"seconds": round(time.perf_counter() - started, 1), "cpu_seconds": round(cpu, 1), "returncode": rc}


def step_seconds(home: str, run_ids: set[str] | None = None) -> list[dict]:
    """(run, step, seconds) for every step of the instance's runs (those not in `run_ids`), oldest first."""
    import dagster as dg

    rows = []
    with dg.DagsterInstance.from_config(home) as instance:
        for run in reversed(instance.get_runs()):
            if run_ids is not None and run.run_id in run_ids:
                continue
            partition = run.tags.get("dagster/partition")
            for stat in instance.get_run_step_stats(run.run_id):
                if stat.start_time and stat.end_time:
                    rows.append({"run": run.job_name + (f"[{partition}]" if partition else ""), "run_id": run.run_id,
                                 "step": stat.step_key, "status": str(stat.status.value if stat.status else ""),
                                 "seconds": round(stat.end_time - stat.start_time, 1)})
    return rows


def model_quality(report_path: str) -> dict:
    """The trained and untrained models' mean top-1 over chance and per modality (CI against chance)."""
    if not os.path.exists(report_path):
        return {}
    with open(report_path) as f:
        report = json.load(f)
    out = {}
    for model in ("trained", "untrained", "shuffled_control"):
        s = report.get("summary", {}).get(model)
        if not s:
            continue
        out[model] = {
            "mean_top1": s["mean_top1"], "mean_top1_ci": s["mean_top1_ci"], "mean_chance": s["mean_chance"],
            "top1_over_chance": s["top1_over_chance"],
            "by_modality": {m: {"top1": e["top1"], "top1_ci": e["top1_ci"], "chance": e["chance"],
                                "ci_above_chance": bool(e["top1_ci"] and e["top1_ci"][0] > e["chance"]),
                                "chance_inside_ci": bool(e["top1_ci"] and e["top1_ci"][0] <= e["chance"] <= e["top1_ci"][1])}
                            for m, e in s["by_modality"].items()},
        }
    out["checks"] = {name: check["passed"] for name, check in report.get("checks", {}).items()}
    return out


def run(configs: list[str], keep: str | None = None) -> dict:
    load = [round(x, 2) for x in os.getloadavg()]
    if keep:
        shutil.rmtree(keep, ignore_errors=True)
    with tempfile.TemporaryDirectory() if keep is None else contextlib.nullcontext(keep) as tmp:
        home, data = f"{tmp}/home", f"{tmp}/data"
        os.makedirs(home)
        env = {**os.environ, "DAGSTER_HOME": home, "MEDPAIRS_STORAGE_ROOT": data}
        first = timed_run(configs, env, f"{tmp}/first.log")
        first_steps = step_seconds(home)
        quality = model_quality(f"{data}/report/report.json")
        second = timed_run(configs, env, f"{tmp}/second.log")
        second_steps = step_seconds(home, {row["run_id"] for row in first_steps})
        tails = {name: Path(f"{tmp}/{name}.log").read_text()[-3000:]
                 for name, result in (("first", first), ("second", second)) if result["returncode"]}
    first["steps"], second["steps"] = first_steps, second_steps
    figures = [
        {"stage": "default job, first run (fresh instance)", "unit": "s", "value": first["seconds"],
         "baseline": "issue 20's target (met where the ratio is at least 1)", "baseline_value": TARGET_FIRST_RUN_S,
         "ratio": round(TARGET_FIRST_RUN_S / max(first["seconds"], 1e-9), 2)},
        {"stage": "default job, second run unchanged", "unit": "s", "value": second["seconds"],
         "baseline": "first run, fresh instance", "baseline_value": first["seconds"],
         "ratio": round(first["seconds"] / max(second["seconds"], 1e-9), 1)},
        {"stage": "default job, second run unchanged", "unit": "s", "value": second["seconds"],
         "baseline": "issue 20's target (met where the ratio is at least 1)", "baseline_value": TARGET_RERUN_S,
         "ratio": round(TARGET_RERUN_S / max(second["seconds"], 1e-9), 2)},
    ]
    trained = quality.get("trained")
    if trained:
        figures.append({"stage": "trained mean zero-shot top-1", "unit": "top-1", "value": round(trained["mean_top1"], 3),
                        "baseline": "mean chance", "baseline_value": round(trained["mean_chance"], 3),
                        "ratio": round(trained["top1_over_chance"], 2)})
    return {"machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "load_average_before": load,
            "load_average_after": [round(x, 2) for x in os.getloadavg()], "configs": configs,
            "first_run": first, "second_run": second, "quality": quality, "failed_log_tails": tails,
            "figures": figures}


def _steps_by_name(steps: list[dict]) -> dict[str, float]:
    """Seconds per step name, partitions of one step summed."""
    out: dict[str, float] = {}
    for row in steps:
        out[row["step"]] = round(out.get(row["step"], 0.0) + row["seconds"], 1)
    return out


def to_markdown(result: dict) -> str:
    first, second = result["first_run"], result["second_run"]
    lines = [(f"Configs: {' '.join(result['configs']) or '(the default job)'}; load average "
              f"{result['load_average_before']} -> {result['load_average_after']}."), "",
             md_table([("first (fresh instance)", first["seconds"], first["cpu_seconds"], first["returncode"]),
                       ("second (nothing changed)", second["seconds"], second["cpu_seconds"], second["returncode"])],
                      ("run", "wall s", "CPU s", "exit")), ""]
    a, b = _steps_by_name(first["steps"]), _steps_by_name(second["steps"])
    lines += [md_table([(step, a[step], b.get(step, "–")) for step in a], ("step", "first run s", "second run s")), ""]
    quality = result["quality"]
    rows = []
    for model in ("trained", "untrained", "shuffled_control"):
        q = quality.get(model)
        if not q:
            continue
        rows.append((model, "mean", f"{q['mean_top1']:.3f}", _ci(q["mean_top1_ci"]), f"{q['mean_chance']:.3f}",
                     f"{q['top1_over_chance']:.2f}x"))
        rows += [(model, m, f"{e['top1']:.3f}", _ci(e["top1_ci"]), f"{e['chance']:.3f}",
                  "CI above chance" if e["ci_above_chance"] else ("chance inside CI" if e["chance_inside_ci"] else "below"))
                 for m, e in q["by_modality"].items()]
    if rows:
        lines += [md_table(rows, ("model", "modality", "top-1", "95% CI", "chance", "vs chance")), ""]
    return "\n".join(lines)


def _ci(ci) -> str:
    return f"[{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "–"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", action="append", default=[], help="a run config file (repeatable); "
                        "none: the default job as `make demo` runs it")
    parser.add_argument("--keep", metavar="DIR", help="run in DIR (emptied first) and keep it: the instance "
                        "(home/), the data (data/) with the report, and both runs' logs")
    args = parser.parse_args()
    result = run(args.config, args.keep)
    text = to_markdown(result)
    write_results("end_to_end", result, text)
    print(text)


if __name__ == "__main__":
    main()
