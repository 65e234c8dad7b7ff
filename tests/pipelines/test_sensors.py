"""The source catalog sensor: partitions follow the catalog; new or changed sources are ingested."""

from __future__ import annotations

import json

import dagster as dg
import pytest

from assets.sources.resource import SourceCatalogResource
from pipelines.jobs import ingest_job
from pipelines.sensors import make_source_catalog_sensor

ENTRY = """\
  - name: {name}
    modality: xray
    format: imagefolder
    location: {name}
    classes: [normal, {second}]
"""


def _write_catalog(path, entries: list[tuple[str, str]]) -> None:
    path.write_text("sources:\n" + "".join(ENTRY.format(name=n, second=s) for n, s in entries))


@pytest.fixture
def instance():
    with dg.instance_for_test() as instance:
        yield instance


def _tick(instance, catalog_path, cursor=None) -> dg.SensorResult | dg.SkipReason:
    sensor = make_source_catalog_sensor(ingest_job)
    context = dg.build_sensor_context(instance=instance, cursor=cursor,
                                      resources={"catalog": SourceCatalogResource(path=str(catalog_path))})
    result = sensor(context)
    if isinstance(result, dg.SensorResult):  # apply the partition requests as the daemon would
        for request in result.dynamic_partitions_requests or []:
            if isinstance(request, dg.AddDynamicPartitionsRequest):
                instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
            else:
                for key in request.partition_keys:
                    instance.delete_dynamic_partition(request.partitions_def_name, key)
    return result


def test_first_tick_adds_a_partition_and_an_ingest_run_per_source(instance, tmp_path):
    catalog = tmp_path / "catalog.yaml"
    _write_catalog(catalog, [("cxr_a", "pneumonia"), ("cxr_b", "pneumonia")])
    result = _tick(instance, catalog)
    assert sorted(r.partition_key for r in result.run_requests) == ["cxr_a", "cxr_b"]
    assert sorted(instance.get_dynamic_partitions("sources")) == ["cxr_a", "cxr_b"]
    assert set(json.loads(result.cursor)) == {"cxr_a", "cxr_b"}


def test_unchanged_catalog_requests_nothing_and_a_changed_entry_reingests_only_itself(instance, tmp_path):
    catalog = tmp_path / "catalog.yaml"
    _write_catalog(catalog, [("cxr_a", "pneumonia"), ("cxr_b", "pneumonia")])
    first = _tick(instance, catalog)
    again = _tick(instance, catalog, cursor=first.cursor)
    assert again.run_requests == []
    _write_catalog(catalog, [("cxr_a", "pneumonia"), ("cxr_b", "cardiomegaly")])
    changed = _tick(instance, catalog, cursor=first.cursor)
    assert [r.partition_key for r in changed.run_requests] == ["cxr_b"]
    assert changed.run_requests[0].run_key != first.run_requests[1].run_key


def test_removed_entry_loses_its_partition(instance, tmp_path):
    catalog = tmp_path / "catalog.yaml"
    _write_catalog(catalog, [("cxr_a", "pneumonia"), ("cxr_b", "pneumonia")])
    first = _tick(instance, catalog)
    _write_catalog(catalog, [("cxr_a", "pneumonia")])
    result = _tick(instance, catalog, cursor=first.cursor)
    assert result.run_requests == []
    assert instance.get_dynamic_partitions("sources") == ["cxr_a"]


def test_invalid_catalog_skips_with_the_reason(instance, tmp_path):
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text("sources:\n  - name: bad\n    format: nosuchformat\n")
    result = _tick(instance, catalog)
    assert isinstance(result, dg.SkipReason)
    assert "nosuchformat" in result.skip_message


def test_a_changed_file_reingests_only_its_source(instance, tmp_path):
    for name in ("cxr_a", "cxr_b"):
        (tmp_path / name / "normal").mkdir(parents=True)
        (tmp_path / name / "normal" / "1.png").write_bytes(b"first")
    catalog = tmp_path / "catalog.yaml"
    _write_catalog(catalog, [("cxr_a", "pneumonia"), ("cxr_b", "pneumonia")])
    first = _tick(instance, catalog)
    assert len(first.run_requests) == 2
    assert _tick(instance, catalog, cursor=first.cursor).run_requests == []
    (tmp_path / "cxr_b" / "normal" / "2.png").write_bytes(b"a new image")
    changed = _tick(instance, catalog, cursor=first.cursor)
    assert [r.partition_key for r in changed.run_requests] == ["cxr_b"]


def test_synthetic_sources_wait_for_synthetic_source(instance, tmp_path):
    """Until synthetic_source has materialized, the synthetic partitions' inputs do not exist: the
    sensor requests the run that draws them, and their ingests on the first tick after it."""
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text("sources:\n  - {name: synthetic, format: synthetic}\n")
    first = _tick(instance, catalog)
    assert [(r.job_name, r.partition_key) for r in first.run_requests] == [("sources_job", None)]
    assert len(instance.get_dynamic_partitions("sources")) == 6
    assert json.loads(first.cursor) == {}
    instance.report_runless_asset_event(dg.AssetMaterialization("synthetic_source"))
    second = _tick(instance, catalog, cursor=first.cursor)
    assert sorted(r.partition_key for r in second.run_requests) == sorted(instance.get_dynamic_partitions("sources"))
    assert {r.job_name for r in second.run_requests} == {"ingest_job"}
