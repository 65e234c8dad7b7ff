"""The curation multi-asset through dg.materialize: config, metadata and its blocking checks."""

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq
from curation_helpers import flip, phash_of, sample_row, write_text_captions

from assets.curation import defs as curation_defs
from assets.curation.curate import curate
from assets.shared import layout
from assets.shared.storage import StorageResource
from assets.sources.resource import SourceCatalogResource

CATALOG = "sources:\n" + "".join(
    f"  - {{name: {name}, modality: xray, format: imagefolder, location: {name}}}\n"
    for name in ("src_a", "src_b", "never_ingested"))


def _materialize(tmp_path, rows, raise_on_error=True, text_captions=True, **config):
    """Curation of `rows` as ingest publishes them (one part per source), with their native text
    captions (unless not `text_captions`), under a catalog that also names a source never ingested."""
    storage = StorageResource(root=str(tmp_path / "store"))
    parts = []
    for source in sorted({r["source"] for r in rows}):
        parts.append(storage.path(layout.RAW_SAMPLES, source, "part-00000.parquet"))
        pq.write_table(pa.Table.from_pylist([r for r in rows if r["source"] == source]), parts[-1])
        (tmp_path / "store" / layout.RAW_SAMPLES / source / layout.PARTS_MANIFEST).write_text(
            '{"parts": ["part-00000.parquet"]}')
    if text_captions:
        write_text_captions(parts, storage.path(layout.NATIVE_TEXT_CAPTIONS))
    (tmp_path / "catalog.yaml").write_text(CATALOG)
    pq.write_table(pa.Table.from_pylist([{"source": "src_a", "label": "normal", "status": "valid", "origin": "llm",
                                          "caption": "A normal chest X-ray."}]), storage.path(layout.CLASS_CAPTIONS))
    catalog = SourceCatalogResource(path=str(tmp_path / "catalog.yaml"))
    return dg.materialize([curation_defs.curation], resources={"storage": storage, "catalog": catalog},
                          run_config={"ops": {"curation": {"config": config}}} if config else None,
                          raise_on_error=raise_on_error)


def test_materializes_with_metadata_and_passing_checks(tmp_path):
    base = phash_of("t")
    rows = [sample_row("t1", "pt", phash=base, split="test", source="src_b"),
            sample_row("a1", "pa", phash=flip(base, 1, 2)),
            sample_row("a2", "pb", phash=flip(base, *range(20, 40))),
            sample_row("a3", "pc", phash=flip(base, *range(20, 40), 50, 51), size=32)]
    result = _materialize(tmp_path, rows)
    assert result.success
    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert checks == {"counts_balance": True, "no_evaluation_image_in_training": True,
                      "no_evaluation_near_duplicate_in_training": True, "no_evaluation_patient_in_training": True,
                      "unique_training_pixels": True}
    pairs_meta = result.asset_materializations_for_node("curation")[0].metadata
    assert pairs_meta["kept"].value == 2
    assert "| src_b | 0 | 1 |" in pairs_meta["decontamination"].value
    assert "near_duplicate" in pairs_meta["near_duplicate_examples"].value
    assert pairs_meta["near_duplicate_search"].value["radius"] == 4
    log_meta = result.asset_materializations_for_node("curation")[1].metadata
    assert log_meta["dropped_by_reason"].value == {"evaluation_near_duplicate": 1, "near_duplicate": 1}
    assert "| src_a | xray | 3 | 1 | 1 | 1 |" in log_meta["summary"].value
    assert pq.read_table(StorageResource(root=str(tmp_path / "store")).path(layout.NEAR_DUPLICATE_CLUSTERS)
                         ).num_rows == 4


def test_thresholds_come_from_run_config(tmp_path):
    rows = [sample_row("a1", "pa"), sample_row("a2", "pb", size=30)]
    result = _materialize(tmp_path, rows, min_side=40, near_duplicate_radius=6)
    log_meta = result.asset_materializations_for_node("curation")[1].metadata
    assert log_meta["dropped_by_reason"].value == {"too_small": 1}
    assert result.asset_materializations_for_node("curation")[0].metadata["params"].value["near_duplicate_radius"] == 6


def test_counts_balance_fails_when_curation_loses_a_row(tmp_path, monkeypatch):
    def losing_curate(raw_parts, captions, pairs_path, *args, **kwargs):
        stats = curate(raw_parts, captions, pairs_path, *args, **kwargs)
        table = pq.read_table(pairs_path)
        pq.write_table(table.slice(1), pairs_path)  # stats still say every sample was kept or logged
        return stats

    monkeypatch.setattr(curation_defs, "curate", losing_curate)
    rows = [sample_row("a1", "pa"), sample_row("a2", "pb"), sample_row("t1", "pt", split="test", source="src_b")]
    result = _materialize(tmp_path, rows, raise_on_error=False)
    assert not result.success  # the check is blocking
    check, = [c for c in result.get_asset_check_evaluations() if c.check_name == "counts_balance"]
    assert not check.passed
    counts = {k: v.value for k, v in check.metadata.items()}
    assert counts == {"raw_rows": 3, "curated_rows": 2, "log_rows": 0, "unaccounted_samples": 1,
                      "unmatched_text_captions": 0, "text_without_caption": 0, "text_drops_not_logged": 0}


def test_curation_waits_for_the_image_text_captions(tmp_path):
    rows = [sample_row("x1", "px", kind="image_text", caption="A chest radiograph with clear lungs.")]
    result = _materialize(tmp_path, rows, raise_on_error=False, text_captions=False)
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert "native_text_captions has not been materialized" in failure.event_specific_data.error.message
