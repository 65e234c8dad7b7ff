"""The web UI in a real browser: `dagster dev` (webserver, daemon, code server) on loopback over a
tiny project; headless Chromium, driven by Playwright, must draw every asset of the Definitions in
the asset graph; then runs launched through the UI's GraphQL API (sources_job, then ingest_job for
the catalog's source) go through the daemon's run queue to SUCCESS."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from ops_helpers import ROOT, TINY_SYNTHETIC, require
from playwright import sync_api

from deploy.rehearsal.services import free_port
from pipelines.definitions import defs

DAGSTER = str(Path(sys.executable).parent / "dagster")
LOCATION = "medpairs"  # workspace.yaml
TERMINAL = {"SUCCESS", "FAILURE", "CANCELED"}
LAUNCH_RUN = """
mutation Launch($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}"""
RUN_STATUS = "query Run($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }"
LOCATION_STATUS = """
{ workspaceOrError { ... on Workspace { locationEntries {
    name loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }"""
MATERIALIZED_PARTITIONS = """
query Asset($key: AssetKeyInput!) { assetOrError(assetKey: $key) {
    ... on Asset { assetMaterializations { partition } } } }"""


def graphql(url: str, query: str, variables: dict | None = None) -> dict:
    """POST a query to the webserver's /graphql, as the UI does; its `data`."""
    payload = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(f"{url}/graphql", payload, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        answer = json.load(response)
    assert "errors" not in answer, answer["errors"]
    return answer["data"]


def _wait_until_loaded(url: str, server: subprocess.Popen, log: Path, timeout: float = 180) -> None:
    """Until the webserver answers and the code location is loaded (not before: the UI would show
    an empty graph), or fail with the log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert server.poll() is None, f"dagster dev exited:\n{log.read_text()[-4000:]}"
        try:
            entries = graphql(url, LOCATION_STATUS)["workspaceOrError"]["locationEntries"]
        except (urllib.error.URLError, ConnectionError):
            entries = []
        entry = next((e for e in entries if e["name"] == LOCATION), None)
        if entry and entry["loadStatus"] == "LOADED":
            assert entry["locationOrLoadError"]["__typename"] == "RepositoryLocation", entry
            return
        time.sleep(1)
    pytest.fail(f"the code location did not load in {timeout:.0f} s:\n{log.read_text()[-4000:]}")


@pytest.fixture
def chromium() -> str:
    """The browser: Debian's `chromium` (checked before the server starts)."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    require(found, "Chromium (Debian package chromium)", required_by="MEDPAIRS_REQUIRE_CHROMIUM")
    return found


@pytest.fixture
def webui(tiny_project, tmp_path):
    """The URL of `dagster dev` serving workspace.yaml on a free loopback port, with the tiny
    project's DAGSTER_HOME and environment; shut down (then killed, with its children) after."""
    port = free_port()
    log = tmp_path / "dagster-dev.log"
    with open(log, "wb") as out:
        server = subprocess.Popen([DAGSTER, "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
                                  cwd=ROOT, env=tiny_project, stdout=out, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_loaded(url, server, log)
        yield url
    finally:
        server.terminate()  # dagster dev shuts its webserver, daemon and code servers down
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.wait(timeout=60)
        with contextlib.suppress(ProcessLookupError):  # whatever of its session is left
            os.killpg(server.pid, signal.SIGKILL)
        server.wait()


def _launch_and_wait(url: str, job: str, run_config: dict, tags: dict | None = None, timeout: float = 180) -> str:
    params = {"selector": {"repositoryLocationName": LOCATION, "repositoryName": "__repository__", "jobName": job},
              "runConfigData": run_config,
              "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in (tags or {}).items()]}}
    launched = graphql(url, LAUNCH_RUN, {"params": params})["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]
    deadline = time.monotonic() + timeout
    status = None
    while time.monotonic() < deadline:
        status = graphql(url, RUN_STATUS, {"id": run_id})["runOrError"]["status"]
        if status in TERMINAL:
            break
        time.sleep(1)
    assert status == "SUCCESS", f"{job} run {run_id}: {status} (see {url}/runs/{run_id})"
    return run_id


def test_asset_graph_shows_every_asset_and_a_launched_run_succeeds(chromium, webui, tmp_path):
    graph = defs.resolve_asset_graph()
    assets = sorted(key.to_user_string() for key in graph.get_all_asset_keys())
    groups = sorted({graph.get(key).group_name for key in graph.get_all_asset_keys()})
    # The UI draws groups collapsed; `expanded` is the URL its "expand all groups" writes.
    lineage = f"{webui}/asset-groups?expanded=" + ",".join(f"global@global:{g}" for g in groups)
    screenshot = tmp_path / "asset-graph.png"

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-dev-shm-usage"])
        try:
            page = browser.new_page(viewport={"width": 1800, "height": 1000})
            page.goto(lineage)
            missing = []
            nodes = page.locator("foreignObject")
            for name in assets:
                # A long name is drawn shortened in its middle ("native_t…_captions").
                shortened = re.compile(rf"^{re.escape(name[:4])}\S*…\S*{re.escape(name[-4:])}$")
                node = nodes.get_by_text(name, exact=True).or_(nodes.get_by_text(shortened)).first
                try:
                    node.wait_for(timeout=60_000 if not missing else 1_000)
                except sync_api.TimeoutError:
                    missing.append(name)
            skip = page.get_by_role("button", name="Skip")  # the first-visit newsletter dialog
            if skip.count():
                skip.first.click()
            page.screenshot(path=screenshot)
        finally:
            browser.close()
    assert not missing, f"not drawn in the asset graph: {missing} (screenshot: {screenshot})"

    _launch_and_wait(webui, "sources_job", TINY_SYNTHETIC)
    _launch_and_wait(webui, "ingest_job", {}, tags={"dagster/partition": "chest_folder"})
    asset = graphql(webui, MATERIALIZED_PARTITIONS, {"key": {"path": ["raw_samples"]}})["assetOrError"]
    assert [m["partition"] for m in asset["assetMaterializations"]] == ["chest_folder"]
