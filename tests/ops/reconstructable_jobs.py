"""Jobs for `dg.reconstructable`, which re-imports its target by module name in every step process:
so this module is imported as `tests.ops.reconstructable_jobs` (importable from the project root,
the working directory of those processes), never through pytest's per-folder path."""

from __future__ import annotations

import dagster as dg

from pipelines.definitions import build_definitions
from pipelines.environment import load_environment


def ingest_job_from_environment() -> dg.JobDefinition:
    """ingest_job with the resources the environment names (MEDPAIRS_CATALOG, MEDPAIRS_STORAGE_ROOT),
    read when called, so a test's environment reaches every step process."""
    return build_definitions(load_environment().resources).resolve_job_def("ingest_job")
