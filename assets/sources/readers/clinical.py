"""What a clinical source's records may carry out of the reader: ids that are keyed hashes of their
paths (HMAC-SHA256 with the project's secret salt, so no one can confirm a guessed name by hashing
it), no folder or file name, no absolute root, in no id, path or error detail. Every name taken out
is remembered (as word tokens) for the privacy check that searches ingest's outputs for them.

The salt: MEDPAIRS_PRIVACY_SALT if set (production: a secret shared by every worker, since another
salt gives other ids), else the file MEDPAIRS_PRIVACY_SALT_FILE names, else
`$DAGSTER_HOME/.dagster_home/privacy_salt`, created on first use with 32 random bytes and mode 0600.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

from pydicom.uid import UID, AllTransferSyntaxes

from assets.sources.catalog import SourceSpec
from assets.sources.readers.dicom_text import PHOTOMETRIC_VALUES, TECHNICAL_WORDS, UNITS
from assets.sources.readers.records import SPLIT_NAMES, SampleRecord

SALT_ENV, SALT_FILE_ENV = "MEDPAIRS_PRIVACY_SALT", "MEDPAIRS_PRIVACY_SALT_FILE"
# Words that name no one, which outputs may hold: file types, split folders, common short words, the
# technical words DICOM text keeps, photometric and transfer syntax names ("Explicit VR Little Endian"). A patient named Little or Head is
# not told apart from them: such a name in a path or tag is hashed or dropped, not searched for.
_PATH_WORDS = {"dcm", "dicom", "ima", "img", "image", "images", "nii", "gz", "png", "jpg", "jpeg", "bmp", "gif",
               "tif", "tiff", "webp", "npz", "tar", "parquet", "csv", "tsv", "jsonl", "json", "dicomdir", "txt",
               "pdf", "xml", "zip", *SPLIT_NAMES}
_STOP_WORDS = {"the", "and", "not", "for", "with", "has", "are", "was", "one", "two", "all", "any", "off", "out",
               "new", "old", "copy", "file", "files", "data", "test", "sample", "samples", "export"}
_OUTPUT_WORDS = (_PATH_WORDS | _STOP_WORDS | TECHNICAL_WORDS | UNITS
                 | {w for v in PHOTOMETRIC_VALUES for w in re.findall(r"[a-z0-9]+", v.lower())}
                 | {w for uid in AllTransferSyntaxes for w in re.findall(r"[a-z0-9]+", UID(uid).name.lower())})
_READER_SUFFIX = re.compile(r"^(frame|slice|axis|line)\d+$")
_TOKEN = re.compile(r"[a-z0-9]+")


def default_salt_file() -> Path:
    return Path(os.environ.get("DAGSTER_HOME") or ".") / ".dagster_home" / "privacy_salt"


def privacy_salt() -> bytes:
    """The project's secret salt (see the module docstring), created on first use."""
    if os.environ.get(SALT_ENV):
        return os.environ[SALT_ENV].encode()
    path = Path(os.environ.get(SALT_FILE_ENV) or default_salt_file())
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{secrets.token_hex(4)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
        try:
            os.link(tmp, path)  # atomic; another process may have won the race
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return path.read_bytes().strip()


def keyed_id(salt: bytes, value: str) -> str:
    """The pseudonymous id of `value`: "id-" and 32 hex digits of HMAC-SHA256(salt, value)."""
    return "id-" + hmac.new(salt, value.encode(), hashlib.sha256).hexdigest()[:32]


def tokens(text: str) -> tuple[str, ...]:
    """The lower-case letter/digit runs of `text`: what identifiers are matched on."""
    return tuple(_TOKEN.findall(text.lower()))


class Identifiers:
    """Identifying strings as token sequences: "Doe^Janet" is ("doe", "janet") and each of its words,
    found in "x DOE_JANET y" or "Janet" but not in "Doerr". A word that is short, a small number or a
    path word is no identifier on its own."""

    def __init__(self, ignore: Iterable[str] = ()):
        """`ignore`: terms that are no identifier, nor is any of their words (class names, ...)."""
        self.ignore = {t for term in ignore for t in (tokens(term), *((w,) for w in tokens(term)))}
        self.sequences: set[tuple[str, ...]] = set()

    def add(self, value: str, *, words: bool = True) -> None:
        """Add `value` and, when `words`, each of its words."""
        seq = tokens(value)
        for part in {seq, *((t,) for t in seq if words)}:
            if part and part not in self.ignore and not all(_not_identifying(t) for t in part):
                self.sequences.add(part)

    def __len__(self) -> int:
        return len(self.sequences)

    def found_in(self, text: str) -> bool:
        """Whether any identifier occurs in `text` as whole tokens."""
        seq = tokens(text)
        lengths = {len(s) for s in self.sequences}
        return any(tuple(seq[i:i + n]) in self.sequences for n in lengths for i in range(len(seq) - n + 1))


def _not_identifying(token: str) -> bool:
    return (len(token) < 3 or token in _OUTPUT_WORDS or bool(_READER_SUFFIX.match(token))
            or (token.isdigit() and len(token) < 6))


def path_names(path: str | None) -> list[str]:
    """The folder and file names in a record path or id ("a/b/c.dcm#frame2"), whole and in words."""
    names = []
    for part in re.split(r"[/#\\]", path or ""):
        if part and part not in (".", ".."):
            names += [part, part.split(".")[0], *re.split(r"[^A-Za-z0-9]+", part)]
    return [n for n in names if n]


class ClinicalGuard:
    """Pseudonymizes the records of one clinical source and collects what identified them."""

    def __init__(self, spec: SourceSpec, root: str, salt: bytes):
        class_terms = [t for c in spec.classes for t in c.terms]
        self.salt, self.root = salt, root.rstrip("/")
        self.identifiers = Identifiers(ignore=[*class_terms, spec.name, spec.modality])
        self.identifiers.add(self.root, words=False)

    def record(self, record: SampleRecord) -> SampleRecord:
        names = path_names(record.record_id) + path_names(record.path)
        for value in (*names, *record.identifying):
            self.identifiers.add(value)
        return replace(record, record_id=keyed_id(self.salt, record.record_id), path=None,
                       read_from=record.path, identifying=(),
                       error_detail=self.without(record.error_detail, [*names, *record.identifying]))

    def without(self, text: str, values: Iterable[str]) -> str:
        """`text` with the source root and each of `values` that may identify (as whole words) taken out."""
        if not text:
            return text
        text = text.replace(self.root, "<root>") if self.root else text
        identifying = {v for v in values if not all(_not_identifying(t) for t in tokens(v))}
        for value in sorted(identifying, key=len, reverse=True):
            text = re.sub(rf"(?<![A-Za-z0-9]){re.escape(value)}(?![A-Za-z0-9])", "_", text, flags=re.IGNORECASE)
        return text
