"""Burned-in text in an image's border bands, without OCR. Ultrasound and secondary-capture images
often carry a banner (patient name, ID, date, institution) drawn into the pixels, and their
BurnedInAnnotation tag is often absent or wrong. Such text is looked for as a scanner draws it: a row
of at least MIN_GLYPHS glyph-sized marks (thin strokes, similar heights, aligned, close together)
standing out sharply from a flat background, in the top, bottom, left or right band. What it reports
is the band, never the text. NumPy only: connected components are found over pixel runs."""

from __future__ import annotations

import numpy as np

# The share of the height (top, bottom) and width (left, right) searched: scanners put the patient
# banner in the top tenth and their settings in the side columns and the bottom rows.
BAND_SHARE = 0.15
MIN_GLYPHS = 4  # a name, an ID or a date has at least four characters
GLYPH_HEIGHT = (5, 60)  # pixels: from the capitals of an 8 px font to those of an 80 px one
# Intensity steps above the band's background at which marks are cut out (faint and bright text).
STEPS = (45, 90, 150)
FLATNESS = 0.5  # the background's spread (median to 95th percentile) at most this share of the contrast
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"  # and its multi-frame classes .7.1 to .7.4


def text_prone(modality: str, sop_class_uid: str, image_type: list[str]) -> bool:
    """Whether a DICOM image is of a kind that commonly carries burned-in text: ultrasound (Modality
    US or IVUS, PS3.3 C.7.3.1.1.1), a Secondary Capture SOP class (PS3.4 B.5: screen and film
    captures), or Image Type value 2 SECONDARY (PS3.3 C.7.6.1.1.2: made after the examination, such
    as an annotated screen). DERIVED alone is not: it marks reconstructions and lossy copies too."""
    kinds = [str(v).strip().upper() for v in image_type]
    return (modality.strip().upper() in ("US", "IVUS")
            or sop_class_uid == SECONDARY_CAPTURE or sop_class_uid.startswith(SECONDARY_CAPTURE + ".")
            or (len(kinds) > 1 and kinds[1] == "SECONDARY"))


def text_bands(pixels: np.ndarray) -> list[str]:
    """The border bands ("top", "bottom", "left", "right") of 8-bit grayscale or RGB `pixels` that hold
    a line of text-like marks; empty when none does."""
    gray = pixels.max(axis=2) if pixels.ndim == 3 else pixels  # coloured overlays count at full strength
    gray = np.asarray(gray, dtype=np.uint8)
    h, w = gray.shape
    rows, cols = max(int(h * BAND_SHARE), GLYPH_HEIGHT[0] * 3), max(int(w * BAND_SHARE), GLYPH_HEIGHT[0] * 3)
    bands = {"top": gray[:rows], "bottom": gray[h - rows:], "left": gray[:, :cols], "right": gray[:, w - cols:]}
    return [name for name, band in bands.items() if _has_text_line(band, name)]


def _has_text_line(band: np.ndarray, side: str) -> bool:
    for values in (band, 255 - band):  # light text on dark, and dark text on light
        background = int(np.median(values))
        for step in STEPS:
            if background + step < 255 and _text_line_at(values, values >= background + step, side):
                return True
    return False


def _text_line_at(values: np.ndarray, mask: np.ndarray, side: str) -> bool:
    top, bottom, left, right, area = _components(mask)
    height, width = bottom - top + 1, right - left + 1
    fill = area / (height * width)
    # Marks the band's inner edge cuts belong to the image: speckle cut off there looks like letters on a line.
    rows, cols = mask.shape
    cut = {"top": bottom == rows - 1, "bottom": top == 0, "left": right == cols - 1, "right": left == 0}[side]
    glyph = ((height >= GLYPH_HEIGHT[0]) & (height <= GLYPH_HEIGHT[1]) & (width <= 2 * height + 3)
             & ((fill <= 0.85) | (width <= 3)) & ~cut)  # solid blocks are bars and dots, thin ones strokes
    boxes = np.stack([top, bottom, left, right, area], axis=1)[glyph]
    # Judged MIN_GLYPHS characters at a time: a banner may run on into the image, off its flat margin.
    return any(_on_flat_background(values, mask, line[i:i + MIN_GLYPHS])
               for line in _lines(boxes) for i in range(len(line) - MIN_GLYPHS + 1))


def _lines(boxes: np.ndarray) -> list[np.ndarray]:
    """Groups of at least MIN_GLYPHS boxes that chain left to right as characters of a line do."""
    boxes = boxes[np.argsort(boxes[:, 2])]
    parent = list(range(len(boxes)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, (t, b, _, r, _) in enumerate(boxes):
        h = b - t + 1
        for j in range(i + 1, len(boxes)):
            t2, b2, l2, _, _ = boxes[j]
            h2 = b2 - t2 + 1
            if l2 - r - 1 > 1.2 * max(h, h2):
                if l2 - r - 1 > 1.2 * GLYPH_HEIGHT[1]:
                    break  # sorted by left edge: nothing further can be this close
                continue
            overlap = min(b, b2) - max(t, t2) + 1
            aligned = abs(b - b2) <= 0.35 * max(h, h2) or abs(t - t2) <= 0.35 * max(h, h2)
            if l2 > r - 0.3 * h and overlap >= 0.5 * min(h, h2) and max(h, h2) <= 2 * min(h, h2) and aligned:
                parent[root(j)] = root(i)
                break  # the nearest neighbour on the right continues the line
    groups: dict[int, list[int]] = {}
    for i in range(len(boxes)):
        groups.setdefault(root(i), []).append(i)
    return [boxes[g] for g in groups.values() if len(g) >= MIN_GLYPHS]  # each sorted left to right


def _on_flat_background(values: np.ndarray, mask: np.ndarray, line: np.ndarray) -> bool:
    """Whether the MIN_GLYPHS marks of `line` are characters: strokes (not all bars, not blobs) on one
    baseline, of one height, on a flat background that they clearly stand out from, as drawn text is;
    speckle, texture and anatomy are not flat around what they show."""
    width = line[:, 3] - line[:, 2] + 1
    height = line[:, 1] - line[:, 0] + 1
    fill = line[:, 4] / (width * height)
    if np.count_nonzero(width >= 0.4 * height) < 2 or np.median(fill) > 0.75:
        return False
    size = np.median(height)
    on_baseline = np.abs(line[:, 1] - np.median(line[:, 1])) <= max(1.0, 0.15 * size)
    even = np.abs(height - size) <= 0.3 * size  # capitals, digits and small letters differ less
    if not np.all(on_baseline & even):
        return False
    t, b = line[:, 0].min(), line[:, 1].max()
    l, r = line[:, 2].min(), line[:, 3].max()
    pad = 2
    t, b, l, r = max(t - pad, 0), min(b + pad, values.shape[0] - 1), max(l - pad, 0), min(r + pad, values.shape[1] - 1)
    box, marks = values[t:b + 1, l:r + 1], mask[t:b + 1, l:r + 1]
    if np.count_nonzero(_erode(marks)) > 0.5 * np.count_nonzero(marks):
        return False  # blobs (nuclei, dots), not strokes
    near = _dilate(marks)  # anti-aliased and compression-blurred edges belong to the marks
    ground = box[~near]
    if ground.size < marks.sum():
        return False
    ink = float(np.median(box[marks]))
    floor, ceiling = np.percentile(ground, [50, 95])
    contrast = ink - floor
    return contrast >= 40 and ceiling - floor <= FLATNESS * contrast


def _dilate(mask: np.ndarray) -> np.ndarray:
    padded = np.pad(mask, 1)
    out = np.zeros_like(mask)
    for dy in range(3):
        for dx in range(3):
            out |= padded[dy:dy + mask.shape[0], dx:dx + mask.shape[1]]
    return out


def _erode(mask: np.ndarray) -> np.ndarray:
    return ~_dilate(~mask)


def _components(mask: np.ndarray) -> tuple[np.ndarray, ...]:
    """(top, bottom, left, right, area) of every 8-connected component of `mask`, found by linking the
    runs of each row to the runs they touch in the next (vectorized; no Python loop over pixels)."""
    h, w = mask.shape
    stride = w + 2
    edges = np.diff(np.pad(mask, ((0, 0), (1, 1))).astype(np.int8), axis=1)
    row, start = np.nonzero(edges == 1)
    _, end = np.nonzero(edges == -1)  # exclusive
    if row.size == 0:
        return tuple(np.zeros(0, np.int64) for _ in range(5))
    begins, ends = row * stride + start, row * stride + end  # sorted: runs are disjoint
    # Runs b of the next row touching run a (8-connected): start_b <= end_a and start_a <= end_b.
    hi = np.searchsorted(begins, begins - start + stride + end, side="right")
    lo = np.searchsorted(ends, begins + stride, side="left")
    count = np.maximum(hi - lo, 0)
    a = np.repeat(np.arange(row.size), count)
    b = lo[a] + (np.arange(a.size) - np.repeat(np.cumsum(count) - count, count))
    label = np.arange(row.size)
    while True:  # min-label propagation over the links, with pointer jumping
        before = label.copy()
        low = np.minimum(label[a], label[b])
        np.minimum.at(label, a, low)
        np.minimum.at(label, b, low)
        label = label[label]
        if np.array_equal(label, before):
            break
    ids, comp = np.unique(label, return_inverse=True)
    n = ids.size
    top, bottom = np.full(n, h), np.zeros(n, np.int64)
    left, right, area = np.full(n, w), np.zeros(n, np.int64), np.zeros(n, np.int64)
    np.minimum.at(top, comp, row)
    np.maximum.at(bottom, comp, row)
    np.minimum.at(left, comp, start)
    np.maximum.at(right, comp, end - 1)
    np.add.at(area, comp, end - start)
    return top, bottom, left, right, area
