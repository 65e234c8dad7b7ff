"""The shape of a source in the catalog: what a dataset is, which classes it has, what they mean."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Modality = Literal["xray", "ct", "mri", "ultrasound", "pathology", "fundus"]
SourceKind = Literal["classification", "image_text"]


@dataclass(frozen=True)
class ClassInfo:
    """One class of a classification source, with the words an LLM and a validator may use for it."""

    name: str
    description: str = ""
    synonyms: tuple[str, ...] = ()

    @property
    def terms(self) -> tuple[str, ...]:
        """Every phrase that counts as naming this class (the name first)."""
        return (self.name, *self.synonyms)


@dataclass(frozen=True)
class SourceSpec:
    """One dataset MedPairs ingests."""

    name: str
    modality: Modality
    kind: SourceKind = "classification"
    classes: tuple[ClassInfo, ...] = field(default_factory=tuple)
    location: str = ""
    license: str = ""
    synthetic: bool = False

    def class_names(self) -> list[str]:
        return [c.name for c in self.classes]

    def class_info(self, name: str) -> ClassInfo:
        for c in self.classes:
            if c.name == name:
                return c
        raise KeyError(f"source {self.name!r} has no class {name!r}")
