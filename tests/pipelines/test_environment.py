"""The environment is read once: `local` defaults to the demo, `prod` defaults to nothing and keeps
its settings and secrets as environment variables resolved in the run's process."""

import dagster as dg
import pytest

from assets.captions.resource import CaptionBackendResource
from assets.shared.storage import StorageResource
from pipelines.definitions import build_definitions
from pipelines.environment import DEFAULT_CATALOG, PROD_REQUIRED, load_environment

PROD = {"MEDPAIRS_ENV": "prod", "MEDPAIRS_STORAGE_ROOT": "s3://bucket/medpairs",
        "MEDPAIRS_CATALOG": "s3://bucket/medpairs/catalog.yaml", "MEDPAIRS_LLM_URL": "http://vllm:8000",
        "MEDPAIRS_LLM_MODEL": "qwen-7b", "MEDPAIRS_LLM_API_KEY": "secret-token"}


def test_local_is_the_demo_unless_told_otherwise():
    env = load_environment({})
    assert env.name == "local" and env.training_cron is None
    assert env.resources["storage"].root == "data" and env.resources["catalog"].path == DEFAULT_CATALOG
    assert env.resources["caption_llm"].backend == "transformers"
    env = load_environment({"MEDPAIRS_STORAGE_ROOT": "/mnt/x", "MEDPAIRS_TRAINING_CRON": "0 3 * * 0"})
    assert env.resources["storage"].root == "/mnt/x" and env.training_cron == "0 3 * * 0"
    # The model's converted weights are kept beside local data, not under an object store's root.
    assert env.resources["caption_llm"].transformers.cache_dir == "/mnt/x/models"
    assert load_environment({"MEDPAIRS_STORAGE_ROOT": "s3://b/p"}).resources["caption_llm"].transformers.cache_dir == ""


def test_the_catalog_sensor_looks_as_often_as_told():
    assert load_environment({}).catalog_poll_s == 60
    assert load_environment({"MEDPAIRS_CATALOG_POLL_S": "5"}).catalog_poll_s == 5
    with pytest.raises(ValueError, match="MEDPAIRS_CATALOG_POLL_S must be a whole number"):
        load_environment({"MEDPAIRS_CATALOG_POLL_S": "0.5"})
    sensor = build_definitions(load_environment({}).resources, catalog_poll_s=5).get_sensor_def("source_catalog_sensor")
    assert sensor.minimum_interval_seconds == 5


def test_prod_refuses_to_load_without_its_settings():
    with pytest.raises(ValueError, match="MEDPAIRS_LLM_URL, MEDPAIRS_LLM_MODEL"):
        load_environment({k: v for k, v in PROD.items() if k not in ("MEDPAIRS_LLM_URL", "MEDPAIRS_LLM_MODEL")})
    with pytest.raises(ValueError, match="local, prod"):
        load_environment({"MEDPAIRS_ENV": "ci"})
    assert set(PROD_REQUIRED) < set(PROD)


def test_prod_resolves_settings_in_the_run_and_never_holds_the_secret(monkeypatch):
    env = load_environment(PROD)
    assert env.name == "prod" and env.resources["caption_llm"].backend == "http"
    # The definitions hold the variables' names, not their values.
    assert "secret-token" not in repr(env.resources) and "s3://bucket" not in repr(env.resources["storage"])
    seen = {}

    @dg.asset
    def probe(storage: StorageResource, caption_llm: CaptionBackendResource) -> None:
        seen.update(root=storage.root, model=caption_llm.caption_model_id(), key=caption_llm.http.api_key,
                    url=caption_llm.http.base_url)

    for name, value in PROD.items():
        monkeypatch.setenv(name, value)
    assert dg.materialize([probe], resources={k: env.resources[k] for k in ("storage", "caption_llm")}).success
    assert seen == {"root": "s3://bucket/medpairs", "model": "qwen-7b", "key": "secret-token",
                    "url": "http://vllm:8000"}
