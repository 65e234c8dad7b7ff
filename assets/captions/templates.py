"""Fixed caption templates: the fallback when the LLM leaves a class short of valid captions.

BiomedCLIP-style sentences ("this is an image of {}") with the modality's noun, the class name or
a synonym, and the description. Captions made from them are marked origin="template".
"""

from __future__ import annotations

from collections.abc import Iterator

from assets.captions.prompts import MODALITY_NOUNS
from assets.sources.catalog import ClassInfo

TEMPLATES: tuple[str, ...] = (
    "{Noun} showing {term}.",
    "This is {noun} of {term}.",
    "{Noun} consistent with {term}.",
    "{Term} seen on {noun}.",
    "{Description}, in keeping with {term}.",
    "{Noun} demonstrating findings of {term}.",
    "Findings on this {bare} are typical of {term}.",
    "{Noun} with appearances of {term}.",
    "An example of {term} on {noun}.",
    "{Noun}: {description}, {term}.",
)


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def template_captions(modality: str, cls: ClassInfo) -> Iterator[str]:
    """Template captions for `cls`, cycling through the class name and its synonyms."""
    noun = MODALITY_NOUNS[modality]
    bare = noun.split(" ", 1)[1]
    description = cls.description.strip().rstrip(".") or f"{noun} of {cls.name}"
    terms = cls.terms
    for i, template in enumerate(TEMPLATES):
        term = cls.name if i % 2 == 0 else terms[(i // 2) % len(terms)]
        yield template.format(
            noun=noun, Noun=_cap(noun), bare=bare, term=term, Term=_cap(term),
            description=description[:1].lower() + description[1:], Description=_cap(description),
        )
