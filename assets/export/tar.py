"""POSIX ustar members written by hand, and the file writes shards need: many buffers at once.

`tar_header` gives the bytes `tarfile` writes for a regular file with mtime 0, mode 644 and owner root, at a
fraction of the cost; `writev_all` hands a list of buffers to a local file without joining them.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator

BLOCK = 512
END_OF_ARCHIVE = bytes(2 * BLOCK)
IOV_MAX = 1024  # buffers per os.writev call (the POSIX minimum of IOV_MAX)
_WRITE_CHUNK = 8 << 20  # bytes handed to a remote file at a time


def _header_template() -> tuple[bytes, int]:
    h = bytearray(BLOCK)
    h[100:108] = b"0000644\0"  # mode
    h[108:116] = b"0000000\0"  # uid
    h[116:124] = b"0000000\0"  # gid
    h[136:148] = b"00000000000\0"  # mtime 0
    h[148:156] = b" " * 8  # checksum field counts as spaces while summing
    h[156:157] = b"0"  # regular file
    h[257:265] = b"ustar\x0000"  # uname, gname, devmajor, devminor, prefix: empty, as tarfile writes them
    return bytes(h), sum(h)


_TEMPLATE, _TEMPLATE_SUM = _header_template()


def tar_header(name: bytes, size: int) -> bytes:
    """The 512-byte ustar header of a regular file `name` of `size` bytes (mtime 0, mode 644, root): the
    bytes `tarfile` writes for the same TarInfo in USTAR_FORMAT."""
    if len(name) > 100:
        raise ValueError(f"member name longer than 100 bytes: {name!r}")
    if size >= 8**11:
        raise ValueError(f"member of {size} bytes exceeds the ustar limit of 8 GiB")
    size_field = b"%011o\0" % size
    h = bytearray(_TEMPLATE)
    h[: len(name)] = name
    h[124:136] = size_field
    h[148:156] = b"%06o\0 " % (_TEMPLATE_SUM + sum(name) + sum(size_field))
    return bytes(h)


_ZEROS = memoryview(bytes(BLOCK))


def padding(size: int) -> memoryview:
    return _ZEROS[: -size % BLOCK]


def member_bytes(size: int) -> int:
    """Bytes a member of `size` bytes takes in a tar: header plus data padded to whole blocks."""
    return BLOCK + size + (-size % BLOCK)


def sha256_of(chunks: list) -> str:
    sha = hashlib.sha256()
    for chunk in chunks:
        sha.update(chunk)
    return sha.hexdigest()


def writev_all(fd: int, chunks: list) -> None:
    """`os.writev` until every byte of `chunks` is written (a call may write fewer)."""
    views = [memoryview(c).cast("B") for c in chunks]
    while views:
        written = os.writev(fd, views)
        while views and written >= len(views[0]):
            written -= len(views[0])
            views.pop(0)
        if views and written:
            views[0] = views[0][written:]


def coalesce(chunks: Iterable) -> Iterator[bytearray]:
    """The chunks joined into buffers of about `_WRITE_CHUNK` bytes (few large writes to a remote file)."""
    buf = bytearray()
    for chunk in chunks:
        buf += chunk
        if len(buf) >= _WRITE_CHUNK:
            yield buf
            buf = bytearray()
    if buf:
        yield buf
