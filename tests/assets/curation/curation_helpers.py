"""Raw-sample rows for the curation tests: metadata with chosen pixel hashes and pHashes."""

import hashlib
import json

import pyarrow as pa
import pyarrow.parquet as pq

from assets.captions.native_text import SCHEMA, caption_native_texts, image_text_samples


def phash_of(pixel: str) -> int:
    """A well-spread 64-bit hash per pixel content, as signed int64."""
    return int.from_bytes(hashlib.sha256(pixel.encode()).digest()[:8], "big", signed=True)


def flip(phash: int, *bits: int) -> int:
    """`phash` with `bits` flipped, still a signed int64."""
    u = (phash & (2**64 - 1)) ^ sum(1 << b for b in bits)
    return u - 2**64 if u >= 2**63 else u


def sample_row(sample_id, pixel, *, source="src_a", label="normal", split="train", size=64, kind="classification",
               phash=None, width=None, height=None, std=20.0, caption=None):
    """A raw_samples row; an image-text sample's caption sits in its provenance, as ingest puts it."""
    row = {"caption": caption} if caption is not None else {}
    return {
        "sample_id": sample_id, "source": source, "modality": "xray", "label": label, "split": split,
        "image": {"bytes": pixel.encode(), "path": f"{sample_id}.png"}, "image_format": "png",
        "width": width or size, "height": height or size, "pixel_sha256": pixel,
        "phash": phash_of(pixel) if phash is None else phash,
        "pixel_mean": 100.0, "pixel_std": std, "kind": kind, "orig_path": f"{sample_id}.png",
        "provenance": json.dumps({"row": row}),
    }


def write_text_captions(raw_parts: list[str], out: str, treatments: dict[str, str] | None = None) -> str:
    """native_text_captions for the image-text samples of `raw_parts`, made by the real functions."""
    rows, _ = caption_native_texts(image_text_samples(raw_parts), treatments or {})
    pq.write_table(pa.Table.from_pylist(rows, schema=SCHEMA), out)
    return out
