"""What gets captions: one target per (source, label), where a label is a class, a multi-label
combination, or "no finding".

Multi-label samples carry their sorted positives joined by " and " ("cardiomegaly and pleural
effusion"), or "no finding" when none is positive (assets/sources/readers/records.py). A
combination's captions must name every finding it holds and no other class of the source; a
"no finding" caption describes a normal study and may name a finding only to deny it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from assets.sources.catalog import ClassInfo, SourceSpec
from assets.sources.readers.records import NO_FINDING

TargetKind = Literal["class", "combination", "no_finding"]

# Terms that name a normal study in any modality (a source's own "no finding" class adds its own).
NO_FINDING_TERMS: tuple[str, ...] = ("normal study", "normal", "unremarkable", "no abnormality",
                                     "no abnormal findings", "within normal limits", "no acute findings")
NO_FINDING_DESCRIPTION = "a normal study with no abnormal finding"


@dataclass(frozen=True)
class CaptionTarget:
    """One label of one source to caption.

    cls: the label as a class (its name is the label rows carry); findings: the classes a caption
    must all name (the class itself, a combination's parts, or the normal-study terms); siblings:
    the classes a caption must not name un-negated (the source's other classes).
    """

    source: SourceSpec
    cls: ClassInfo
    kind: TargetKind
    findings: tuple[ClassInfo, ...]
    siblings: tuple[ClassInfo, ...]

    @property
    def label(self) -> str:
        return self.cls.name

    @property
    def key(self) -> str:
        return f"{self.source.name}/{self.cls.name}"


def class_target(source: SourceSpec, cls: ClassInfo) -> CaptionTarget:
    if cls.name.strip().lower() == NO_FINDING:
        return no_finding_target(source)
    return CaptionTarget(source, cls, "class", (cls,), source.classes)


def no_finding_target(source: SourceSpec) -> CaptionTarget:
    """The normal-study target: its findings are the normal terms, its siblings every class."""
    own = next((c for c in source.classes if c.name.strip().lower() == NO_FINDING), None)
    synonyms = tuple(dict.fromkeys((*(own.synonyms if own else ()), *NO_FINDING_TERMS)))
    cls = ClassInfo(NO_FINDING, (own.description if own and own.description else NO_FINDING_DESCRIPTION), synonyms)
    siblings = tuple(c for c in source.classes if c.name.strip().lower() != NO_FINDING)
    return CaptionTarget(source, cls, "no_finding", (cls,), siblings)


def split_combination(source: SourceSpec, label: str) -> tuple[ClassInfo, ...] | None:
    """The source's classes that `label` joins with " and " (longest class names first, so a
    class whose own name holds " and " stays whole), or None if it is no such combination."""
    names = sorted(source.class_names(), key=len, reverse=True)

    def split(rest: str) -> list[str] | None:
        for name in names:
            if rest == name:
                return [name]
            if rest.startswith(name + " and ") and (tail := split(rest[len(name) + 5:])):
                return [name, *tail]
        return None

    parts = split(label)
    return tuple(source.class_info(n) for n in parts) if parts and len(parts) > 1 else None


def combination_target(source: SourceSpec, label: str, findings: tuple[ClassInfo, ...]) -> CaptionTarget:
    """The target of a combination label: its findings must each be named, the source's other
    classes not."""
    parts = [f.description.strip().rstrip(".") or f.name for f in findings]
    description = "; ".join(p if p[1:2].isupper() else p[:1].lower() + p[1:] for p in parts)  # "CT ..." stays
    cls = ClassInfo(label, description)
    named = {label, *(f.name for f in findings)}
    return CaptionTarget(source, cls, "combination", findings, tuple(c for c in source.classes if c.name not in named))


def label_target(source: SourceSpec, label: str) -> CaptionTarget:
    """The target for a label as samples carry it: a class, a combination, or "no finding"."""
    if label.strip().lower() == NO_FINDING:
        return no_finding_target(source)
    if label in source.class_names():
        cls = source.class_info(label)
        # A bare class (no description, no synonyms: a label found in the data) that joins other
        # classes of the source is a combination; a class the catalog describes stays a class.
        others = dataclasses.replace(source, classes=tuple(c for c in source.classes if c.name != label))
        if not cls.description and not cls.synonyms and (findings := split_combination(others, label)):
            return combination_target(source, label, findings)
        return class_target(source, cls)
    findings = split_combination(source, label)
    if findings is None:
        raise KeyError(f"label {label!r} is neither a class of source {source.name!r} nor a combination of them")
    return combination_target(source, label, findings)


def targets_for_labels(pairs: Iterable[tuple[SourceSpec, str]]) -> list[CaptionTarget]:
    """One target per distinct (source, label) pair, in first-seen order: the labels samples carry
    (e.g. from raw_samples), with each source's catalog entry (its modality the label's samples' own;
    where a source mixes modalities, the classes another modality's samples carry are no siblings). A label that is neither a catalog
    class, nor a combination of classes, nor "no finding" (a source the catalog lists no classes
    for, such as ImageFolder folders) becomes a class of its own; a source's classes, catalog and
    such, are each other's siblings."""
    pairs = list(pairs)
    specs: dict[str, SourceSpec] = {}
    for source, label in sorted(pairs, key=lambda p: p[1].count(" and ")):  # parts before combinations
        spec = specs.setdefault(source.name, source)
        if not _known(spec, label):
            specs[source.name] = dataclasses.replace(spec, classes=(*spec.classes, ClassInfo(label)))
    modality_of = {(source.name, label): source.modality for source, label in pairs}
    seen: dict[tuple[str, str], CaptionTarget] = {}
    for source, label in pairs:
        if (source.name, label) not in seen:
            spec = specs[source.name]  # with the label's own modality, where a source mixes them
            spec = spec if spec.modality == source.modality else dataclasses.replace(spec, modality=source.modality)
            target = label_target(spec, label)
            # A class that only another modality's samples carry is no rival: a CT caption may say "liver"
            # though the source's ultrasound has a class of that name.
            rivals = tuple(c for c in target.siblings
                           if modality_of.get((source.name, c.name), source.modality) == source.modality)
            seen[source.name, label] = target if rivals == target.siblings else dataclasses.replace(target, siblings=rivals)
    return list(seen.values())


def _known(spec: SourceSpec, label: str) -> bool:
    return (label.strip().lower() == NO_FINDING or label in spec.class_names()
            or split_combination(spec, label) is not None)


def targets_for_sources(sources: Iterable[SourceSpec]) -> list[CaptionTarget]:
    """One target per class of every source (what a single-label source needs)."""
    return [class_target(s, c) for s in sources for c in s.classes]
