"""The storage resource: the root every asset writes under, a local folder or an fsspec URL."""

from __future__ import annotations

import os

import dagster as dg
import fsspec


class StorageResource(dg.ConfigurableResource):
    """The storage root every asset writes under: a local folder or `s3://bucket/prefix`."""

    root: str = "data"

    def location(self, *parts: str) -> str:
        """A path under the root (absolute for a local root), nothing made: for reading."""
        if "://" in self.root:
            return "/".join([self.root.rstrip("/"), *parts])
        return os.path.abspath(os.path.join(self.root, *parts))

    def path(self, *parts: str) -> str:
        """A path under the root; for a local root, absolute and with its parent folder made."""
        full = self.location(*parts)
        if "://" not in self.root:
            os.makedirs(os.path.dirname(full), exist_ok=True)
        return full

    def dir(self, *parts: str) -> str:
        """A folder under the root, made if local."""
        full = self.path(*parts)
        fs, fs_path = fsspec.core.url_to_fs(full)
        fs.makedirs(fs_path, exist_ok=True)
        return full
