"""What re-runs by itself, in one place (declarative automation; the daemon's sensors apply it).

- raw_samples: per source partition, by source_catalog_sensor when a catalog entry or its files change;
- class_captions, native_text_captions, curated_pairs, curation_log, webdataset_shards, data_card: eagerly,
  as soon as what they read is updated (captions come from the cache for unchanged labels and reports, so
  little is recomputed);
- clip_model, benchmark_report: on request (the UI, `medpairs_job`), or on a cron schedule set by
  MEDPAIRS_TRAINING_CRON (e.g. "0 3 * * 0", read with the rest of the environment in
  pipelines/environment.py), and then only if their inputs changed since the last tick: never
  re-trained for nothing;
- shuffled_control: on request only (`shuffled_control_job`); the report's schedule does not wait
  for it.
"""

from __future__ import annotations

import dagster as dg

EAGER = ("class_captions", "native_text_captions", "curated_pairs", "curation_log", "webdataset_shards", "data_card")
TRAINING = ("clip_model", "benchmark_report")
ON_REQUEST = ("shuffled_control",)


def with_automation(assets: list, cron: str | None) -> list:
    """`assets` with the automation conditions above (observed source assets pass through)."""
    conditions = {name: dg.AutomationCondition.eager() for name in EAGER}
    if cron:
        on_request = dg.AssetSelection.assets(*ON_REQUEST)
        conditions.update({name: dg.AutomationCondition.on_cron(cron).ignore(on_request) for name in TRAINING})

    def apply(spec: dg.AssetSpec) -> dg.AssetSpec:
        condition = conditions.get(spec.key.to_user_string())
        return spec.replace_attributes(automation_condition=condition) if condition else spec

    return [dg.map_asset_specs(apply, [a])[0] if isinstance(a, dg.AssetsDefinition) else a for a in assets]


automation_sensor = dg.AutomationConditionSensorDefinition(
    "medpairs_automation_sensor", target=dg.AssetSelection.all(), default_status=dg.DefaultSensorStatus.STOPPED,
    description="Applies the assets' automation conditions (see pipelines/automation.py).",
)
