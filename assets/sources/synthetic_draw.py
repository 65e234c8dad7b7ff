"""Vectorised drawing of synthetic medical images, one batch of one class at a time.

Every drawer takes a `Canvas` (a seeded generator plus pixel coordinates in [-1, 1], x to the
right, y downwards) and a class index, and returns float32 in [0, 1]: (n, H, W) for grayscale
modalities, channel-first (n, 3, H, W) for colour ones. Class differences are large structures
(a lung opacity, a lesion at a class-specific place and brightness, gland rings, an enlarged
optic cup) so they survive downscaling to 64 px; within a class, position, size, contrast and
noise vary. Everything is whole-array numpy: no per-pixel or per-object Python loops.
"""

from __future__ import annotations

import numpy as np

F32 = np.float32


class Canvas:
    """A batch of n images of size x size pixels drawn from one seeded generator."""

    def __init__(self, rng: np.random.Generator, n: int, size: int):
        self.rng, self.n, self.size = rng, n, size
        t = ((np.arange(size, dtype=F32) + 0.5) / size * 2 - 1).astype(F32)
        self.x, self.y = t[None, None, :], t[None, :, None]

    def u(self, lo: float, hi: float) -> np.ndarray:
        """One uniform value per image, shaped (n, 1, 1) to broadcast over pixels."""
        return self.rng.uniform(lo, hi, (self.n, 1, 1)).astype(F32)

    def sign(self) -> np.ndarray:
        return np.where(self.rng.random((self.n, 1, 1)) < 0.5, -1.0, 1.0).astype(F32)

    def coords(self, jitter: float = 0.05, scale: tuple[float, float] = (0.93, 1.05)):
        """Pixel coordinates per image after a random shift and zoom: (n,1,W) and (n,H,1)."""
        s = self.u(*scale)
        return (self.x - self.u(-jitter, jitter)) / s, (self.y - self.u(-jitter, jitter)) / s

    def smooth(self, cells: int) -> np.ndarray:
        """Smooth value noise with about `cells` features per side, roughly N(0, 0.6)."""
        low = self.rng.standard_normal((self.n, cells + 1, cells + 1), dtype=F32)
        return resize(low, self.size, nodes=True)

    def noise(self) -> np.ndarray:
        """Pixel noise with unit variance (uniform: 5x cheaper to draw than Gaussian)."""
        return (self.rng.random((self.n, self.size, self.size), dtype=F32) - 0.5) * F32(12**0.5)

    def worley(self, cells: int, need_f2: bool = False):
        """Cellular noise: distance to the nearest (and second-nearest) feature point in cell
        units and a random attribute of the nearest point's cell, each (n, H, W). F1 alone is
        computed at half resolution and resized (it interpolates well, 4x cheaper); F2 - F1 has
        a sharp crease on cell borders, so asking for F2 computes at full resolution."""
        g, n = cells, self.n
        m = self.size if need_f2 else max(self.size // 2, 2)
        px, py, attr = (self.rng.random((n, g + 2, g + 2), dtype=F32) for _ in range(3))
        p = ((np.arange(m, dtype=F32) + 0.5) * g / m).astype(F32)
        i = p.astype(np.int64)
        f1 = np.full((n, m, m), 81.0, F32)
        f2, a1 = f1.copy(), np.zeros_like(f1)
        for dy in (0, 1, 2):
            cy = i + dy
            for dx in (0, 1, 2):
                cx = i + dx
                ddx = np.take(np.take(px, cx, axis=2), cy, axis=1) + (cx - 1 - p)[None, None, :]
                ddy = np.take(np.take(py, cx, axis=2), cy, axis=1) + (cy - 1 - p)[None, :, None]
                d = ddx * ddx + ddy * ddy
                closer = d < f1
                if need_f2:
                    np.minimum(f2, np.where(closer, f1, d), out=f2)
                a1 = np.where(closer, np.take(np.take(attr, cx, axis=2), cy, axis=1), a1)
                np.minimum(f1, d, out=f1)
        f2 = resize(np.sqrt(f2), self.size) if need_f2 else None
        return resize(np.sqrt(f1), self.size), f2, resize(a1, self.size, nearest=True)


def resize(a: np.ndarray, size: int, nearest: bool = False, nodes: bool = False) -> np.ndarray:
    """Resize the last two axes (m x m) to size x size. Values sit at pixel centres, or with
    nodes=True at the m grid nodes spanning the image (then smoothstep-interpolated, for noise).
    The last axis is interpolated first, on the small array; rows are then gathered whole."""
    m = a.shape[-1]
    if nodes:
        q = ((np.arange(size, dtype=F32) + 0.5) * (m - 1) / size).astype(F32)
    else:
        q = np.clip((np.arange(size, dtype=F32) + 0.5) * m / size - 0.5, 0, m - 1).astype(F32)
    if nearest:
        j = np.rint(q).astype(np.int64)
        return np.take(np.take(a, j, axis=-1), j, axis=-2)
    i = np.minimum(q.astype(np.int64), m - 2)
    t = q - i.astype(F32)
    if nodes:
        t = t * t * (3 - 2 * t)
    a0, a1 = np.take(a, i, axis=-1), np.take(a, i + 1, axis=-1)
    cols = a0 + (a1 - a0) * t
    r0, r1 = np.take(cols, i, axis=-2), np.take(cols, i + 1, axis=-2)
    return r0 + (r1 - r0) * t[:, None]


def blur(a: np.ndarray, factor: int) -> np.ndarray:
    """Strong blur of the last two axes: area-average down by `factor`, bilinear back up."""
    size = a.shape[-1]
    m = max(size // factor, 2)
    edges = np.linspace(0, size, m + 1)
    idx = np.arange(size)
    area = ((idx[None, :] >= edges[:-1, None]) & (idx[None, :] < edges[1:, None])).astype(F32)
    area /= area.sum(1, keepdims=True)
    return resize(area @ a @ area.T, size)


def disk(x, y, cx, cy, ax, ay, soft: float = 0.03, rough=None) -> np.ndarray:
    """Soft-edged ellipse mask; `rough` (noise, same shape) makes its margin irregular."""
    d = np.sqrt(((x - cx) / ax) ** 2 + ((y - cy) / ay) ** 2)
    if rough is not None:
        d = d * (1 + rough)
    sharp = np.asarray(np.minimum(ax, ay) / soft, F32)  # a float64 scalar would promote the image
    return np.clip((1 - d) * sharp + 0.5, 0, 1)


def rgb(*values: float) -> np.ndarray:
    """A colour shaped (3, 1, 1) to broadcast over channel-first (n, 3, H, W) images."""
    return np.array(values, F32)[:, None, None]


def finish(c: Canvas, img: np.ndarray, noise: tuple[float, float] = (0.01, 0.03)) -> np.ndarray:
    """Per-image contrast, brightness and sensor noise, then clip to [0, 1]. Colour images are
    channel-first (n, 3, H, W); the same grain goes into every channel."""
    gain, bias, sigma = c.u(0.85, 1.12), c.u(-0.05, 0.05), c.u(*noise)
    grain = sigma * c.noise()
    if img.ndim == 4:
        gain, bias, grain = gain[:, None], bias[:, None], grain[:, None]
    return np.clip(img * gain + (bias + grain), 0, 1)


# --------------------------------------------------------------------------- modalities


def draw_xray(c: Canvas, k: int) -> np.ndarray:
    """PA chest radiograph. 0 normal, 1 pneumonia (patchy opacity in one lung), 2 cardiomegaly."""
    x, y = c.coords(0.05, (0.92, 1.04))
    body = disk(x, y, 0, 0.25, 0.9, 1.15, 0.2)
    lungs = np.maximum(disk(x, y, -0.35, c.u(-0.08, -0.02), 0.25, c.u(0.56, 0.62), 0.07),
                       disk(x, y, 0.35, c.u(-0.08, -0.02), 0.25, c.u(0.56, 0.62), 0.07))
    hw = c.u(0.34, 0.42) if k == 2 else c.u(0.17, 0.23)
    heart = disk(x, y, c.u(0.05, 0.1), c.u(0.3, 0.36), hw, c.u(0.22, 0.27), 0.07)
    ribs = (0.5 + 0.5 * np.sin(y * 22 + np.abs(x) * 7 + c.u(0, 6.3))) ** 6
    air = lungs * (1 - heart) * (0.36 - 0.07 * ribs - 0.04 * c.smooth(12))
    dens = 0.06 + 0.55 * body - air + 0.05 * heart
    dens = dens + 0.08 * body * np.clip(1 - np.abs(x) / 0.08, 0, 1)
    if k == 1:
        patch = disk(x, y, c.sign() * c.u(0.3, 0.4), c.u(-0.25, 0.25), c.u(0.17, 0.23),
                     c.u(0.22, 0.3), 0.1) * np.clip(0.9 + 0.6 * c.smooth(6), 0.35, 1)
        dens = dens + c.u(0.4, 0.5) * patch * lungs
    return finish(c, dens, (0.01, 0.03))


def draw_ct(c: Canvas, k: int) -> np.ndarray:
    """Axial abdominal CT through the kidneys. 0 normal, 1 cyst, 2 stone, 3 tumor. The kidneys span
    about two 8 px patches each at 64 px and every lesion at least one: a dark round cyst, a cluster of
    saturated stones (denser than the vertebra), a bright heterogeneous mass that enlarges the kidney."""
    x, y = c.coords(0.04, (0.94, 1.04))
    img = 0.2 * disk(x, y, 0, 0.02, 0.86, 0.66, 0.02)
    inner = disk(x, y, 0, 0.02, 0.78, 0.58, 0.04)
    img = img + (0.2 + 0.04 * c.smooth(10)) * inner
    img = img + 0.07 * disk(x, y, -0.36, -0.2, 0.34, 0.24, 0.05)  # liver
    img = img + 0.38 * disk(x, y, 0, 0.4, 0.1, 0.09, 0.02)  # vertebral body
    img = img + 0.25 * disk(x, y, 0, 0.63, 0.95, 0.03, 0.01) * (y > 0.62)  # table
    side, ky = c.sign(), c.u(0.06, 0.14)
    for s in (-1, 1):
        img = img + 0.2 * disk(x, y, s * 0.38, ky, 0.15, 0.21, 0.03)
    kx = side * 0.38 + c.u(-0.03, 0.03)
    if k == 1:
        m = disk(x, y, kx, ky + c.u(-0.06, 0.06), *(c.u(0.12, 0.16),) * 2, 0.01)
        img = img * (1 - m) + 0.08 * m
    elif k == 2:
        for r in (c.u(0.07, 0.09), c.u(0.045, 0.06), c.u(0.045, 0.06)):  # a pelvic stone and two calyceal ones
            img = np.maximum(img, 1.3 * disk(x, y, kx + c.u(-0.06, 0.06), ky + c.u(-0.12, 0.12), r,
                                             r * c.u(0.8, 1.2), 0.01))
    elif k == 3:
        r = c.u(0.21, 0.26)
        m = inner * disk(x, y, kx + side * 0.05, ky + c.u(-0.06, 0.04), r, r * c.u(0.9, 1.15), 0.03,
                         rough=0.25 * c.smooth(6))
        img = img * (1 - m) + (0.74 + 0.14 * c.smooth(8)) * m
    return finish(c, img, (0.015, 0.035))


def draw_mri(c: Canvas, k: int) -> np.ndarray:
    """Axial T1 post-contrast brain MRI. 0 glioma, 1 meningioma, 2 pituitary tumor, 3 no tumor."""
    x, y = c.coords(0.04, (0.93, 1.04))
    head = disk(x, y, 0, 0, 0.74, 0.9, 0.02)
    skull = disk(x, y, 0, 0, 0.69, 0.85, 0.02)
    brain = disk(x, y, 0, 0, 0.65, 0.81, 0.02)
    img = 0.7 * (head - skull) + 0.08 * (skull - brain) + brain * (0.42 + 0.06 * c.smooth(12))
    vent = np.maximum(disk(x, y, -0.1, -0.05, 0.06, 0.2, 0.03), disk(x, y, 0.1, -0.05, 0.06, 0.2, 0.03))
    img = img - 0.28 * vent - 0.1 * brain * np.clip(1 - np.abs(x) / 0.015, 0, 1)
    if k == 0:
        cx, cy, r = c.sign() * c.u(0.25, 0.36), c.u(-0.4, 0.2), c.u(0.17, 0.23)
        rough = 0.2 * c.smooth(6)
        img = img - 0.12 * disk(x, y, cx, cy, 1.5 * r, 1.5 * r, 0.08, rough)
        rim = disk(x, y, cx, cy, r, r, 0.02, rough)
        core = disk(x, y, cx, cy, 0.6 * r, 0.6 * r, 0.03, rough)
        img = img * (1 - rim) + 0.9 * rim - 0.75 * core
    elif k == 1:
        a, r = c.u(-2.6, -0.55), c.u(0.14, 0.19)
        m = disk(x, y, 0.64 * np.cos(a) * (1 - 0.6 * r), 0.8 * np.sin(a) * (1 - 0.6 * r), r, r, 0.02)
        img = img * (1 - m) + (0.9 + 0.03 * c.smooth(8)) * m
    elif k == 2:
        r = c.u(0.08, 0.11)
        m = disk(x, y, c.u(-0.03, 0.03), c.u(0.3, 0.4), r, r * c.u(0.9, 1.2), 0.02)
        img = img * (1 - m) + 0.92 * m
    return finish(c, img, (0.01, 0.03))


def draw_ultrasound(c: Canvas, k: int) -> np.ndarray:
    """Breast ultrasound sector with speckle. 0 normal, 1 benign (oval, wider than tall, smooth margin,
    posterior enhancement), 2 malignant (irregular, taller than wide, posterior shadowing). The lesions
    span several 8 px patches at 64 px and their posterior bands reach the bottom of the sector, and the
    speckle grain is one pixel at full size, so it averages out when the image is downscaled."""
    x, y = c.coords(0.02, (0.97, 1.03))
    dy = y + 1.15
    rho = np.sqrt(x * x + dy * dy)
    sector = np.clip((0.6 - np.abs(x / np.maximum(dy, 1e-3))) * 40, 0, 1) * (rho > 0.3) * (rho < 2.1)
    depth = rho - 0.3
    wav = 0.08 * c.smooth(4)
    skin, fat = (depth < 0.04).astype(F32), (depth < 0.35 + wav).astype(F32)
    gland = (depth < 1.05 + wav).astype(F32)
    echo = 0.95 * skin + 0.35 * (fat - skin) + (0.7 + 0.15 * c.smooth(8)) * (gland - fat)
    echo = echo + 0.45 * (1 - gland) * (0.8 + 0.2 * np.sin(y * 30))
    if k:
        cx, cy = c.u(-0.15, 0.15), c.u(0.0, 0.25)
        ax, ay = (c.u(0.32, 0.4), c.u(0.17, 0.22)) if k == 1 else (c.u(0.18, 0.23), c.u(0.3, 0.38))
        m = disk(x, y, cx, cy, ax, ay, 0.02, None if k == 1 else 0.35 * c.smooth(10))
        below = np.clip(1.2 - np.abs(x - cx) / ax, 0, 1) * (y > cy) * np.exp(-(y - cy) * 0.8)
        echo = echo * (1 - m) + (0.1 if k == 1 else 0.03) * m
        echo = echo * (1 + (0.9 if k == 1 else -0.85) * below * (1 - m))
    a, b = (c.rng.standard_normal((c.n, c.size, c.size), dtype=F32) for _ in range(2))
    speckle = np.sqrt(a * a + b * b) * 0.8
    img = echo * speckle * np.exp(-0.45 * depth) * sector
    return finish(c, img, (0.005, 0.02)) * sector


_H = rgb(0.65, 0.70, 0.29)  # haematoxylin optical density (Ruifrok & Johnston)
_E = rgb(0.07, 0.99, 0.11)  # eosin


def draw_pathology(c: Canvas, k: int) -> np.ndarray:
    """H&E colon tissue. 0 adipose, 1 lymphocytes, 2 mucus, 3 adenocarcinoma epithelium."""
    if k == 0:
        f1, f2, _ = c.worley(5, need_f2=True)
        mem = np.clip(1 - (f2 - f1) / 0.06, 0, 1)
        h, e = 0.9 * mem * (c.smooth(16) > 0.9), 0.03 + 0.55 * mem
    elif k == 1:
        f1, _, a = c.worley(int(c.size / 7))
        nuc = np.clip((c.u(0.32, 0.4) + 0.1 * a - f1) / 0.07, 0, 1)
        h, e = 0.15 + 1.5 * nuc, 0.3 * (1 - nuc)
    elif k == 2:
        f1, _, a = c.worley(8)
        cells = np.clip((0.15 - f1) / 0.06, 0, 1) * (a > 0.85)
        wisp = np.clip(0.5 + c.smooth(4) + 0.4 * c.smooth(9), 0, 1.5)
        h, e = 0.1 + 0.2 * wisp + 1.2 * cells, 0.06 + 0.08 * wisp
    else:
        f1, _, _ = c.worley(4)
        g1, _, _ = c.worley(int(c.size / 8))
        f1 = f1 * (1 + 0.3 * c.smooth(8))
        lumen = np.clip((0.16 - f1) / 0.04, 0, 1)
        ring = np.clip((0.48 - f1) / 0.04, 0, 1) - lumen
        nuc = np.clip((0.42 - g1) / 0.08, 0, 1)
        h = ring * (0.3 + 1.4 * nuc) + 0.1 * (1 - ring - lumen)
        e = 0.12 * ring + (0.65 + 0.15 * c.smooth(10)) * (1 - ring - lumen) + 0.05 * lumen
    jitter = c.rng.uniform(-0.06, 0.06, (2, c.n, 3, 1, 1)).astype(F32)
    strength = c.u(0.85, 1.15)[:, None]
    od = (h[:, None] * (_H + jitter[0]) + e[:, None] * (_E + jitter[1])) * strength
    return finish(c, np.exp(-od), (0.005, 0.02))


def draw_fundus(c: Canvas, k: int) -> np.ndarray:
    """Colour fundus photograph. 0 normal, 1 diabetic retinopathy (haemorrhages, exudates),
    2 glaucoma (large pale optic cup), 3 cataract (blurred, hazy)."""
    x, y = c.coords(0.03, (0.97, 1.03))
    r2 = x * x + y * y
    field = np.clip((0.92 - np.sqrt(r2)) * 60, 0, 1)[:, None]
    side = c.sign()
    ox, oy, dr = side * c.u(0.36, 0.42), c.u(-0.06, 0.06), c.u(0.19, 0.22)
    macula = np.exp(-((x + side * 0.1) ** 2 + y * y) / 0.03)
    shade = (1 - 0.45 * r2 + 0.04 * c.smooth(8)) * (1 - 0.35 * macula)
    vx, vy = x - ox, y - oy
    rho = np.sqrt(vx * vx + vy * vy) + 1e-3
    phi = np.arctan2(vy, vx * side)
    vessels = 0
    for m, width, depth in ((4, 0.022, 0.5), (9, 0.01, 0.35)):
        s = np.abs(np.sin(0.5 * m * (phi + c.u(0, 6.3)) + (0.6 + 0.3 * c.smooth(3)) * rho * m / 2))
        ves = np.clip((width * (1.4 - rho) - s * rho / m * 2) / 0.006, 0, 1) * (rho > 0.5 * dr)
        vessels = np.maximum(vessels, depth * ves)
    img = rgb(0.86, 0.36, 0.13) * shade[:, None] * (1 - vessels[:, None] * rgb(0.45, 0.8, 0.8))
    disc = disk(x, y, ox, oy, dr, dr * 1.08, 0.02)
    cup_r = dr * (c.u(0.75, 0.9) if k == 2 else c.u(0.2, 0.38))
    cup = disk(x, y, ox + side * 0.01, oy, cup_r, cup_r * 1.08, 0.015)
    img = img * (1 - disc[:, None]) + (disc * (1 - cup))[:, None] * rgb(0.98, 0.78, 0.45)
    img = img + (disc * cup)[:, None] * rgb(1.0, 0.96, 0.85)
    if k == 1:
        f1, _, a = c.worley(9)
        near = np.exp(-((x + side * 0.1) ** 2 + y * y) / 0.25)
        hem = np.clip((0.3 - f1) / 0.05, 0, 1) * (a < c.u(0.25, 0.35))
        exu = np.clip((0.32 - f1) / 0.05, 0, 1) * (a > 1 - c.u(0.35, 0.5) * near)
        img = img * (1 - (0.75 * hem)[:, None] * rgb(0.3, 0.9, 0.9))
        img = img * (1 - exu[:, None]) + exu[:, None] * rgb(0.97, 0.9, 0.35)
    elif k == 3:
        haze = c.u(0.35, 0.5)[:, None]
        img = blur(img, 8) * (1 - haze) + haze * rgb(0.75, 0.62, 0.5)
    return finish(c, img * field, (0.005, 0.015)) * field


DRAWERS = {
    "xray": draw_xray, "ct": draw_ct, "mri": draw_mri,
    "ultrasound": draw_ultrasound, "pathology": draw_pathology, "fundus": draw_fundus,
}
