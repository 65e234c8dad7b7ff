"""Reports of the Indiana University chest X-ray collection (Open-i, NLMCXR_reports.tgz): one XML per
report, its sections as <AbstractText Label="FINDINGS">, the images it describes as <parentImage id=...>.
Read by the OpenI reader (sources) and by report cleaning (captions)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field


@dataclass
class Report:
    report_id: str
    sections: dict[str, str]  # lower-case section name -> raw text
    image_ids: list[str] = field(default_factory=list)


def parse_nlmcxr(xml: bytes | str) -> Report:
    """A report of the Indiana University chest X-ray collection (NLMCXR XML); ET.ParseError if not XML."""
    root = ET.fromstring(xml)
    uid = root.find("uId")
    sections = {(a.get("Label") or "text").lower(): (a.text or "").strip() for a in root.iter("AbstractText")}
    images = [p.get("id") for p in root.iter("parentImage") if p.get("id")]
    return Report(uid.get("id") if uid is not None else "", sections, images)
