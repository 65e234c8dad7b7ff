"""Structured output for caption requests: the JSON schema a constrained decoder follows, and
the unwrapping of its JSON back into plain text, so every backend still returns one string.

Engines that support JSON-schema decoding (vLLM's structured outputs, an OpenAI-compatible
`response_format`) then cannot answer with chatter around the caption; what the caption says is
still validated by assets/captions/validate.py.
"""

from __future__ import annotations

import json
import re

CAPTION_SCHEMA: dict = {
    "type": "object",
    "properties": {"caption": {"type": "string", "minLength": 1, "maxLength": 400}},
    "required": ["caption"],
    "additionalProperties": False,
}
# Tokens the JSON wrapper adds around the text ({"caption": "..."}), added to the length limit.
JSON_OVERHEAD_TOKENS = 8

_PARTIAL = re.compile(r'^\s*\{\s*"caption"\s*:\s*"((?:[^"\\]|\\.)*)', re.DOTALL)


def without_keywords(schema: dict, keywords: tuple[str, ...] | list[str]) -> dict:
    """`schema` with the given keywords (e.g. minLength, maxLength) removed at every level, for a
    decoder that refuses them; the caption's length is still checked by validation."""
    if isinstance(schema, dict):
        return {k: without_keywords(v, keywords) for k, v in schema.items() if k not in keywords}
    if isinstance(schema, list):
        return [without_keywords(v, keywords) for v in schema]
    return schema


def response_format(schema: dict = CAPTION_SCHEMA, name: str = "caption") -> dict:
    """The OpenAI `response_format` field asking for JSON that follows `schema`."""
    return {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": True}}


def unwrap(text: str) -> str:
    """The caption inside a `{"caption": ...}` answer. A reply cut off by the length limit keeps
    what the string held so far; text that is not such JSON comes back as it is (and then fails
    validation as meta-text)."""
    try:
        value = json.loads(text)
    except ValueError:
        match = _PARTIAL.match(text)
        if not match:
            return text
        try:
            return json.loads('"' + match.group(1).rstrip("\\") + '"')
        except ValueError:
            return match.group(1)
    if isinstance(value, dict) and isinstance(value.get("caption"), str):
        return value["caption"]
    return text


def request_seed(seed: int, index: int) -> int:
    """A seed per request of a batch (engines that seed each request would otherwise draw the
    same tokens for two identical prompts)."""
    return (seed * 1_000_003 + index) % 2**31
