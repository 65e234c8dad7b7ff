"""The environment, chosen once, from `MEDPAIRS_ENV`: every setting the code location reads from the
process environment is read here, when the definitions load.

- `local` (the default): a workstation or CI runner. Files under `MEDPAIRS_STORAGE_ROOT` (default
  ./data), the catalog `MEDPAIRS_CATALOG` (default pipelines/catalog.yaml, the embedded synthetic
  sources), captions from SmolLM2 on the CPU (the `transformers` backend), its de-quantized weights
  kept under the storage root's `models/` when that is a local folder, so later runs skip converting it.
- `prod`: a deployment (deploy/k8s). Nothing defaults to the demo: the storage root and catalog must
  be set, and captions come from an OpenAI-compatible server (`vllm serve`) at `MEDPAIRS_LLM_URL`
  serving `MEDPAIRS_LLM_MODEL`, with the bearer token `MEDPAIRS_LLM_API_KEY`. These are `dg.EnvVar`s:
  resolved in each run's process and shown by name, never by value, in the UI and the run config.

In both, `MEDPAIRS_TRAINING_CRON` (e.g. "0 3 * * 0") puts training and the report on a schedule
(pipelines/automation.py); unset, they run on request only. `MEDPAIRS_CATALOG_POLL_S` (default 60) is
how many seconds the source catalog sensor waits between looks at the catalog and its files.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import dagster as dg

from assets.captions.resource import (
    CaptionBackendResource,
    HTTPOptions,
    TransformersOptions,
)
from assets.shared import layout
from assets.shared.storage import StorageResource
from assets.sources.resource import SourceCatalogResource

DEFAULT_CATALOG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "catalog.yaml")
ENVIRONMENTS = ("local", "prod")
# What `prod` requires to be set when the definitions load (a missing one fails there, not mid-run).
PROD_REQUIRED = ("MEDPAIRS_STORAGE_ROOT", "MEDPAIRS_CATALOG", "MEDPAIRS_LLM_URL", "MEDPAIRS_LLM_MODEL")


@dataclass(frozen=True)
class Environment:
    name: Literal["local", "prod"]
    resources: dict
    training_cron: str | None
    catalog_poll_s: int = 60


def catalog_and_storage_root(environ: Mapping[str, str] = os.environ) -> tuple[str, str]:
    """(catalog, storage root) that `environ` names, else `local`'s defaults (`prod` requires both)."""
    return environ.get("MEDPAIRS_CATALOG") or DEFAULT_CATALOG, environ.get("MEDPAIRS_STORAGE_ROOT") or "data"


def load_environment(environ: Mapping[str, str] = os.environ) -> Environment:
    """The environment `environ` names (see the module docstring); raises ValueError naming what is wrong."""
    name = environ.get("MEDPAIRS_ENV", "local")
    if name not in ENVIRONMENTS:
        raise ValueError(f"MEDPAIRS_ENV must be one of {', '.join(ENVIRONMENTS)}, not {name!r}")
    if name == "prod":
        missing = [var for var in PROD_REQUIRED if not environ.get(var)]
        if missing:
            raise ValueError(f"MEDPAIRS_ENV=prod needs {', '.join(missing)} set")
        resources = {
            "storage": StorageResource(root=dg.EnvVar("MEDPAIRS_STORAGE_ROOT")),
            "catalog": SourceCatalogResource(path=dg.EnvVar("MEDPAIRS_CATALOG")),
            "caption_llm": CaptionBackendResource(backend="http", http=HTTPOptions(
                base_url=dg.EnvVar("MEDPAIRS_LLM_URL"), model_name=dg.EnvVar("MEDPAIRS_LLM_MODEL"),
                api_key=dg.EnvVar("MEDPAIRS_LLM_API_KEY") if environ.get("MEDPAIRS_LLM_API_KEY") else "")),
        }
    else:
        catalog, root = catalog_and_storage_root(environ)
        resources = {
            "storage": StorageResource(root=root),
            "catalog": SourceCatalogResource(path=catalog),
            "caption_llm": CaptionBackendResource(transformers=TransformersOptions(
                cache_dir="" if "://" in root else os.path.join(os.path.abspath(root), layout.MODEL_CACHE))),
        }
    resources["pipes_subprocess_client"] = dg.PipesSubprocessClient()
    poll = environ.get("MEDPAIRS_CATALOG_POLL_S") or "60"
    if not poll.isdigit() or int(poll) < 1:
        raise ValueError(f"MEDPAIRS_CATALOG_POLL_S must be a whole number of seconds (1 or more), not {poll!r}")
    return Environment(name, resources, environ.get("MEDPAIRS_TRAINING_CRON") or None, int(poll))
