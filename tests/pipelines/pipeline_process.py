"""`python -m pipelines.run` as a user starts it, in a project folder of a test's own: a Dagster
instance with the gpu pool, a storage root and a run config; its output read line by line; Ctrl-C
and SIGKILL sent to its process group, as a terminal and the out-of-memory killer do."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# A pipeline small enough to run several times in a test: 22 classes, 6 images each.
SMALL_CONFIG = """\
ops:
  synthetic_source: {config: {train_per_class: 4, test_per_class: 2, image_size: 32}}
  class_captions: {config: {captions_per_class: 2, max_rounds: 2}}
  webdataset_shards: {config: {samples_per_shard: 20}}
  clip_model: {config: {epochs: 2, batch_size: 16}}
"""


def make_project(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "dagster.yaml").write_text("telemetry: {enabled: false}\nconcurrency: {pools: {default_limit: 1}}\n")
    (path / "run.yaml").write_text(SMALL_CONFIG)
    return path


def start_pipeline(home: Path) -> subprocess.Popen:
    """The pipeline on `home`'s instance, data and config, in a process group of its own (as a
    terminal's foreground job), stdout and stderr merged."""
    env = dict(os.environ, DAGSTER_HOME=str(home), MEDPAIRS_STORAGE_ROOT=str(home / "data"),
               HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONUNBUFFERED="1")
    # --debug: the markers the tests stop at include Dagster's step events, which are DEBUG lines.
    return subprocess.Popen([sys.executable, "-m", "pipelines.run", "--debug", "-c", str(home / "run.yaml")],
                            cwd=ROOT, env=env,
                            text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)


def read_until(proc: subprocess.Popen, marker: str, timeout: float) -> str:
    """The output up to the first line holding `marker`."""
    seen, deadline = [], time.monotonic() + timeout
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    while time.monotonic() < deadline:
        if not sel.select(timeout=1.0):
            continue
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        if marker in line:
            return "".join(seen)
    raise AssertionError(f"{marker!r} never appeared:\n{''.join(seen[-30:])}")


def kill_at(home: Path, marker: str, delay: float) -> str:
    """Start the pipeline and SIGKILL its process group `delay` s after `marker`; the output so far."""
    proc = start_pipeline(home)
    seen = read_until(proc, marker, timeout=600)
    time.sleep(delay)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    return seen


def interrupt_at(home: Path, marker: str, delay: float) -> str:
    """Start the pipeline and press Ctrl-C `delay` s after `marker`; the output. Asserts the prompt is
    back within 10 s, with exit code 130 and no step retried."""
    proc = start_pipeline(home)
    try:
        seen = read_until(proc, marker, timeout=600)
        time.sleep(delay)
        os.killpg(proc.pid, signal.SIGINT)
        sent = time.monotonic()
        out, _ = proc.communicate(timeout=60)
        took = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert took < 10, f"exited {took:.1f}s after Ctrl-C at {marker!r}"
    assert proc.returncode == 130, (seen + out)[-3000:]
    assert "STEP_UP_FOR_RETRY" not in seen + out
    return seen + out


def finish(home: Path) -> str:
    """Run the pipeline to the end; its output."""
    out, _ = start_pipeline(home).communicate(timeout=900)
    return out
