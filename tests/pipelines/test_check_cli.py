"""`python -m pipelines.check` as a user or CI runs it, in a real process: the catalog from
MEDPAIRS_CATALOG or --catalog, ${MEDPAIRS_DATA_ROOT} from --data-root, a table or --json, and an exit
status that says whether every source is there and readable."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.assets.sources.readers.reader_helpers import png_bytes

ROOT = Path(__file__).resolve().parents[2]
CATALOG = """\
sources:
  - {name: chest, modality: xray, format: imagefolder, location: '${MEDPAIRS_DATA_ROOT}/chest',
     classes: [normal, pneumonia]}
  - {name: mimic, modality: xray, kind: image_text, format: csv, location: '${MEDPAIRS_DATA_ROOT}/mimic/reports.csv',
     download: https://physionet.org/content/mimic-cxr-jpg/}
"""


def _check(tmp_path: Path, *args: str, catalog: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path), "MEDPAIRS_STORAGE_ROOT": str(tmp_path / "store"),
           "MEDPAIRS_CATALOG": str(catalog or tmp_path / "catalog.yaml")}
    env.pop("MEDPAIRS_DATA_ROOT", None)
    return subprocess.run([sys.executable, "-m", "pipelines.check", *args], check=False, cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_json_names_the_missing_source_and_exits_nonzero_then_zero_once_it_is_there(tmp_path):
    data = tmp_path / "data"
    for i, label in enumerate(["normal", "pneumonia"]):
        (data / "chest" / label).mkdir(parents=True)
        (data / "chest" / label / f"{i}.png").write_bytes(png_bytes(seed=i))
    (tmp_path / "catalog.yaml").write_text(CATALOG)

    done = _check(tmp_path, "--json", "--data-root", str(data))
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert report["ready"] is False
    by = {s["source"]: s for s in report["sources"]}
    assert (by["chest"]["status"], by["chest"]["rows"], by["chest"]["ready"]) == ("ok", 2, True)
    assert by["mimic"]["status"] == "missing" and by["mimic"]["location"] == f"{data}/mimic/reports.csv"
    assert by["mimic"]["download"] == "https://physionet.org/content/mimic-cxr-jpg/"

    (data / "mimic").mkdir()
    (data / "mimic" / "s1.png").write_bytes(png_bytes(seed=5))
    (data / "mimic" / "reports.csv").write_text("path,caption\ns1.png,No acute findings.\n")
    done = _check(tmp_path, "--data-root", str(data), "--limit", "1")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "every source is found and readable" in done.stdout
    assert "mimic (ok):\n  stopped after 1 rows (the limit)" not in done.stdout  # it has one row: read whole
    assert "chest (ok):\n  stopped after 1 rows (the limit)" in done.stdout


def test_help_states_the_exit_status_and_a_bad_catalog_exits_2(tmp_path):
    done = _check(tmp_path, "--help")
    assert done.returncode == 0 and "Exit status: 0 when every source is found and readable" in done.stdout
    (tmp_path / "bad.yaml").write_text("sources:\n  - {name: x, format: nonsense}\n")
    done = _check(tmp_path, catalog=tmp_path / "bad.yaml")
    assert done.returncode == 2 and "unknown format 'nonsense'" in done.stderr
