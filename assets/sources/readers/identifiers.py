"""Identifying strings (a clinical source's folder and file names, its root, DICOM identity values) as
the privacy checks search for them: as whole words, case-insensitive, in every string of an output.
`Identifiers` holds them as word sequences while a source is read; `KeyedIdentifiers` holds them as
keyed digests (HMAC-SHA256 with the project's salt), which may be stored beside the outputs for the
export's check: without the salt no one can test a guessed name against them."""

from __future__ import annotations

import hashlib
import hmac
import json
import posixpath
import re
from collections.abc import Iterable, Iterator
from functools import lru_cache

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq

from assets.shared.files import write_parquet_table
from assets.sources.readers.dicom_text import PHOTOMETRIC_VALUES, TECHNICAL_WORDS, UNITS
from assets.sources.readers.records import SPLIT_NAMES, SourceError

_TOKEN = re.compile(r"[^\W_]+")  # runs of letters and digits, any script: "müller", "山田"
# Words that name no one, which outputs may hold: file types, split folders, common short words, the
# technical words DICOM text keeps, photometric and transfer syntax names ("Explicit VR Little Endian").
# A patient named Little or Head is not told apart from them: such a name in a path or tag is hashed
# or dropped, not searched for.
_PATH_WORDS = {"dcm", "dicom", "ima", "img", "image", "images", "nii", "gz", "png", "jpg", "jpeg", "bmp", "gif",
               "tif", "tiff", "webp", "npz", "tar", "parquet", "csv", "tsv", "jsonl", "json", "dicomdir", "txt",
               "pdf", "xml", "zip", *SPLIT_NAMES}
_STOP_WORDS = {"the", "and", "not", "for", "with", "has", "are", "was", "one", "two", "all", "any", "off", "out",
               "new", "old", "copy", "file", "files", "data", "test", "sample", "samples", "export"}


@lru_cache(maxsize=1)
def _output_words() -> frozenset[str]:
    """Made on first use: pydicom (for the transfer syntax names) loads only where identifiers are searched."""
    from pydicom.uid import UID, AllTransferSyntaxes

    return frozenset(_PATH_WORDS | _STOP_WORDS | TECHNICAL_WORDS | UNITS
                     | {w for v in PHOTOMETRIC_VALUES for w in _TOKEN.findall(v.lower())}
                     | {w for uid in AllTransferSyntaxes for w in _TOKEN.findall(UID(uid).name.lower())})


_READER_SUFFIX = re.compile(r"^(frame|slice|axis|line)\d+$")
DIGESTS_SCHEMA = pa.schema([("words", pa.int32()), ("digest", pa.string())])


class IdentifierLeak(SourceError):
    """An output of a clinical source holds one of its identifiers: nothing is published."""


def tokens(text: str) -> tuple[str, ...]:
    """The lower-case letter/digit runs of `text` (any script): what identifiers are matched on."""
    return tuple(_TOKEN.findall(text.lower()))


def identifying_words(text: str) -> list[str]:
    """The words of `text` that may identify someone on their own (not short: under 3 letters, or 2
    outside ASCII, as a CJK name's; not a small number, not a path, technical or common word)."""
    return [t for t in tokens(text) if not (len(t) < (3 if t.isascii() else 2) or t in _output_words()
                                            or _READER_SUFFIX.match(t)
                                            or (t.isdigit() and len(t) < 6))]


class Identifiers:
    """Identifying strings as word sequences: "Doe^Janet" is ("doe", "janet") and each of its words,
    found in "x DOE_JANET y" or "Janet" but not in "Doerr"."""

    def __init__(self, ignore: Iterable[str] = (), salt: bytes = b""):
        """`ignore`: terms that are no identifier, nor is any of their words (class names, ...);
        `salt`: what keyed() digests with."""
        self.ignore = {t for term in ignore for t in (tokens(term), *((w,) for w in tokens(term)))}
        self.sequences: set[tuple[str, ...]] = set()
        self.lengths: set[int] = set()  # of the sequences, kept so that found_in need not count them
        self.salt = salt

    def add(self, value: str, *, words: bool = True) -> None:
        """Add `value` and, when `words`, each of its words."""
        seq = tokens(value)
        for part in {seq, *((t,) for t in seq if words)}:
            if part and part not in self.ignore and identifying_words(" ".join(part)):
                self.sequences.add(part)
                self.lengths.add(len(part))

    def __len__(self) -> int:
        return len(self.sequences)

    def found_in(self, text: str) -> bool:
        """Whether any identifier occurs in `text` as whole words."""
        seq = tokens(text)
        return any(seq[i:i + n] in self.sequences for n in self.lengths for i in range(len(seq) - n + 1))

    def keyed(self) -> KeyedIdentifiers:
        """The same identifiers as digests. A sequence one of whose words is itself an identifier is
        left out (that word finds it)."""
        single = {s for s in self.sequences if len(s) == 1}
        kept = [s for s in self.sequences if len(s) == 1 or not any((w,) in single for w in s)]
        keyed = KeyedIdentifiers(self.salt)
        keyed.add({(len(s), keyed.digest(s)) for s in kept})
        return keyed


class KeyedIdentifiers:
    """Identifiers as keyed digests of their word sequences, with the interface of Identifiers."""

    def __init__(self, salt: bytes, digests: Iterable[tuple[int, str]] = ()):
        self.salt = salt
        self.digests: set[tuple[int, str]] = set()
        self.lengths: set[int] = set()
        self.digest = lru_cache(maxsize=1 << 16)(self._digest)
        self.add(digests)

    def add(self, digests: Iterable[tuple[int, str]]) -> None:
        """Add (word count, digest) pairs."""
        for n, digest in digests:
            self.digests.add((n, digest))
            self.lengths.add(n)

    def _digest(self, words: tuple[str, ...]) -> str:
        return hmac.new(self.salt, " ".join(words).encode(), hashlib.sha256).hexdigest()[:32]

    def __len__(self) -> int:
        return len(self.digests)

    def found_in(self, text: str) -> bool:
        seq = tokens(text)
        return any((n, self.digest(seq[i:i + n])) in self.digests for n in self.lengths for i in range(len(seq) - n + 1))

    def write(self, url: str, storage_options: dict | None = None) -> None:
        """Write the digests to the Parquet file `url` (a temporary name, then renamed)."""
        rows = sorted(self.digests)
        write_parquet_table(url, pa.table({"words": [n for n, _ in rows], "digest": [d for _, d in rows]},
                                          schema=DIGESTS_SCHEMA), storage_options)

    @classmethod
    def read(cls, urls: list[str], salt: bytes, storage_options: dict | None = None) -> KeyedIdentifiers:
        """The digests of every file in `urls` (written by write())."""
        keyed = cls(salt)
        for url in urls:
            with fsspec.open(url, "rb", **(storage_options or {})) as f:
                table = pq.read_table(f)
            keyed.add(zip(table.column("words").to_pylist(), table.column("digest").to_pylist()))
        return keyed


def text_values(value: str | None) -> list[str]:
    """The strings to search in an output value: a JSON object's values (at any depth, not its keys,
    which the code writes), else the value."""
    if not value:
        return []
    if not value.startswith("{"):
        return [value]
    try:
        stack, out = [json.loads(value)], []
    except ValueError:
        return [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack += item.values()
        elif isinstance(item, list):
            stack += item
        elif item is not None:
            out.append(str(item))
    return out


def parquet_hits(urls: list[str], identifiers: Identifiers | KeyedIdentifiers,
                 storage_options: dict | None = None, batch_rows: int = 4096) -> list[tuple[str, str]]:
    """(file name, column) for each string column (struct fields as `column.field`, lists of strings) of the Parquet
    files at `urls` where a value holds one of `identifiers`, in file order. `reason` is not
    searched: it holds codes the code writes ("burned_in_annotation"), never input."""
    hits: list[tuple[str, str]] = []
    if not len(identifiers):
        return hits
    for url in urls:
        name = posixpath.basename(url)
        with fsspec.open(url, "rb", **(storage_options or {})) as f:
            for batch in pq.ParquetFile(f).iter_batches(batch_size=batch_rows):
                for column, values in _string_columns(batch):
                    if (name, column) not in hits and any(identifiers.found_in(text) for v in values
                                                          for text in text_values(v)):
                        hits.append((name, column))
    return hits


def _string_columns(batch: pa.RecordBatch) -> Iterator[tuple[str, list]]:
    stack = list(zip(batch.schema.names, batch.columns))
    while stack:
        name, array = stack.pop(0)
        if pa.types.is_struct(array.type):
            stack += [(f"{name}.{array.type.field(i).name}", array.field(i)) for i in range(array.type.num_fields)]
        elif _is_text(array.type) and name != "reason":
            yield name, array.to_pylist()
        elif (pa.types.is_list(array.type) or pa.types.is_large_list(array.type)) and _is_text(array.type.value_type):
            yield name, array.flatten().to_pylist()  # a sample's captions


def _is_text(kind: pa.DataType) -> bool:
    return pa.types.is_string(kind) or pa.types.is_large_string(kind)
