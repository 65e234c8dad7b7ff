"""The image-text entries of the UniMed training recipe (pipelines/recipes/unimed.yaml, the real file) ingested
from miniatures of each dataset as its provider lays it out: MIMIC-CXR-JPG with MIMIC-CXR's reports, OpenI
(the real NLMCXR reports torchxrayvision ships), ROCOv2, PMC-OA, Quilt-1M and LLaVA-Med."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from assets.sources.catalog_yaml import load_catalog
from assets.sources.readers import SourceError, read_source
from tests.assets.sources.readers.reader_helpers import run_ingest
from tests.pipelines.recipes import miniatures
from tests.pipelines.recipes.miniatures import REPORT

CATALOG = str(Path(__file__).resolve().parents[3] / "pipelines" / "recipes" / "unimed.yaml")
IMAGE_TEXT = ["mimic_cxr", "openi", "rocov2", "rocov2_test", "pmc_oa", "quilt_1m", "llava_med_alignment",
              "llava_med_instruct"]


@pytest.fixture
def data_root(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "DATA"
    for build in (miniatures.mimic_cxr, miniatures.openi, miniatures.rocov2, miniatures.pmc_oa, miniatures.quilt_1m,
                  miniatures.llava_med):
        build(root)
    monkeypatch.setenv("MEDPAIRS_DATA_ROOT", str(root))
    return root


def _ingest(name: str, out: Path):
    """(records, ingest stats) of the recipe's entry `name`, read twice: as records, and through ingest."""
    spec = {s.name: s for s in load_catalog(CATALOG)}[name]
    records = list(read_source(spec).records)
    stats, _, _ = run_ingest(read_source(spec), out / name)
    assert stats["rows_read"] == len(records)
    return records, stats


def test_mimic_cxr_frontal_views_with_their_study_reports_and_official_split(data_root, tmp_path):
    records, stats = _ingest("mimic_cxr", tmp_path)
    assert stats["ingested"] == 3
    assert stats["quarantine_reasons"] == {"excluded_by_filter": 2, "missing_caption": 1, "unmatched_join": 1}
    good = {r.path.split("/")[-2]: r for r in records if r.error is None}
    assert {study: r.split for study, r in good.items()} == {"s50414267": "train", "s53189527": "train",
                                                            "s57375967": "val"}  # validate -> val
    assert good["s50414267"].caption == REPORT.replace("___F", "___F 0").strip()
    assert {study: r.label for study, r in good.items()} == {
        "s50414267": "no finding", "s53189527": "Edema", "s57375967": "Cardiomegaly"}
    assert good["s53189527"].meta == {"ViewPosition": "AP", "uncertain_labels": ["Pleural Effusion"]}
    assert good["s50414267"].group_id == good["s53189527"].group_id != good["s57375967"].group_id  # by patient
    excluded = sorted(r.error_detail for r in records if r.error == "excluded_by_filter")
    assert excluded == ["column 'ViewPosition': '' is not one of ['PA', 'AP']",
                        "column 'ViewPosition': 'LATERAL' is not one of ['PA', 'AP']"]
    missing = next(r for r in records if r.error == "missing_caption")
    assert missing.error_detail == "caption file 'files/p10/p10000898/s50771383.txt' does not exist"


def test_openi_images_with_the_real_reports_findings_and_impression(data_root, tmp_path):
    records, stats = _ingest("openi", tmp_path)
    assert stats["ingested"] == 4 and stats["quarantine_reasons"] == {"missing_image": 1}  # 1068.xml names none
    captions = {r.path: r.caption for r in records if r.error is None}
    assert set(captions) == {"CXR1_1_IM-0001-3001.png", "CXR1_1_IM-0001-4001.png", "CXR2_IM-0652-1001.png",
                             "CXR2_IM-0652-2001.png"}
    assert captions["CXR1_1_IM-0001-3001.png"].startswith("FINDINGS: The cardiac silhouette and mediastinum size")
    assert captions["CXR1_1_IM-0001-3001.png"].endswith("\nIMPRESSION: Normal chest x-XXXX.")
    assert {r.split for r in records if r.error is None} == {"train"}


@pytest.mark.parametrize("name, ingested, quarantined, caption", [
    ("rocov2", 3, {}, "Computed tomography of the chest showing lesion 1."),
    ("rocov2_test", 1, {}, "Computed tomography of the chest showing lesion 1."),
    ("pmc_oa", 2, {}, "H&E staining of the tumour (x200)."),
    ("quilt_1m", 2, {"missing_caption": 1}, "Here we see dense lymphocytic infiltrate."),
    ("llava_med_alignment", 2, {}, "Chest X-ray showing bilateral infiltrates."),
    ("llava_med_instruct", 2, {}, "Posteroanterior chest radiograph."),
])
def test_figure_caption_sources(data_root, tmp_path, name, ingested, quarantined, caption):
    records, stats = _ingest(name, tmp_path)
    assert stats["ingested"] == ingested and stats["quarantine_reasons"] == quarantined
    good = [r for r in records if r.error is None]
    assert good[0].caption == caption and all(r.kind == "image_text" for r in good)
    assert {r.split for r in good} == {"test" if name == "rocov2_test" else "train"}


def test_every_entry_says_where_to_get_it_and_a_missing_one_fails_alone(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDPAIRS_DATA_ROOT", str(tmp_path / "nothing-here"))
    specs = {s.name: s for s in load_catalog(CATALOG)}
    assert set(IMAGE_TEXT) <= set(specs)
    for name in IMAGE_TEXT:
        spec = specs[name]
        assert spec.kind == "image_text" and spec.download and spec.license and spec.privacy == "public"
        assert spec.text == ("report" if name in ("mimic_cxr", "openi") else "native")
        with pytest.raises(SourceError) as err:
            read_source(spec)
        assert str(err.value) == f"source {name!r}: location {spec.location!r} does not exist"
    assert Counter(specs[n].redistribution for n in IMAGE_TEXT) == {"forbidden": 2, "unknown": 6}
