"""Resources: where files go, which caption LLM runs, how training runs out of process."""

from __future__ import annotations

import os
from typing import Literal

import dagster as dg
import fsspec

from models.captioning.backends import BACKENDS, CaptionBackend


class StorageResource(dg.ConfigurableResource):
    """The storage root every asset writes under: a local folder or `s3://bucket/prefix`."""

    root: str = "data"

    def path(self, *parts: str) -> str:
        """A path under the root; for a local root, absolute and with its parent folder made."""
        if "://" in self.root:
            return "/".join([self.root.rstrip("/"), *parts])
        full = os.path.abspath(os.path.join(self.root, *parts))
        os.makedirs(os.path.dirname(full), exist_ok=True)
        return full

    def dir(self, *parts: str) -> str:
        """A folder under the root, made if local."""
        full = self.path(*parts)
        fs, fs_path = fsspec.core.url_to_fs(full)
        fs.makedirs(fs_path, exist_ok=True)
        return full


class CaptionBackendResource(dg.ConfigurableResource):
    """The LLM that writes class captions, chosen by name (see models/captioning)."""

    backend: Literal["transformers"] = "transformers"
    # A local model directory or file; empty means the backend's default (SmolLM2 on CPU).
    model_path: str = ""
    batch_size: int = 16

    def build(self) -> CaptionBackend:
        backend_cls = BACKENDS[self.backend]
        kwargs = {"batch_size": self.batch_size}
        if self.model_path:
            kwargs["model_path"] = self.model_path
        return backend_cls(**kwargs)
