"""What a clinical source's records may carry out of the reader: ids that are keyed hashes of their
paths (HMAC-SHA256 with the project's secret salt, so no one can confirm a guessed name by hashing
it), no folder or file name, no absolute root, in no id, path or error detail. Every name taken out
is remembered (identifiers.py) for the privacy checks that search the outputs for them.

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

from assets.sources.catalog import SourceSpec
from assets.sources.readers.identifiers import Identifiers, identifying_words
from assets.sources.readers.records import SampleRecord

SALT_ENV, SALT_FILE_ENV = "MEDPAIRS_PRIVACY_SALT", "MEDPAIRS_PRIVACY_SALT_FILE"


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


def path_names(path: str | None) -> list[str]:
    """The folder and file names in a record path or id ("a/b/c.dcm#frame2"), whole and in words."""
    names = []
    for part in re.split(r"[/#\\]", path or ""):
        if part and part not in (".", ".."):
            names += [part, part.split(".")[0], *re.split(r"[\W_]+", part)]
    return [n for n in names if n]


class ClinicalGuard:
    """Pseudonymizes the records of one clinical source and collects what identified them."""

    def __init__(self, spec: SourceSpec, root: str, salt: bytes):
        class_terms = [t for c in spec.classes for t in c.terms]
        self.salt, self.root = salt, root.rstrip("/")
        self.identifiers = Identifiers(ignore=[*class_terms, spec.name, spec.modality], salt=salt)
        self.identifiers.add(self.root, words=False)

    def record(self, record: SampleRecord) -> SampleRecord:
        names = path_names(record.record_id) + path_names(record.path)
        for value in (*names, *record.identifying):
            self.identifiers.add(value)
        return replace(record, record_id=keyed_id(self.salt, record.record_id), path=None,
                       group_id=keyed_id(self.salt, record.group_id) if record.group_id else None,
                       read_from=record.path, identifying=(),
                       error_detail=self.without(record.error_detail, [*names, *record.identifying]))

    def without(self, text: str, values: Iterable[str]) -> str:
        """`text` with the source root and each of `values` that may identify (as whole words) taken out."""
        if not text:
            return text
        text = text.replace(self.root, "<root>") if self.root else text
        identifying = {v for v in values if identifying_words(v)}
        for value in sorted(identifying, key=len, reverse=True):
            text = re.sub(rf"(?<![^\W_]){re.escape(value)}(?![^\W_])", "_", text, flags=re.IGNORECASE)
        return text
