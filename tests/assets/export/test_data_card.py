"""The data card through Dagster: curation, the weighted and capped export and the card materialized on a
small store laid out as ingest publishes it (sample and quarantine parts of three sources), the card's
counts balancing per source and read back against the real shards, its JSON and Markdown files, licenses
and caption origins."""

from __future__ import annotations

import json
from collections import Counter

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq
import webdataset as wds

from assets.captions.defs import native_text_captions
from assets.captions.resource import CaptionBackendResource
from assets.curation.defs import curation
from assets.export.data_card import caption_origins
from assets.export.defs import data_card, webdataset_shards
from assets.ingest.ingest import QUARANTINE_SCHEMA
from assets.shared import layout
from assets.shared.storage import StorageResource
from assets.sources.resource import SourceCatalogResource
from tests.assets.curation.curation_helpers import flip, phash_of, sample_row

CATALOG = """\
sources:
  - {name: src_a, modality: xray, format: imagefolder, location: ., license: CC-BY-4.0,
     redistribution: allowed, mixture: {weight: 2}}
  - {name: src_b, modality: ct, format: imagefolder, location: ., mixture: {cap: 1}}
  - {name: reports, modality: xray, kind: image_text, format: csv, location: x.csv, license: PhysioNet DUA,
     redistribution: forbidden}
"""
CAPTIONS = [("src_a", "A normal chest X-ray.", "llm"), ("src_a", "Clear lungs on a radiograph.", "llm"),
            ("src_a", "A chest X-ray of normal.", "template"), ("src_b", "A normal abdominal CT.", "llm")]


def _rows() -> list[dict]:
    rows = [sample_row(f"a{i}", f"pa{i}") for i in range(4)]
    rows += [sample_row("a0_near", "pa0_near", phash=flip(phash_of("pa0"), 1, 2)),  # near duplicate of a0
             sample_row("ta", "pta", split="test")]
    rows += [{**sample_row(f"b{i}", f"pb{i}", source="src_b"), "modality": "ct"} for i in range(3)]
    rows += [sample_row(f"r{i}", f"pr{i}", source="reports", kind="image_text", label=None,
                        caption=f"Report {i}: no acute cardiopulmonary process.") for i in range(2)]
    return rows


def _publish(folder, table: pa.Table) -> None:
    """One part and the _parts.json that names it, as a complete ingest leaves a source's folder."""
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, folder / "part-00000.parquet")
    (folder / layout.PARTS_MANIFEST).write_text('{"parts": ["part-00000.parquet"]}')


def _materialize(tmp_path) -> tuple[dg.ExecuteInProcessResult, StorageResource]:
    storage = StorageResource(root=str(tmp_path / "store"))
    rows = _rows()
    quarantined = {"src_a": ["decode_error"], "src_b": [], "reports": ["unreadable", "too_small"]}
    for source, reasons in quarantined.items():
        _publish(tmp_path / "store" / layout.RAW_SAMPLES / source,
                 pa.Table.from_pylist([r for r in rows if r["source"] == source]))
        _publish(tmp_path / "store" / layout.QUARANTINE / source, pa.Table.from_pylist(
            [{"sample_id": f"q-{source}-{i}", "source": source, "orig_path": f"bad{i}.png", "reason": reason,
              "detail": ""} for i, reason in enumerate(reasons)], schema=QUARANTINE_SCHEMA))
    pq.write_table(pa.Table.from_pylist([{"source": s, "label": "normal", "status": "valid", "origin": o, "caption": c}
                                         for s, c, o in CAPTIONS]), storage.path(layout.CLASS_CAPTIONS))
    (tmp_path / "catalog.yaml").write_text(CATALOG)
    (tmp_path / "x.csv").write_text("path,text\n")
    # The image-text source's captions come from its own text (native: no LLM is asked, none is built).
    result = dg.materialize([native_text_captions, curation, webdataset_shards, data_card], resources={
        "storage": storage, "catalog": SourceCatalogResource(path=str(tmp_path / "catalog.yaml")),
        "caption_llm": CaptionBackendResource(), "pipes_subprocess_client": dg.PipesSubprocessClient()})
    return result, storage


def test_the_card_accounts_for_every_input_per_source_and_matches_the_shards(tmp_path):
    result, storage = _materialize(tmp_path)
    assert result.success
    card = json.loads((tmp_path / "store" / layout.DATA_CARD_JSON).read_text())
    rows = {(r["source"], r["modality"]): r for r in card["rows"]}
    assert set(rows) == {("src_a", "xray"), ("src_b", "ct"), ("reports", "xray")}
    a, b, reports = rows[("src_a", "xray")], rows[("src_b", "ct")], rows[("reports", "xray")]
    assert a["ingest"] == {"read": 7, "kept": 6, "dropped": {"decode_error": 1}}
    assert a["curation"] == {"in": 6, "kept": {"test": 1, "train": 4}, "dropped": {"near_duplicate": 1}}
    assert a["export"] == {"in": 4, "exported_pairs": 4, "samples": 8, "dropped": {}}
    assert b["export"] == {"in": 3, "exported_pairs": 1, "samples": 1, "dropped": {"mixture_cap": 2}}
    assert reports["ingest"]["dropped"] == {"too_small": 1, "unreadable": 1} and reports["held_out"] == {}
    for r in card["rows"]:  # in == kept + dropped, at every stage and overall
        assert r["balanced"]
        assert r["ingest"]["read"] == (sum(r["ingest"]["dropped"].values()) + sum(r["curation"]["dropped"].values())
                                       + sum(r["held_out"].values()) + sum(r["export"]["dropped"].values())
                                       + r["export"]["exported_pairs"])
    assert card["balanced"] and card["totals"]["read"] == 7 + 3 + 4
    # The card's samples are what the real shards hold.
    in_shards = Counter(json.loads(s["json"])["source"] for s in
                        wds.WebDataset(f"{storage.path(layout.SHARDS)}/train-000000.tar", shardshuffle=False))
    assert in_shards == {"src_a": 8, "src_b": 1, "reports": 2}
    # Licenses, redistribution, mixture and caption origins (8 samples of src_a carry 2 LLM and 1 template caption).
    assert (a["license"], a["redistribution"], a["mixture"]) == ("CC-BY-4.0", "allowed", {"weight": 2.0, "cap": None})
    assert (reports["license"], reports["redistribution"]) == ("PhysioNet DUA", "forbidden")
    assert b["mixture"] == {"weight": 1.0, "cap": 1} and b["license"] == ""
    assert a["caption_origins"] == {"llm": 16, "template": 8}
    assert b["caption_origins"] == {"llm": 1} and reports["caption_origins"] == {"native": 2}


def test_the_card_is_written_as_markdown_and_shown_in_the_ui(tmp_path):
    result, _ = _materialize(tmp_path)
    md = (tmp_path / "store" / layout.DATA_CARD_MD).read_text()
    assert md.startswith("# Data card")
    assert "| reports | xray | PhysioNet DUA | forbidden | x1 | 4 | 2 | 0 | 0 | 0 | 2 | 2 | native 2 | yes |" in md
    assert "| src_b | ct | (none given) | unknown | cap 1 | 3 | 0 | 0 | 0 | 2 | 1 | 1 | llm 1 | yes |" in md
    assert "| src_a | xray | curation | near_duplicate | 1 |" in md
    assert "| src_b | ct | export | mixture_cap | 2 |" in md
    meta = result.asset_materializations_for_node("data_card")[0].metadata
    assert "| src_a | xray | CC-BY-4.0 | allowed | x2 | 7 | 1 | 1 | 1 | 0 | 4 | 8 | llm 16, template 8 | yes |" \
        in meta["data_card"].value
    assert (meta["read"].value, meta["exported_pairs"].value, meta["samples"].value) == (14, 7, 11)
    check, = [c for c in result.get_asset_check_evaluations() if c.asset_key.to_user_string() == "data_card"]
    assert check.passed
    shards_meta = result.asset_materializations_for_node("webdataset_shards")[0].metadata
    assert "| src_b | 1.000 | 1 | 3 | 1 | 1 | mixture_cap 2 |" in shards_meta["mixture"].value


def test_caption_origins_count_each_written_sample_by_its_captions():
    written = Counter({("cls", "xray", "normal", "llm"): 3, ("cls", "xray", "effusion", "llm"): 1,
                       ("txt", "xray", None, "cleaned"): 4, ("txt", "xray", None, None): 1})
    sets = {("cls", "normal"): ["a", "b"], ("cls", "effusion"): ["c"]}
    origin_of = {("cls", "normal", "a"): "llm", ("cls", "normal", "b"): "template", ("cls", "effusion", "c"): "llm"}
    origins = caption_origins(written, {"cls": "classification", "txt": "image_text"}, sets, origin_of)
    # an image-text sample by its own text's origin (a manifest without one: native)
    assert origins == {("cls", "xray"): Counter(llm=4, template=3), ("txt", "xray"): Counter(cleaned=4, native=1)}


def test_a_pair_lost_between_stages_unbalances_the_card(tmp_path):
    _, storage = _materialize(tmp_path)
    # Drop the export's log: the two pairs the cap dropped are then accounted for nowhere.
    (tmp_path / "store" / layout.SHARDS / "export_log.parquet").unlink()
    result = dg.materialize([data_card], resources={
        "storage": storage, "catalog": SourceCatalogResource(path=str(tmp_path / "catalog.yaml"))})
    check, = result.get_asset_check_evaluations()
    assert not check.passed and check.metadata["unbalanced"].value == ["src_b/ct"]
