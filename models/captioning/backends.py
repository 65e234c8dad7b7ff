"""Caption LLM backends: one protocol, implementations chosen by a literal name.

A backend turns chat conversations into completions and knows nothing of classes, prompts or
validation (those live in assets/captions). Each implementation is a class in its own module;
BACKENDS maps the name used in config to that class:
- "transformers": a small model on CPU (SmolLM2 by default), the default where there is no GPU;
- "vllm": vLLM's offline engine, where vLLM imports (its own environment, .venv-vllm; imported only
  when built); class_captions runs vLLM's server out of process instead (assets/captions/vllm_pipes.py);
- "http": an OpenAI-compatible endpoint, e.g. `vllm serve` elsewhere in a cluster.
Each class takes its options as keywords (an unknown one is a TypeError) and derives its model id
from them (`model_id_for`), so a caller can key a cache by model without loading it.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any, Protocol, runtime_checkable

from models.captioning.http_backend import HTTPBackend
from models.captioning.transformers_backend import (
    TransformersBackend,
    default_smollm2_path,
)
from models.captioning.vllm_backend import VLLMBackend

Message = dict[str, str]  # {"role": "system" | "user" | "assistant", "content": ...}


@runtime_checkable
class CaptionBackend(Protocol):
    """Chat messages in, one completion per conversation out, in the same order.

    Implementations may also count `tokens_generated` (cumulative, an int) for throughput stats.
    `on_done`, when given, is told how many conversations have just completed, as they complete
    (for progress; a backend that returns all at once tells it once).
    """

    model_id: str

    def generate(
        self, conversations: list[list[Message]], *, max_new_tokens: int, temperature: float,
        top_p: float, seed: int, on_done: Callable[[int], None] | None = None,
    ) -> list[str]: ...


BACKENDS: dict[str, type] = {
    "transformers": TransformersBackend,
    "vllm": VLLMBackend,
    "http": HTTPBackend,
}


def given_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """`options` without its empty values ("" or None), which leave the backend's defaults."""
    return {k: v for k, v in options.items() if v not in ("", None)}


def backend_model_id(name: str, options: Mapping[str, Any]) -> str:
    """The model id backend `name` would record with `options`, without building it."""
    return BACKENDS[name].model_id_for(**given_options(options))


def backend_generation(name: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """What besides the model decides the text backend `name` writes with `options`: the backend
    itself (its sampler, chat template handling) and whether replies are constrained to JSON (the
    backend's own default where `options` leave it unset)."""
    structured = given_options(options).get("structured_output")
    if structured is None:
        param = inspect.signature(BACKENDS[name]).parameters.get("structured_output")
        structured = bool(param.default) if param is not None else False
    return {"backend": name, "structured_output": structured}


def build_backend(name: str, options: Mapping[str, Any]) -> CaptionBackend:
    """Backend `name` built from `options` (an option it does not take is a TypeError)."""
    return BACKENDS[name](**given_options(options))


__all__ = ["BACKENDS", "CaptionBackend", "HTTPBackend", "Message", "TransformersBackend", "VLLMBackend",
           "backend_generation", "backend_model_id", "build_backend", "given_options", "default_smollm2_path"]
