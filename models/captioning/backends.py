"""Caption LLM backends: one protocol, implementations chosen by a literal name.

A backend turns chat conversations into completions and knows nothing of classes, prompts or
validation (those live in assets/captions). Each implementation is a class in its own module;
BACKENDS maps the name used in config to that class.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from models.captioning.transformers_backend import TransformersBackend, default_smollm2_path

Message = dict[str, str]  # {"role": "system" | "user" | "assistant", "content": ...}


@runtime_checkable
class CaptionBackend(Protocol):
    """Chat messages in, one completion per conversation out, in the same order.

    Implementations may also count `tokens_generated` (cumulative, an int) for throughput stats.
    """

    model_id: str

    def generate(
        self, conversations: list[list[Message]], *, max_new_tokens: int, temperature: float,
        top_p: float, seed: int,
    ) -> list[str]: ...


BACKENDS: dict[str, type] = {
    "transformers": TransformersBackend,
}

__all__ = ["BACKENDS", "CaptionBackend", "Message", "TransformersBackend", "default_smollm2_path"]
