"""OpenI (format openi_xml) over the real NLMCXR reports torchxrayvision ships: the archive as downloaded,
and an extracted folder of them with the PNGs their parentImages name."""

from __future__ import annotations

import shutil
import tarfile
from collections import Counter

import pytest
from reader_helpers import make_spec, nlmcxr_reports_tgz, png_bytes, run_ingest

from assets.captions.report_text import split_sections
from assets.sources.catalog import SplitRule
from assets.sources.readers import SourceError, read_source

FIRST_REPORT = ("FINDINGS: The cardiac silhouette and mediastinum size are within normal limits. There is no "
                "pulmonary edema. There is no focal consolidation. There are no XXXX of a pleural effusion. There "
                "is no evidence of pneumothorax.\nIMPRESSION: Normal chest x-XXXX.")


def test_every_report_of_the_archive_is_accounted_for(tmp_path):
    (tmp_path / "openI").mkdir()
    shutil.copy(nlmcxr_reports_tgz(), tmp_path / "openI" / "NLMCXR_reports.tgz")
    spec = make_spec("openi_xml", tmp_path / "openI" / "NLMCXR_reports.tgz", kind="image_text")
    src = read_source(spec)
    records = list(src.records)
    assert src.root == f"file://{tmp_path}/openI/image"
    # 7,470 images named by 3,955 reports; 104 reports name none, 25 (40 images) have no findings or impression
    assert Counter(r.error for r in records) == {None: 7430, "missing_caption": 40, "missing_image": 104}
    first = {r.path: r for r in records if r.meta.get("report") == "1.xml"}
    assert set(first) == {"CXR1_1_IM-0001-3001.png", "CXR1_1_IM-0001-4001.png"}
    assert {r.caption for r in first.values()} == {FIRST_REPORT}
    assert list(split_sections(FIRST_REPORT)) == ["findings", "impression"]  # as report cleaning will read it
    assert len({r.group_id for r in first.values()}) == 1  # both views of the report: one group


def test_a_folder_of_reports_ingests_with_its_pngs(tmp_path):
    reports = tmp_path / "openI" / "ecgen-radiology"
    reports.mkdir(parents=True)
    with tarfile.open(nlmcxr_reports_tgz()) as archive:
        for name in ("1.xml", "2.xml", "1068.xml"):  # 1068 names no image
            (reports / name).write_bytes(archive.extractfile(f"ecgen-radiology/{name}").read())
    (reports / "broken.xml").write_text("<eCitation><uId")
    images = tmp_path / "openI" / "image"
    images.mkdir()
    for i, png in enumerate(("CXR1_1_IM-0001-3001.png", "CXR1_1_IM-0001-4001.png", "CXR2_IM-0652-1001.png")):
        (images / png).write_bytes(png_bytes(seed=i))  # report 2's second view is absent
    spec = make_spec("openi_xml", reports, kind="image_text",
                     split=SplitRule(by="ratio", ratios=(("train", 0.5), ("test", 0.5)), seed=3))
    stats, samples, _ = run_ingest(read_source(spec), tmp_path / "out")
    assert stats["ingested"] == 3
    assert stats["quarantine_reasons"] == {"bad_row": 1, "missing_file": 1, "missing_image": 1}
    by_report = {}
    for s in samples:
        by_report.setdefault(s["orig_path"].split("_IM")[0], set()).add(s["split"])
    assert all(len(splits) == 1 for splits in by_report.values())  # a report's views never straddle splits
    reports_only = make_spec("openi_xml", reports, kind="image_text", sections=["impression"])
    captions = {r.caption for r in read_source(reports_only).records if r.error is None}
    assert "IMPRESSION: Normal chest x-XXXX." in captions and not any("FINDINGS" in c for c in captions)


def test_a_location_that_is_no_report_archive_fails_the_source(tmp_path):
    (tmp_path / "reports.tgz").write_text("not an archive")
    with pytest.raises(SourceError, match="neither a folder of XML reports nor a tar archive"):
        list(read_source(make_spec("openi_xml", tmp_path / "reports.tgz", kind="image_text")).records)
