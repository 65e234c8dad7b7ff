"""Load a YAML source catalog into SourceSpecs, with every problem reported at once.

    include: [unimed_eval.yaml]             # further catalogs (relative to this file): their sources follow
    sources:
      - name: chexpert                      # letters, digits, _ . - (it becomes a partition key)
        modality: xray                      # xray ct mri ultrasound pathology fundus
        kind: classification                # or image_text
        format: csv                         # a key of readers.READERS, or synthetic
        location: data/chexpert/train.csv   # relative to this file, absolute, or s3://...; ${VAR} takes an
                                            # environment variable (e.g. ${MEDPAIRS_DATA_ROOT}/chexpert)
        license: Stanford CheXpert Research Use Agreement
        split: {column: split}              # given | folder | {column: c} | {fixed: test}
                                            # | {ratio: {train: 0.9, test: 0.1}, seed: 0,
                                            #    group: {column: patient} | {path: 'patient[0-9]+'}}
                                            # | {lists: {train: train_val_list.txt, test: test_list.txt},
                                            #    default: train}: files beside the location (a manifest or
                                            #    a folder) naming a sample per line by id, path or file
                                            #    name; without a default a sample in no list is
                                            #    quarantined (not_in_split_list)
        classes:
          - cardiomegaly
          - {name: pleural effusion, description: Fluid around the lung., synonyms: [effusion]}
        options: {label_columns: [Cardiomegaly, Pleural Effusion], uncertain: negative, image_root: ..}
                                            # (imagefolder mixing modalities, as RadImageNet's CT/abd/...:
                                            #  {modality_folder: 0, modalities: {CT: ct, MR: mri}, label_from: [1, 2]})
        privacy: public                     # clinical (default for dicom, nifti) | public (default otherwise)
        redistribution: forbidden           # allowed | forbidden | unknown (default): may derived data be shared
        download: https://stanfordmlgroup.github.io/competitions/chexpert/  # where to get it
        mixture: {weight: 2.0}              # or {cap: 100000}: its training pairs in the shards, written
                                            # weight times (a seeded draw for the fraction) or a seeded
                                            # sample of at most cap (default: each once)
      - name: mimic_cxr                     # a table that is not one row per image with path and caption:
        kind: image_text
        text: report                        # image-text only: native (default) | report | report_condensed
        format: csv
        location: ${MEDPAIRS_DATA_ROOT}/mimic-cxr-jpg/2.0.0/mimic-cxr-2.0.0-metadata.csv.gz
        split: {column: split, group: {column: subject_id}}
        options:                            # (readers/manifest.py, templates.py, joins.py)
          path_template: "files/p{subject_id:.2}/p{subject_id}/s{study_id}/{dicom_id}.jpg"  # path from columns
          caption_file: "files/p{subject_id:.2}/p{subject_id}/s{study_id}.txt"  # caption from a file (missing:
                                            # missing_caption), relative to the image root
          join: [{file: mimic-cxr-2.0.0-split.csv.gz, key: [dicom_id], columns: [split]}]  # columns by key,
                                            # from a CSV beside the manifest; no match: unmatched_join
          filter: {ViewPosition: [PA, AP]}  # rows kept; the others are excluded_by_filter
      - name: llava_med                     # format json: one document; records: "" | key | "*"; any column
        format: json                        # of a JSON/JSONL row may be a dotted path (conversations.1.value)
        ...
      - name: openi                         # format openi_xml: NLMCXR XML reports (a folder or the .tgz), one
        format: openi_xml                   # sample per <parentImage>, caption FINDINGS + IMPRESSION
        ...
      - {name: synthetic, format: synthetic}  # the embedded default: its six sources
"""

from __future__ import annotations

import dataclasses
import os
import posixpath
import re
from pathlib import Path
from typing import Any, get_args

import fsspec
import yaml

from assets.sources.catalog import (
    ClassInfo,
    Modality,
    Privacy,
    Redistribution,
    SourceKind,
    SourceMixture,
    SourceSpec,
    SplitRule,
    TextTreatment,
    default_privacy,
)
from assets.sources.readers.records import SPLIT_NAMES, SourceError
from assets.sources.readers.registry import READERS, validate_options
from assets.sources.synthetic import SYNTHETIC_SOURCES

MODALITIES = get_args(Modality)
KINDS = get_args(SourceKind)
PRIVACIES = get_args(Privacy)
TEXT_TREATMENTS = get_args(TextTreatment)
REDISTRIBUTIONS = get_args(Redistribution)
MANIFEST_FORMATS = ("csv", "tsv", "jsonl", "json")
MODALITY_ALIASES = {"x-ray": "xray", "cxr": "xray", "radiograph": "xray", "cr": "xray", "dx": "xray",
                    "mr": "mri", "us": "ultrasound", "histopathology": "pathology", "histology": "pathology",
                    "retina": "fundus"}
FORMATS = (*sorted(READERS), "synthetic")
_KEYS = {"name", "modality", "kind", "format", "location", "license", "split", "classes", "options", "privacy",
         "text", "redistribution", "download", "mixture"}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_ENV_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class CatalogError(ValueError):
    """The catalog is invalid; the message lists every problem found."""


def load_catalog(url: str, _including: tuple[str, ...] = ()) -> list[SourceSpec]:
    """The sources of the YAML catalog at `url` (local path or any fsspec URL), then those of the
    catalogs its `include` list names (relative to it; a training recipe includes its evaluation
    suite's catalog, so the evaluation sets are ingested as test sources and decontaminate training)."""
    with fsspec.open(url, "rt", encoding="utf-8") as f:
        try:
            data = yaml.safe_load(f)
        except yaml.YAMLError as e:
            raise CatalogError(f"{url}: not valid YAML: {e}") from None
    base = str(Path(url).resolve().parent) if "://" not in url else posixpath.dirname(url)
    this = str(Path(url).resolve()) if "://" not in url else url
    specs = parse_catalog(data, base_dir=base, origin=url)
    includes = data.get("include") or [] if isinstance(data, dict) else []
    if not isinstance(includes, list) or not all(isinstance(i, str) for i in includes):
        raise CatalogError(f"{url}: include must be a list of catalog paths")
    for included in includes:
        path = _resolve(_expand_env(included), base)
        if path in (*_including, this):
            raise CatalogError(f"{url}: include {included!r} includes a catalog that includes it")
        specs += load_catalog(path, (*_including, this))
    names = [s.name for s in specs]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise CatalogError(f"{url}: source name(s) {repeated} appear in it and in a catalog it includes")
    return specs


def parse_catalog(data: Any, *, base_dir: str, origin: str = "catalog") -> list[SourceSpec]:
    """SourceSpecs from parsed YAML (a list of entries, or a mapping with a `sources` list)."""
    entries = data.get("sources") if isinstance(data, dict) else data
    if not isinstance(entries, list) or not entries:
        raise CatalogError(f"{origin}: expected a non-empty list of sources (or a mapping with 'sources')")
    specs, errors = [], []
    for i, entry in enumerate(entries):
        name = entry.get("name") if isinstance(entry, dict) else None
        label = f"source #{i + 1}" + (f" ({name})" if name else "")
        try:
            specs.extend(_entry(entry, base_dir))
        except CatalogError as e:
            errors.extend(f"{origin}: {label}: {line}" for line in str(e).splitlines())
    names = [n for e in entries if isinstance(e, dict) for n in
             ([s.name for s in SYNTHETIC_SOURCES] if e.get("format") == "synthetic" else [e.get("name")])]
    errors.extend(f"{origin}: source name {n!r} is used {names.count(n)} times"
                  for n in sorted(set(map(str, names))) if names.count(n) > 1)
    if errors:
        raise CatalogError("\n".join(errors))
    return specs


def _entry(entry: Any, base_dir: str) -> list[SourceSpec]:
    if not isinstance(entry, dict):
        raise CatalogError(f"expected a mapping, got {type(entry).__name__}")
    problems = [f"unknown key(s) {sorted(set(entry) - _KEYS)}; valid: {sorted(_KEYS)}"] if set(entry) - _KEYS else []
    fmt = entry.get("format")
    if fmt == "synthetic":
        if problems:
            raise CatalogError("\n".join(problems))
        # A mixture on the synthetic entry applies to each of its six sources.
        mixture = _mixture(entry.get("mixture"))
        return [dataclasses.replace(s, format="synthetic", mixture=mixture) for s in SYNTHETIC_SOURCES]
    name, location = entry.get("name"), entry.get("location")
    if not isinstance(name, str) or not _NAME.match(name):
        problems.append(f"name {name!r} must be letters, digits, '_', '.', '-'")
    if fmt not in READERS:
        problems.append(f"unknown format {fmt!r}; known: {list(FORMATS)}")
    if not isinstance(location, str) or not location.strip():
        problems.append("missing location (a local path or an s3:// URL)")
    else:
        try:
            location = _expand_env(location)
        except CatalogError as e:
            problems.append(str(e))
    modality = MODALITY_ALIASES.get(str(entry.get("modality", "")).lower(), str(entry.get("modality", "")).lower())
    if modality not in MODALITIES:
        problems.append(f"bad modality {entry.get('modality')!r}; one of {list(MODALITIES)}")
    kind = entry.get("kind", "classification")
    if kind not in KINDS:
        problems.append(f"bad kind {kind!r}; one of {list(KINDS)}")
    privacy = entry.get("privacy", default_privacy(fmt))
    if privacy not in PRIVACIES:
        problems.append(f"bad privacy {privacy!r}; one of {list(PRIVACIES)}")
    text = entry.get("text", "native")
    if text not in TEXT_TREATMENTS:
        problems.append(f"bad text {text!r}; one of {list(TEXT_TREATMENTS)}")
    elif text != "native" and kind != "image_text":
        problems.append(f"text: {text} is for image_text sources (a classification source's captions come "
                        "from the caption LLM)")
    redistribution = entry.get("redistribution", "unknown")
    if redistribution not in REDISTRIBUTIONS:
        problems.append(f"bad redistribution {redistribution!r}; one of {list(REDISTRIBUTIONS)}")
    options = entry.get("options") or {}
    if not isinstance(options, dict):
        problems.append("options must be a mapping")
    elif fmt in READERS:
        try:
            validate_options(fmt, options)
        except SourceError as e:
            problems.append(str(e))
    for parse in (lambda: _classes(entry.get("classes") or []), lambda: _split(entry.get("split", "given")),
                  lambda: _mixture(entry.get("mixture"))):
        try:
            parse()
        except CatalogError as e:
            problems.append(str(e))
    if not problems and _split(entry.get("split", "given")).group_column and fmt not in MANIFEST_FORMATS:
        problems.append(f"split group {{column: ...}} needs a manifest ({', '.join(MANIFEST_FORMATS)}); "
                        "use {path: regex} for other formats")
    if problems:
        raise CatalogError("\n".join(problems))
    return [SourceSpec(name=name, modality=modality, kind=kind, classes=_classes(entry.get("classes") or []),
                       location=_resolve(location.strip(), base_dir), license=str(entry.get("license") or ""),
                       format=fmt, split=_split(entry.get("split", "given")), options=dict(options),
                       privacy=privacy, text=text, redistribution=redistribution,
                       download=str(entry.get("download") or ""), mixture=_mixture(entry.get("mixture")))]


def _expand_env(location: str) -> str:
    """`location` with every `${VAR}` replaced by the environment variable's value; a CatalogError
    naming the variable when it is not set."""
    unset = sorted({v for v in _ENV_VAR.findall(location) if not os.environ.get(v)})
    if unset:
        raise CatalogError(f"location {location!r} uses {', '.join('${' + v + '}' for v in unset)}, which "
                           "is not set: export it (e.g. the folder holding the data) before loading the catalog")
    return _ENV_VAR.sub(lambda m: os.environ[m.group(1)], location)


def _resolve(location: str, base_dir: str) -> str:
    if "://" in location:
        return location
    if "://" in base_dir:
        protocol, rest = base_dir.split("://", 1)
        return f"{protocol}://{posixpath.normpath(posixpath.join(rest, location))}"
    return str((Path(base_dir) / Path(location).expanduser()).resolve())


def _classes(raw: Any) -> tuple[ClassInfo, ...]:
    if not isinstance(raw, list):
        raise CatalogError("classes must be a list of names or {name, description, synonyms}")
    out = []
    for item in raw:
        item = {"name": item} if isinstance(item, str) else item
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"].strip():
            raise CatalogError(f"bad class {item!r}: needs a name")
        unknown = sorted(set(item) - {"name", "description", "synonyms"})
        if unknown:
            raise CatalogError(f"class {item['name']!r}: unknown key(s) {unknown}")
        synonyms = item.get("synonyms") or []
        if not isinstance(synonyms, list) or not all(isinstance(s, str) for s in synonyms):
            raise CatalogError(f"class {item['name']!r}: synonyms must be a list of strings")
        out.append(ClassInfo(item["name"].strip(), str(item.get("description") or ""), tuple(synonyms)))
    names = [c.name.lower() for c in out]
    if len(set(names)) != len(names):
        raise CatalogError(f"class names repeat: {names}")
    return tuple(out)


def _mixture(raw: Any) -> SourceMixture:
    """{weight: w} (a number above 0) or {cap: n} (a whole number of at least 1); absent: each pair once."""
    if raw is None:
        return SourceMixture()
    if isinstance(raw, dict) and set(raw) == {"weight"}:
        weight = raw["weight"]
        if isinstance(weight, (int, float)) and not isinstance(weight, bool) and 0 < weight < float("inf"):
            return SourceMixture(weight=float(weight))
        raise CatalogError(f"mixture weight must be a number above 0, not {weight!r}")
    if isinstance(raw, dict) and set(raw) == {"cap"}:
        cap = raw["cap"]
        if isinstance(cap, int) and not isinstance(cap, bool) and cap >= 1:
            return SourceMixture(cap=cap)
        raise CatalogError(f"mixture cap must be a whole number of at least 1, not {cap!r}")
    raise CatalogError(f"bad mixture {raw!r}: {{weight: w}} (each training pair w times) or {{cap: n}} "
                       "(at most n training pairs), one of them")


def _split(raw: Any) -> SplitRule:
    """given | folder | {column: c} | {ratio: {split: weight}, seed: n} | {fixed: split}
    | {lists: {split: file}, default: split}; a given, ratio or lists split may add `group` ({column: c}
    or {path: regex}): the patient or study of each sample."""
    if raw in ("given", "folder", None):
        return SplitRule(by="given")
    if isinstance(raw, dict) and set(raw) == {"group"}:
        column, pattern = _group(raw["group"])
        return SplitRule(by="given", group_column=column, group_pattern=pattern)
    if isinstance(raw, dict) and {"column"} <= set(raw) <= {"column", "group"} and isinstance(raw["column"], str):
        column, pattern = _group(raw.get("group"))
        return SplitRule(by="given", column=raw["column"], group_column=column, group_pattern=pattern)
    if isinstance(raw, dict) and set(raw) == {"fixed"} and isinstance(raw["fixed"], str):
        return SplitRule(by="fixed", default=_split_name(raw["fixed"]))
    if isinstance(raw, dict) and "ratio" in raw and set(raw) <= {"ratio", "seed", "group"}:
        ratios = raw["ratio"]
        if (not isinstance(ratios, dict) or not ratios
                or not all(isinstance(w, (int, float)) and w > 0 for w in ratios.values())):
            raise CatalogError(f"split ratio must map split names to positive weights, not {ratios!r}")
        if not isinstance(raw.get("seed", 0), int):
            raise CatalogError("split seed must be an integer")
        column, pattern = _group(raw.get("group"))
        return SplitRule(by="ratio", ratios=tuple((_split_name(str(k)), float(v)) for k, v in ratios.items()),
                         seed=raw.get("seed", 0), group_column=column, group_pattern=pattern)
    if isinstance(raw, dict) and "lists" in raw and set(raw) <= {"lists", "default", "group"}:
        lists = raw["lists"]
        if (not isinstance(lists, dict) or not lists
                or not all(isinstance(f, str) and f.strip() for f in lists.values())):
            raise CatalogError(f"split lists must map split names to list files, not {lists!r}")
        default = raw.get("default")
        if default is not None and not isinstance(default, str):
            raise CatalogError(f"split default must be a split name, not {default!r}")
        column, pattern = _group(raw.get("group"))
        return SplitRule(by="lists", lists=tuple((_split_name(str(k)), f.strip()) for k, f in lists.items()),
                         default=_split_name(default) if default else "", group_column=column, group_pattern=pattern)
    raise CatalogError(f"bad split {raw!r}: given | folder | {{column: c}} | {{fixed: s}} "
                       "| {ratio: {split: weight, ...}, seed: n} | {lists: {split: file, ...}, default: s}, "
                       "where given, column, ratio and lists may add group: {column: c} | {path: regex}")


def _split_name(name: str) -> str:
    """train, val or test for any of their spellings (SPLIT_NAMES); a CatalogError for another name,
    which no stage would export or evaluate."""
    try:
        return SPLIT_NAMES[name.strip().lower()]
    except KeyError:
        raise CatalogError(f"split {name!r} is not a split name: train, val or test "
                           f"(or {', '.join(n for n in SPLIT_NAMES if n not in ('train', 'val', 'test'))})") from None


def _group(raw: Any) -> tuple[str, str]:
    """(group column, group path pattern) of a ratio split's `group`: {column: c} or {path: regex}."""
    if raw is None:
        return "", ""
    if isinstance(raw, dict) and set(raw) == {"column"} and isinstance(raw["column"], str) and raw["column"]:
        return raw["column"], ""
    if isinstance(raw, dict) and set(raw) == {"path"} and isinstance(raw["path"], str) and raw["path"]:
        try:
            re.compile(raw["path"])
        except re.error as e:
            raise CatalogError(f"split group path {raw['path']!r} is not a regular expression: {e}") from None
        return "", raw["path"]
    raise CatalogError(f"bad split group {raw!r}: {{column: c}} (a manifest column) or {{path: regex}}")
