"""Writing the benchmark report: report.json for machines (CI gates), report.md for people and the Dagster
UI, report.html (self-contained, with plots) and report.png, its screenshot in headless Chromium."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Mapping

import fsspec

from assets.report.render import browser
from assets.report.render.html import render_html
from assets.report.render.markdown import SYNTHETIC_NOTE, render_markdown

__all__ = ["SYNTHETIC_NOTE", "file_sha256", "kept_report", "write_report"]

log = logging.getLogger(__name__)


def file_sha256(path: str) -> str:
    """Content fingerprint of a file (local or remote), used as the dataset version in reports."""
    digest = hashlib.sha256()
    with fsspec.open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write(path: str, data: str | bytes) -> None:
    with fsspec.open(path, "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)


def _paths(out_dir: str) -> dict[str, str]:
    out_dir = out_dir.rstrip("/")
    return {kind: f"{out_dir}/report.{ext}" for kind, ext in
            (("json", "json"), ("markdown", "md"), ("html", "html"), ("png", "png"))}


def write_report(report: Mapping, out_dir: str, *, screenshot: bool = True) -> dict:
    """Write report.json, report.md, report.html and (when `screenshot` and Chromium is installed)
    report.png under `out_dir` (local or fsspec URL). Returns the report with `paths`, `markdown` and
    `screenshot` (its size, or why there is none)."""
    paths = _paths(out_dir)
    markdown = render_markdown(report)
    page = render_html(report)
    _write(paths["json"], json.dumps(report, indent=2, sort_keys=True, default=str))
    _write(paths["markdown"], markdown)
    _write(paths["html"], page)
    shot = _screenshot(page, paths["png"]) if screenshot else {"skipped": "screenshot turned off"}
    if "skipped" in shot:
        paths.pop("png")
    return {**report, "paths": paths, "markdown": markdown, "screenshot": shot}


def kept_report(out_dir: str, inputs: str, *, screenshot: bool = True) -> dict | None:
    """The report an earlier run wrote under `out_dir` from the same `inputs` (its provenance's digest of
    everything the report depends on), as `write_report` returned it; None when there is none, its inputs
    differ, a file is missing, or a screenshot is wanted, possible and missing."""
    paths = _paths(out_dir)
    fs = fsspec.core.url_to_fs(paths["json"])[0]
    if not all(fs.exists(paths[kind]) for kind in ("json", "markdown", "html")):
        return None
    with fsspec.open(paths["json"], "rt") as f:
        report = json.load(f)
    if (report.get("provenance") or {}).get("inputs") != inputs:
        return None
    has_png = fs.exists(paths["png"])
    if screenshot and not has_png and browser.find_chromium() is not None:
        return None
    if not (screenshot and has_png):
        paths.pop("png")
    with fsspec.open(paths["markdown"], "rt") as f:
        markdown = f.read()
    shot = {"kept": paths["png"]} if "png" in paths else {"skipped": "no screenshot kept"}
    return {**report, "paths": paths, "markdown": markdown, "screenshot": shot}


def _screenshot(page: str, png_path: str) -> dict:
    """Screenshot the page into `png_path` (through a local temp copy, so remote out_dirs work too)."""
    if browser.find_chromium() is None:
        log.warning("no Chromium installed: report.png not written")
        return {"skipped": "no Chromium installed (Debian package `chromium`)"}
    with tempfile.TemporaryDirectory(prefix="medpairs-report-") as tmp:
        html_path, local_png = os.path.join(tmp, "report.html"), os.path.join(tmp, "report.png")
        with open(html_path, "w") as f:
            f.write(page)
        shot = browser.screenshot(html_path, local_png)
        with open(local_png, "rb") as f:
            _write(png_path, f.read())
    return {"width": shot["width"], "height": shot["height"]}


def git_commit(repo_dir: str | None = None) -> str | None:
    """The checked-out commit of the code (with "+changes" when the work tree differs), or None outside git."""
    import subprocess

    repo_dir = repo_dir or os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    try:
        commit = subprocess.run(["git", "-C", repo_dir, "rev-parse", "--short=12", "HEAD"], capture_output=True,
                                text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", repo_dir, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("+changes" if dirty else "")
