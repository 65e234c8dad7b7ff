"""Headless Chromium: the DOM of a page after its scripts ran, and a full-page PNG screenshot of it.

Debian's `chromium` package provides the browser; MEDPAIRS_CHROMIUM names another binary."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
WIDTH = 1280


def find_chromium() -> str | None:
    """Path of a Chromium binary, or None."""
    override = os.environ.get("MEDPAIRS_CHROMIUM")
    if override:
        return shutil.which(override) or (override if Path(override).is_file() else None)
    return next((found for name in CANDIDATES if (found := shutil.which(name))), None)


def _run(args: list[str], timeout: float) -> subprocess.CompletedProcess:
    binary = find_chromium()
    if binary is None:
        raise FileNotFoundError("no Chromium found (install Debian's `chromium` or set MEDPAIRS_CHROMIUM)")
    # A throwaway profile per call; --no-sandbox because CI containers run as root.
    with tempfile.TemporaryDirectory(prefix="medpairs-chromium-") as profile:
        cmd = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
               "--hide-scrollbars", "--no-first-run", f"--user-data-dir={profile}", *args]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"chromium exited {proc.returncode}: {proc.stderr[-2000:]}")
    return proc


def dump_dom(html_path: str, *, width: int = WIDTH, timeout: float = 60) -> str:
    """The page's DOM as Chromium serializes it after loading (scripts run, layout done)."""
    url = Path(html_path).resolve().as_uri()
    return _run([f"--window-size={width},1000", "--dump-dom", url], timeout).stdout


def screenshot(html_path: str, png_path: str, *, width: int = WIDTH, max_height: int = 16000,
               timeout: float = 60) -> dict:
    """A PNG of the whole page: the page records its height (data-page-height, see html.py) in a first
    load, the second renders a window that tall. Returns {path, width, height}."""
    dom = dump_dom(html_path, width=width, timeout=timeout)
    found = re.search(r'data-page-height="(\d+)"', dom)
    height = min(max_height, int(found.group(1)) if found else 2000)
    out = Path(png_path).resolve()
    _run([f"--window-size={width},{height}", f"--screenshot={out}", Path(html_path).resolve().as_uri()], timeout)
    if not out.is_file():
        raise RuntimeError(f"chromium wrote no screenshot at {out}")
    return {"path": str(out), "width": width, "height": height}
