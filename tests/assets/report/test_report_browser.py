"""The HTML report in a real browser: headless Chromium (Debian's `chromium`) loads report.html, its DOM holds
the plots and tables, and the screenshot saved beside the report shows the whole page."""

import os

import pytest
from report_helpers import COMPOSITION, check_report_in_browser, scored_evaluation

from assets.report.benchmark import assemble_report
from assets.report.render import browser
from assets.report.report import write_report
from assets.report.suite import load_suite

if browser.find_chromium() is None:
    if os.environ.get("MEDPAIRS_REQUIRE_CHROMIUM"):
        raise RuntimeError("MEDPAIRS_REQUIRE_CHROMIUM is set but no Chromium is installed (apt-get install chromium)")
    pytest.skip("no Chromium installed (Debian package `chromium`); CI installs it", allow_module_level=True)


def test_report_renders_in_chromium_with_plots_tables_and_a_screenshot(tmp_path):
    evaluation, tasks = scored_evaluation()
    report = assemble_report(evaluation, tasks, load_suite(), provenance={"seed": 0}, synthetic=True,
                             composition=COMPOSITION)
    written = write_report(report, str(tmp_path))
    assert written["paths"]["png"] == f"{tmp_path}/report.png"
    assert written["screenshot"]["height"] > 1500
    dom = check_report_in_browser(tmp_path)
    assert "The data is synthetic." in dom
