"""Choose the environment once: `MEDPAIRS_ENV` is `local` (default), `ci` or `prod`."""

from __future__ import annotations

import os
from typing import Literal

import dagster as dg

from assets.captions.resource import CaptionBackendResource
from assets.shared.storage import StorageResource
from assets.sources.resource import SourceCatalogResource

DEFAULT_CATALOG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "catalog.yaml")

Environment = Literal["local", "ci", "prod"]


def current_environment() -> Environment:
    env = os.environ.get("MEDPAIRS_ENV", "local")
    if env not in ("local", "ci", "prod"):
        raise ValueError(f"MEDPAIRS_ENV must be local, ci or prod, not {env!r}")
    return env  # type: ignore[return-value]


def resources_for(env: Environment) -> dict:
    """The resources of one environment. Production reads its storage root (e.g. s3://bucket/medpairs)
    from MEDPAIRS_STORAGE_ROOT; local and CI keep files in ./data unless it is set. The source
    catalog is MEDPAIRS_CATALOG, else pipelines/catalog.yaml."""
    root = dg.EnvVar("MEDPAIRS_STORAGE_ROOT") if env == "prod" else os.environ.get("MEDPAIRS_STORAGE_ROOT", "data")
    return {
        "storage": StorageResource(root=root),
        "catalog": SourceCatalogResource(path=os.environ.get("MEDPAIRS_CATALOG", DEFAULT_CATALOG)),
        "caption_llm": CaptionBackendResource(),
        "pipes_subprocess_client": dg.PipesSubprocessClient(),
    }
