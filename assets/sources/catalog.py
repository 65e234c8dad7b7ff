"""The shape of a source in the catalog: what a dataset is, which classes it has, what they mean."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Literal

Modality = Literal["xray", "ct", "mri", "ultrasound", "pathology", "fundus"]
SourceKind = Literal["classification", "image_text"]
# clinical: a source that may name patients (hospital exports): no path, folder or file name, no free
# text leaves ingest, ids are keyed hashes, labels come only from the catalog's classes.
# public: a published, already de-identified dataset: paths and descriptions kept as they are.
Privacy = Literal["clinical", "public"]
CLINICAL_BY_DEFAULT = ("dicom", "nifti")
# How an image-text source's native text becomes its caption: as it is (a figure caption, trimmed),
# cleaned as a radiology report (assets/captions/report_text.py: sections, placeholders, headers), or
# cleaned and then condensed by the caption LLM with a fidelity check (assets/captions/condense.py).
TextTreatment = Literal["native", "report", "report_condensed"]
# Whether the license lets a dataset built from the source be shared.
Redistribution = Literal["allowed", "forbidden", "unknown"]


@dataclass(frozen=True)
class SourceMixture:
    """How much of a source's training pairs the export writes (UniMed's per-source upsampling factors).

    weight: each training pair is written `weight` times per pass over the shards: the integer part
    always, plus one more copy when a seeded draw of its id falls under the fractional part (so 1.5
    writes every pair once and about half of them twice; 0.5 keeps about half, the rest dropped as
    `mixture_downsampled`). cap: at most this many pairs, a seeded sample (the rest dropped as
    `mixture_cap`). One or the other; test and val pairs are never touched. It changes the export, not
    ingest, so it is not part of the source's fingerprint.
    """

    weight: float = 1.0
    cap: int | None = None


def default_privacy(fmt: str) -> Privacy:
    """A source's privacy when the catalog does not say: clinical for DICOM and NIfTI exports."""
    return "clinical" if fmt in CLINICAL_BY_DEFAULT else "public"


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
class SplitRule:
    """How a source's samples get their split.

    by="given": the split the data states: a manifest's or Parquet's `column`, ImageFolder /
    DICOM / NIfTI split folders (train/, val/, test/), MedMNIST's array names, a Hugging Face
    file name (train-00000-of-00001.parquet); samples stating none get `default`.
    by="ratio": a seeded hash of each sample's group picks a split with the given `ratios` (the
    group is the sample, or for DICOM its patient and for NIfTI its volume, so frames and slices
    of one never straddle splits). `group_column` (a manifest's column, e.g. a patient id) or
    `group_pattern` (a regex searched in the sample's path within the source, e.g. `patient[0-9]+`;
    its first group if it has one) name the group instead, for the samples that have one.
    Under any rule the group (a reader's patient or volume, or the one the rule names) is kept with
    each sample as a hash, `group_id`: curation drops a training sample whose group has a test
    image (`evaluation_patient`), which matters where the data states the split.
    by="fixed": every sample gets `default`.
    by="lists": `lists` pairs a split with a file (relative to the folder holding the location: beside a
    manifest, or beside an image folder) naming one sample per line, by its id, its path within the source,
    or its file name (NIH ChestX-ray14's train_val_list.txt and test_list.txt); a sample in no list gets
    `default`, or with no default is quarantined as `not_in_split_list`; one in lists of two splits is
    quarantined as `ambiguous_split`.
    """

    by: Literal["given", "ratio", "fixed", "lists"] = "given"
    column: str = "split"
    ratios: tuple[tuple[str, float], ...] = (("train", 0.8), ("test", 0.2))
    seed: int = 0
    default: str = "train"
    group_column: str = ""
    group_pattern: str = ""
    lists: tuple[tuple[str, str], ...] = ()  # (split, list file) pairs of by="lists"


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
    # Which reader turns the files at `location` into samples (a key of readers.READERS).
    format: str = ""
    split: SplitRule = field(default_factory=SplitRule)
    # Reader options (the reader's options dataclass validates them); not hashed.
    options: dict[str, Any] = field(default_factory=dict, hash=False)
    # "clinical" or "public" (see Privacy); empty: default_privacy(format).
    privacy: Privacy | Literal[""] = ""
    # An image-text source's caption treatment (see TextTreatment).
    text: TextTreatment = "native"
    redistribution: Redistribution = "unknown"
    # Where a user gets the data (a URL or a sentence), shown when the source is missing.
    download: str = ""
    # How much of it the training shards hold (see SourceMixture).
    mixture: SourceMixture = field(default_factory=SourceMixture)

    def __post_init__(self) -> None:
        if not self.privacy:
            object.__setattr__(self, "privacy", default_privacy(self.format))

    @property
    def clinical(self) -> bool:
        return self.privacy == "clinical"

    def shown_location(self) -> str:
        """The location as error messages name it: never a clinical source's (a path may name a patient)."""
        return "its location (hidden: a clinical source)" if self.clinical else repr(self.location)

    def missing_location(self) -> str:
        """The error of a location that does not exist (naming it only for a public source)."""
        where = self.shown_location() if self.clinical else f"location {self.location!r}"
        return f"source {self.name!r}: {where} does not exist"

    def class_names(self) -> list[str]:
        return [c.name for c in self.classes]

    def class_info(self, name: str) -> ClassInfo:
        for c in self.classes:
            if c.name == name:
                return c
        raise KeyError(f"source {self.name!r} has no class {name!r}")

    def to_dict(self) -> dict[str, Any]:
        """The spec as plain JSON-ready data (what the catalog snapshot stores)."""
        return json.loads(json.dumps(dataclasses.asdict(self), default=str))

    def fingerprint(self) -> str:
        """sha256 of everything that defines the source (not where to download it, nor its share of the
        export's mixture): a change re-ingests it."""
        defining = {k: v for k, v in self.to_dict().items() if k not in ("download", "mixture")}
        return hashlib.sha256(json.dumps(defining, sort_keys=True).encode()).hexdigest()


def catalog_version(specs: list[SourceSpec]) -> str:
    """sha256 over the fingerprints and mixtures of a catalog's sources, in order: a mixture change is a
    new catalog version (the export reads it) without re-ingesting any source."""
    lines = (f"{spec.fingerprint()} {spec.mixture.weight} {spec.mixture.cap}" for spec in specs)
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def changed_sources(previous: dict[str, str], current: dict[str, str]) -> list[str]:
    """The sources new or changed between two {name: fingerprint} maps."""
    return [name for name, fp in current.items() if previous.get(name) != fp]


def partition_changes(existing: list[str], wanted: list[str]) -> tuple[list[str], list[str]]:
    """(partitions to add, partitions to delete) so that `existing` becomes `wanted`."""
    return [name for name in wanted if name not in existing], [name for name in existing if name not in wanted]
