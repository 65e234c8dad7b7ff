"""The source catalog resource: the YAML file listing the datasets to ingest."""

from __future__ import annotations

import dagster as dg

from assets.sources.catalog import SourceSpec
from assets.sources.catalog_yaml import load_catalog


class SourceCatalogResource(dg.ConfigurableResource):
    """The source catalog: a YAML file (local path or fsspec URL) listing the datasets to ingest."""

    path: str

    def sources(self) -> list[SourceSpec]:
        """Every source of the catalog (raises CatalogError listing each problem)."""
        return load_catalog(self.path)

    def source(self, name: str) -> SourceSpec:
        for spec in self.sources():
            if spec.name == name:
                return spec
        raise KeyError(f"source {name!r} is not in the catalog {self.path}")
