"""The benchmark suite: run every stage's script, then write one results page from their JSON files.

Each stage script writes `bench/results/<stage>.json`; this module runs them (each in its own process, so
a stage's peak memory is its own) and combines their files into `bench/results/RESULTS.md` and
`bench/results/results.json`, with the machine, library versions and date. A stage's figures are its
`figures` list (`stage`, `unit`, `value`, `baseline`, `baseline_value`, `ratio`) when it has one; for the
older scripts every dict holding a `ratio` or `speedup*` key becomes a row. Usage:

    python -m bench [--quick] [--only ingest,peers]   # --quick writes to bench/results/quick/
    python -m bench.suite --page-only        # rebuild the page from the existing JSON files
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone

from bench.output import RESULTS_DIR

# stage -> (arguments of a full run, arguments of a --quick smoke run)
STAGES: dict[str, tuple[list[str], list[str]]] = {
    "data_stages": ([], ["--per-class", "10", "--image-size", "64"]),
    "ingest": ([], ["--images", "60", "--deep-images", "4"]),
    "captions": ([], ["--per-class", "1", "--quality-per-class", "1"]),
    "curation": ([], ["--quick"]),
    "keep_set": ([], []),
    "burned_in_text": ([], ["--synthetic-per-class", "2"]),
    "caption_validation": ([], []),
    "export_training": ([], ["--per-class", "10", "--image-size", "64", "--repeats", "1", "--train-per-class", "4",
                             "--epochs", "1", "--train-repeats", "1"]),
    "peers": ([], ["--images", "100", "--hash-sample", "500", "--search-n", "100000"]),
    "scaling": ([], ["--max", "1000"]),
    "end_to_end": ([], []),
    "distributed": ([], ["--config", "tests/distributed/tiny.yaml"]),
    "gpu": ([], ["--prompts", "32"]),  # after export_training: it copies that run's --gpu figures
}
VERSIONED = ["torch", "dagster", "duckdb", "pyarrow", "numpy", "pillow", "img2dataset", "imagehash", "vllm"]
RATIO_KEYS = ("ratio", "scaling", "scaling_after_startup")


def versions() -> dict:
    """Python's version and each installed library's in VERSIONED (None when absent)."""
    out = {"python": platform.python_version()}
    for name in VERSIONED:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def gpu_info() -> dict:
    """{'available': bool, 'name': ...}: whether torch sees CUDA here."""
    try:
        import torch
    except ImportError:
        return {"available": False, "reason": "torch not installed"}
    if not torch.cuda.is_available():
        return {"available": False, "reason": "no GPU"}
    return {"available": True, "name": torch.cuda.get_device_name(0)}


def _number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _walk_ratios(node, path: str, rows: list[dict]) -> None:
    if isinstance(node, dict):
        keys = [k for k in node if (k in RATIO_KEYS or k.startswith("speedup")) and _number(node[k])]
        for k in keys:
            values = {f: node[f] for f in node if _number(node[f]) and f != k}
            rows.append({"figure": f"{path} {k}".strip(), "ratio": node[k],
                         "detail": ", ".join(f"{f}={v}" for f, v in list(values.items())[:6])})
        for k, v in node.items():
            if isinstance(v, (dict, list)):
                _walk_ratios(v, f"{path}.{k}" if path else k, rows)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            label = v.get("name") or v.get("images") or v.get("n") or i if isinstance(v, dict) else i
            _walk_ratios(v, f"{path}[{label}]", rows)


def stage_figures(result: dict) -> list[dict]:
    """The rows a stage contributes to the page: figure, value, unit, baseline, baseline value, ratio."""
    if isinstance(result.get("figures"), list):
        return [{"figure": f"{f['stage']} ({f['unit']})" if f.get("unit") else f["stage"], "value": f.get("value"),
                 "baseline": f.get("baseline"), "baseline_value": f.get("baseline_value"), "ratio": f.get("ratio")}
                for f in result["figures"]]
    rows: list[dict] = []
    _walk_ratios(result, "", rows)
    return [{"figure": r["figure"], "value": r["detail"], "baseline": "same run", "baseline_value": None,
             "ratio": r["ratio"]} for r in rows]


def _cell(x) -> str:
    if x is None or x == "":
        return "-"
    if isinstance(x, float):
        return f"{x:,.2f}" if abs(x) < 100 else f"{x:,.0f}"
    if isinstance(x, int):
        return f"{x:,}"
    return str(x).replace("|", "/")


def build_page(results: dict[str, dict], meta: dict) -> tuple[str, dict]:
    """(Markdown page, combined JSON) from each stage's result dict and the run's meta. Pure."""
    lines = ["# Benchmark results", "",
             f"Date: {meta.get('date', '-')}. Machine: {meta.get('machine', {}).get('cpus', '-')} cores, "
             f"{meta.get('machine', {}).get('platform', '-')}; load average before "
             f"{meta.get('load_average_before', '-')}.", "",
             "Versions: " + ", ".join(f"{k} {v}" for k, v in meta.get("versions", {}).items() if v) + ".", ""]
    gpu = meta.get("gpu", {})
    lines += [f"GPU: {gpu.get('name') if gpu.get('available') else gpu.get('reason', 'no GPU')}.", ""]
    combined = {"meta": meta, "stages": {}}
    for stage, result in results.items():
        figures = stage_figures(result)
        combined["stages"][stage] = {"date": result.get("date"), "figures": figures, "result": result}
        lines += [f"## {stage}", "",
                  f"Run {result.get('date', '-')}; full results in `bench/results/{stage}.json`.", ""]
        if result.get("note"):
            lines += [f"Note: {result['note']}", ""]
        if not figures:
            lines += ["(no figures with a same-run baseline)", ""]
            continue
        lines += ["| figure | MedPairs | baseline | baseline value | ratio |", "|---|---|---|---|---|"]
        lines += [f"| {_cell(f['figure'])} | {_cell(f['value'])} | {_cell(f['baseline'])} | "
                  f"{_cell(f['baseline_value'])} | {_cell(f['ratio'])} |" for f in figures]
        lines.append("")
    return "\n".join(lines), combined


def load_results(results_dir: str = RESULTS_DIR, stages: list[str] | None = None) -> dict[str, dict]:
    """Each `<stage>.json` in results_dir (those of `stages` when given), by stage name."""
    out = {}
    for stage in stages or STAGES:
        path = os.path.join(results_dir, f"{stage}.json")
        if os.path.exists(path):
            with open(path) as f:
                out[stage] = json.load(f)
    return out


def write_page(results_dir: str = RESULTS_DIR, meta: dict | None = None) -> str:
    meta = meta or {}
    meta.setdefault("date", datetime.now(timezone.utc).isoformat(timespec="seconds"))
    meta.setdefault("machine", {"cpus": os.cpu_count(), "platform": platform.platform()})
    meta.setdefault("versions", versions())
    meta.setdefault("gpu", gpu_info())
    page, combined = build_page(load_results(results_dir), meta)
    with open(os.path.join(results_dir, "RESULTS.md"), "w") as f:
        f.write(page + "\n")
    with open(os.path.join(results_dir, "results.json"), "w") as f:
        json.dump(combined, f, indent=2, default=str)
    return page


def run_stages(stages: list[str], quick: bool) -> dict[str, dict]:
    """Run each stage's script in its own process; returns {stage: {seconds, returncode}}."""
    runs = {}
    for stage in stages:
        args = list(STAGES[stage][1 if quick else 0])
        if stage == "export_training" and gpu_info()["available"]:
            args.append("--gpu")
        started = time.perf_counter()
        print(f"== bench.{stage} {' '.join(args)}", flush=True)
        rc = subprocess.call([sys.executable, "-m", f"bench.{stage}", *args])
        runs[stage] = {"seconds": round(time.perf_counter() - started, 1), "returncode": rc}
    return runs


def run_quick(stages: list[str], quick_dir: str) -> dict[str, dict]:
    """run_stages at smoke sizes, their results moved to `quick_dir`: the full results files stay as they were."""
    os.makedirs(quick_dir, exist_ok=True)
    names = [n for n in os.listdir(RESULTS_DIR) if os.path.isfile(os.path.join(RESULTS_DIR, n))]
    with tempfile.TemporaryDirectory() as kept:
        for n in names:
            shutil.copy2(os.path.join(RESULTS_DIR, n), kept)
        try:
            runs = run_stages(stages, quick=True)
        finally:
            for stage in stages:
                for ext in ("json", "md"):
                    path = os.path.join(RESULTS_DIR, f"{stage}.{ext}")
                    if os.path.exists(path):
                        shutil.move(path, os.path.join(quick_dir, f"{stage}.{ext}"))
            for n in names:
                shutil.copy2(os.path.join(kept, n), RESULTS_DIR)
    return runs


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="small sizes: a smoke run of every stage, its results in bench/results/quick/")
    parser.add_argument("--only", default="", help="comma-separated stages to run, e.g. ingest,peers")
    parser.add_argument("--page-only", action="store_true", help="only rebuild the page from existing results")
    args = parser.parse_args(argv)
    stages = [s for s in args.only.split(",") if s] or list(STAGES)
    unknown = set(stages) - set(STAGES)
    if unknown:
        parser.error(f"unknown stages {sorted(unknown)}; known: {', '.join(STAGES)}")
    meta = {"load_average_before": [round(x, 2) for x in os.getloadavg()], "quick": args.quick}
    results_dir = os.path.join(RESULTS_DIR, "quick") if args.quick else RESULTS_DIR
    if not args.page_only:
        meta["runs"] = run_quick(stages, results_dir) if args.quick else run_stages(stages, quick=False)
    print(write_page(results_dir, meta))
    if any(r["returncode"] for r in meta.get("runs", {}).values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
