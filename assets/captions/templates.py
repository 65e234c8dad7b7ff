"""Fixed caption templates: the fallback when the LLM leaves a class short of valid captions.

BiomedCLIP-style sentences ("this is an image of {}") with the modality's noun, the class name or
a synonym, and the description; a normal study ("no finding") has its own. Captions made from
them are marked origin="template".
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

NORMAL_TEMPLATES: tuple[str, ...] = (
    "{Noun} with no abnormal findings.",
    "A normal {bare} with no abnormality.",
    "{Noun} within normal limits.",
    "Unremarkable {bare}, a normal study.",
    "This is {noun} of a normal study.",
    "No abnormality is seen on this {bare}.",
    "{Noun} with normal appearances and no acute findings.",
    "{Description}: {noun} within normal limits.",
    "{Noun} showing a normal study without abnormality.",
    "Findings on this {bare} are normal.",
)


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def template_captions(modality: str, cls: ClassInfo, *, normal: bool = False) -> Iterator[str]:
    """Template captions for `cls`, cycling through the class name and its synonyms; normal=True
    for a normal study ("no finding")."""
    noun = MODALITY_NOUNS[modality]
    bare = noun.split(" ", 1)[1]
    description = cls.description.strip().rstrip(".") or f"{noun} of {cls.name}"
    terms = cls.terms
    for i, template in enumerate(NORMAL_TEMPLATES if normal else TEMPLATES):
        term = cls.name if i % 2 == 0 else terms[(i // 2) % len(terms)]
        yield template.format(
            noun=noun, Noun=_cap(noun), bare=bare, term=term, Term=_cap(term),
            description=description[:1].lower() + description[1:], Description=_cap(description),
        )
