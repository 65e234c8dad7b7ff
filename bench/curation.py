"""Curation at scale, and how good its near-duplicate search is on real images.

- near-duplicate search (DuckDB pigeonhole LSH + union-find clusters) over 1M and 5M random
  64-bit hashes with 5% planted near copies, each size in a fresh process (peak memory is its
  own), beside brute-force pairwise Hamming in NumPy on a sample, extrapolated (it is quadratic);
- exact dedup (exact_dedup.sql: pixel-hash groups and survivors) over 5M rows;
- curate() end to end over 1M generated rows (metadata and 1-byte images), by step;
- recall and false-positive rate of pHash at each radius: real images (pydicom-data's DICOM
  files, scikit-image's bundled images) against planted copies (JPEG q75, resized to half,
  cropped 2-5%, brightened); false positives among distinct real images and among the
  synthetic sources' images (hard negatives: images of one class look alike).

Writes bench/results/curation.json and curation.md. Usage:
    python -m bench.curation [--sizes 1000000 5000000] [--radii 4 6] [--quick]
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import resource
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timezone
from multiprocessing import get_context

import numpy as np

from assets.curation.curate import CurationParams
from assets.shared.metadata import md_table
from bench.output import write_results

THREADS = 2
PLANTED_SHARE = 0.05


def _in_fresh_process(fn, *args):
    """fn(*args) in a spawned process, so its peak RSS is its own."""
    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
        return pool.submit(fn, *args).result()


def _peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def random_hashes(n: int, radius: int, seed: int = 0) -> tuple[np.ndarray, int]:
    """n distinct random hashes (signed int64), 5% of them copies of another with 1..radius bits
    flipped; and how many planted copies lie within the radius of their original."""
    rng = np.random.default_rng(seed)
    h = rng.integers(0, 2**64, n, dtype=np.uint64)
    k = int(n * PLANTED_SHARE)
    src, dst = rng.choice(n, (2, k), replace=False)
    copies = h[src].copy()
    for _ in range(radius):  # up to `radius` flips each (a repeated bit cancels: never more)
        bits = rng.integers(0, 64, k).astype(np.uint64)
        copies ^= np.where(rng.random(k) < 0.6, np.uint64(1) << bits, np.uint64(0))
    h[dst] = copies
    within = int(((np.bitwise_count(h[src] ^ h[dst]) <= radius) & (h[src] != h[dst])).sum())
    return np.unique(h).view(np.int64), within


def near_dup_run(n: int, radius: int) -> dict:
    """The near-duplicate search and clustering over n random hashes (in a fresh process)."""
    import duckdb
    import pyarrow as pa

    from assets.curation.near_dups import connected_components, find_near_pairs
    hashes, planted = random_hashes(n, radius)
    con = duckdb.connect(config={"threads": THREADS})
    con.execute("SET enable_progress_bar = false")
    con.register("h", pa.table({"node": np.arange(len(hashes), dtype=np.uint32), "phash": hashes}))
    con.execute("CREATE TEMP TABLE phash_nodes AS SELECT * FROM h")
    con.unregister("h")
    load = os.getloadavg()[0]
    started = time.perf_counter()
    search = find_near_pairs(con, radius)
    a, b = (np.asarray(c) for c in con.execute("SELECT a, b FROM phash_edges").fetchnumpy().values())
    t_search = time.perf_counter() - started
    labels = connected_components(len(hashes), a, b)
    total = time.perf_counter() - started
    return {"n": n, "radius": radius, "seconds": round(total, 2), "search_seconds": round(t_search, 2),
            "cluster_seconds": round(total - t_search, 2), "peak_rss_mb": _peak_rss_mb(),
            "keys": search["keys"], "key_bits": search["key_bits"],
            "verified_candidates": search["verified_candidates"], "pairs": search["pairs"],
            "planted_within_radius": planted, "clusters": int(len(np.unique(labels[np.concatenate([a, b])]))),
            "load_1min": round(load, 2)}


def numpy_pairwise(n_sample: int, radius: int, n_target: list[int]) -> dict:
    """Brute-force pairwise Hamming distances in NumPy on a sample, extrapolated quadratically."""
    hashes, _ = random_hashes(n_sample, radius, seed=1)
    u = hashes.view(np.uint64)
    started = time.perf_counter()
    pairs = 0
    for i in range(0, len(u), 1000):
        d = np.bitwise_count(u[i:i + 1000, None] ^ u[None, :]) <= radius
        pairs += int(np.triu(d, i + 1).sum())
    seconds = time.perf_counter() - started
    return {"n_sample": len(u), "seconds": round(seconds, 2), "pairs": pairs,
            "extrapolated_seconds": {n: round(seconds * (n / len(u)) ** 2) for n in n_target}}


def exact_dedup_run(n: int) -> dict:
    """exact_dedup.sql over n rows with 5% exact copies (in a fresh process)."""
    import duckdb

    from assets.curation.sql_files import sql
    con = duckdb.connect(config={"threads": THREADS})
    con.execute("SET enable_progress_bar = false")
    con.execute("""
        CREATE TEMP TABLE screened AS
        SELECT 's' || i AS sample_id, i % 10 = 0 AS is_test, NULL::VARCHAR AS quality_reason, i AS keep_rank,
               sha256((CASE WHEN i % 20 = 0 THEN i // 20 ELSE i END)::VARCHAR) AS pixel_sha256,
               (hash(CASE WHEN i % 20 = 0 THEN i // 20 ELSE i END) >> 1)::BIGINT AS phash
        FROM range($n) t(i)""", {"n": n})
    load = os.getloadavg()[0]
    started = time.perf_counter()
    con.execute(sql("exact_dedup"))
    seconds = time.perf_counter() - started
    dropped = con.execute("SELECT count(*) FILTER (WHERE exact_copy) FROM participants").fetchone()[0]
    return {"n": n, "seconds": round(seconds, 2), "exact_duplicates": dropped, "peak_rss_mb": _peak_rss_mb(),
            "load_1min": round(load, 2)}


def curate_run(n: int) -> dict:
    """curate() end to end over n generated raw-sample rows (metadata and 1-byte images): 10% test,
    5% exact copies, 1% blank, a spread of sizes (in a fresh process)."""
    import duckdb

    from assets.curation.curate import curate
    with tempfile.TemporaryDirectory() as tmp:
        con = duckdb.connect()
        con.execute("SET enable_progress_bar = false")
        con.execute(f"COPY ({_RAW_ROWS}) TO '{tmp}/raw.parquet' (FORMAT parquet)", {"n": n})
        con.execute(f"COPY ({_CAPTION_ROWS}) TO '{tmp}/captions.parquet' (FORMAT parquet)")
        con.close()
        load = os.getloadavg()[0]
        stats = curate(f"{tmp}/raw.parquet", f"{tmp}/captions.parquet", f"{tmp}/pairs.parquet", f"{tmp}/log.parquet",
                       out_clusters=f"{tmp}/clusters.parquet", threads=THREADS)
    return {"n": n, "seconds": stats["seconds"], "seconds_by_step": stats["seconds_by_step"],
            "kept": stats["kept"], "dropped_by_reason": stats["dropped_by_reason"], "peak_rss_mb": _peak_rss_mb(),
            "load_1min": round(load, 2)}


_RAW_ROWS = """
SELECT 's' || i AS sample_id, 'src' || (i % 4) AS source, 'xray' AS modality, 'c' || (i % 5) AS label,
       CASE WHEN i % 10 = 3 THEN 'test' ELSE 'train' END AS split, 'classification' AS kind,
       {'bytes': 'x'::BLOB, 'path': 's' || i || '.png'} AS image, 'png' AS image_format,
       (64 + i % 200)::INT AS width, 64::INT AS height,
       sha256((CASE WHEN i % 20 = 0 THEN i // 20 ELSE i END)::VARCHAR) AS pixel_sha256,
       (hash(CASE WHEN i % 20 = 0 THEN i // 20 ELSE i END) >> 1)::BIGINT AS phash,
       100.0::FLOAT AS pixel_mean, (CASE WHEN i % 100 = 1 THEN 0 ELSE 30 END)::FLOAT AS pixel_std,
       's' || i || '.png' AS orig_path, '{}' AS provenance
FROM range($n) t(i)"""
_CAPTION_ROWS = """
SELECT 'src' || s AS source, 'c' || c AS label, 'An image of class ' || c AS caption, 'valid' AS status,
       'llm' AS origin
FROM range(4) a(s), range(5) b(c)"""


# -- recall and false positives on real images ------------------------------------------------------

# pydicom-data files that hold distinct images (one per group of files holding the same image).
DISTINCT_DICOM = ["693_UNCR.dcm", "JPEG2000_UNC.dcm", "JPGLosslessP14SV1_1s_1f_8b.dcm",
                  "MR-SIEMENS-DICOM-WithOverlays.dcm", "MR2_UNCR.dcm", "OBXXXX1A.dcm", "OT-PAL-8-face.dcm",
                  "RG1_UNCR.dcm", "RG3_UNCR.dcm", "SC_rgb.dcm", "US1_UNCR.dcm", "color-px.dcm",
                  "color3d_jpeg_baseline.dcm", "eCT_Supplemental.dcm", "gdcm-US-ALOKA-16.dcm", "liver.dcm",
                  "mlut_18.dcm", "explicit_VR-UN.dcm", "bad_sequence.dcm"]
# scikit-image's bundled images that repeat another (a gray copy, the other half of a stereo pair).
_SKIMAGE_REPEATS = {"chessboard_RGB.png", "motorcycle_right.png"}
# Tiles flatter than this (gray-level std) are background: blank images, which curation drops anyway.
_TILE_MIN_STD = 8.0


def _png(im) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


def real_images() -> tuple[list[tuple[str, object]], list[tuple[str, object]]]:
    """(originals for planted copies, distinct images for false positives) as (name, PIL image).
    Distinct: one file per pydicom-data image, every slice of emri_small, scikit-image's bundled
    images and the non-overlapping 128 px tiles of its larger ones that are not flat background."""
    import skimage
    from data_store import DataStore
    from PIL import Image

    from assets.ingest.images import normalize_image
    from assets.sources.catalog import SourceSpec
    from assets.sources.readers import read_source
    spec = SourceSpec(name="pydicom_data", modality="ct", format="dicom", location=str(DataStore().data_path),
                      options={"label_from": "none", "frames": "all"}, privacy="public")
    src = read_source(spec)
    dicom = {}
    for row in src.rows():
        if not row.get("error"):
            data = row.get("image_bytes") or open(os.path.join(src.root, row["path"]), "rb").read()
            dicom[row["path"]] = Image.open(io.BytesIO(normalize_image(data).image_bytes)).copy()
    middle = {name.split("#")[0]: name for name in sorted(dicom, key=lambda p: (p.split("#")[0], len(p), p))}
    folder = os.path.join(os.path.dirname(skimage.__file__), "data")
    photos = [(f, Image.open(os.path.join(folder, f)).convert("RGB")) for f in sorted(os.listdir(folder))
              if f.endswith((".png", ".jpg")) and f not in _SKIMAGE_REPEATS]
    originals = [(n, dicom[middle[f]]) for f in DISTINCT_DICOM if f in middle for n in [middle[f]]] + photos
    tiles = [(f"{f}@{x},{y}", im.crop((x, y, x + 128, y + 128))) for f, im in photos if min(im.size) >= 384
             for x in range(0, im.width - 127, 128) for y in range(0, im.height - 127, 128)]
    tiles = [(n, t) for n, t in tiles if np.asarray(t.convert("L")).std() >= _TILE_MIN_STD]
    slices = [(p, im) for p, im in dicom.items() if p.startswith("emri_small.dcm#")]
    return originals, originals + tiles + slices


def planted_copies(im, rng) -> list[tuple[str, bytes]]:
    """Copies of `im` that a dataset might hold twice: re-encoded, resized, cropped, brightened."""
    from PIL import Image
    w, h = im.size
    rgb = im if im.mode in ("L", "RGB") else im.convert("RGB")
    jpeg = io.BytesIO()
    rgb.save(jpeg, format="JPEG", quality=75)
    c = rng.uniform(0.02, 0.05)
    dx, dy = round(w * c), round(h * c)
    bright = np.clip(np.asarray(rgb, dtype=np.float32) * 1.15 + 8, 0, 255).astype(np.uint8)
    return [("jpeg_q75", jpeg.getvalue()),
            ("resized_half", _png(rgb.resize((max(1, w // 2), max(1, h // 2)), Image.Resampling.BILINEAR))),
            ("cropped_2_5pct_each_side", _png(rgb.crop((dx, dy, w - dx, h - dy)))),
            ("cropped_2_5pct_one_side", _png(rgb.crop((dx, 0, w, h)))),
            ("brightened_15pct", _png(Image.fromarray(bright)))]


def _synthetic_hashes() -> np.ndarray:
    from assets.ingest.images import normalize_image
    from assets.sources.synthetic import generate_synthetic_dataset
    with tempfile.TemporaryDirectory() as tmp:
        rows, _ = generate_synthetic_dataset(tmp, train_per_class=40, test_per_class=10, image_size=128, seed=0)
        return np.array([normalize_image(open(f"{tmp}/{r['path']}", "rb").read()).phash for r in rows],
                        dtype=np.int64)


def _pair_distances(hashes: np.ndarray) -> np.ndarray:
    u = hashes.view(np.uint64)
    return np.bitwise_count(u[:, None] ^ u[None, :])[np.triu_indices(len(u), 1)]


def recall_run(radii: list[int]) -> dict:
    from assets.ingest.images import hamming, normalize_image
    rng = np.random.default_rng(0)
    originals, distinct = real_images()
    distances: dict[str, list[int]] = {}
    for _, im in originals:
        base = normalize_image(_png(im)).phash
        for kind, data in planted_copies(im, rng):
            distances.setdefault(kind, []).append(hamming(base, normalize_image(data).phash))
    real_neg = _pair_distances(np.array([normalize_image(_png(im)).phash for _, im in distinct], dtype=np.int64))
    synth_neg = _pair_distances(_synthetic_hashes())
    every = np.concatenate([np.array(v) for v in distances.values()])
    table = [{"radius": r, "recall": round(float(np.mean(every <= r)), 3),
              **{k: round(float(np.mean(np.array(v) <= r)), 3) for k, v in distances.items()},
              "fpr_real": float(np.mean(real_neg <= r)), "fp_real": int((real_neg <= r).sum()),
              "fpr_synthetic": float(np.mean(synth_neg <= r)), "fp_synthetic": int((synth_neg <= r).sum())}
             for r in radii]
    return {"originals": len(originals), "copies": int(len(every)), "distinct_real": len(distinct),
            "real_pairs": int(len(real_neg)), "synthetic_pairs": int(len(synth_neg)), "by_radius": table}


def run(sizes: list[int], radii: list[int], exact_n: int, sample: int, curate_n: int) -> dict:
    default_radius = CurationParams().near_duplicate_radius
    scale = [_in_fresh_process(near_dup_run, n, r) for r in radii for n in sizes]
    baseline = {r: numpy_pairwise(sample, r, sizes) for r in radii}
    for s in scale:
        s["numpy_extrapolated_seconds"] = baseline[s["radius"]]["extrapolated_seconds"][s["n"]]
        s["speedup_vs_numpy"] = round(s["numpy_extrapolated_seconds"] / s["seconds"], 1)
    return {
        "machine": {"cpus": os.cpu_count(), "duckdb_threads": THREADS, "platform": platform.platform(),
                    "python": platform.python_version()},
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "default_radius": default_radius,
        "near_duplicate_search": scale,
        "numpy_pairwise_baseline": baseline,
        "exact_dedup": _in_fresh_process(exact_dedup_run, exact_n),
        "curate": _in_fresh_process(curate_run, curate_n),
        "recall": recall_run(list(range(0, 13, 2))),
    }


def markdown(result: dict) -> str:
    scale = md_table([(f"{s['n']:,}", s["radius"], s["seconds"], s["search_seconds"], s["cluster_seconds"],
                       s["peak_rss_mb"], s["keys"], s["key_bits"], f"{s['verified_candidates']:,}", f"{s['pairs']:,}",
                       f"{s['numpy_extrapolated_seconds']:,}", s["speedup_vs_numpy"], s["load_1min"])
                      for s in result["near_duplicate_search"]],
                     ("hashes", "radius", "s total", "s search", "s clusters", "peak RSS MB", "keys", "key bits",
                      "verified candidates", "pairs", "NumPy pairwise s (extrapolated)", "speedup", "load"))
    ex = result["exact_dedup"]
    cur = result["curate"]
    rec = result["recall"]
    kinds = [k for k in rec["by_radius"][0] if k not in ("radius", "recall") and not k.startswith("fp")]
    recall = md_table([(r["radius"], r["recall"], *(r[k] for k in kinds),
                        f"{r['fp_real']} / {rec['real_pairs']:,}", f"{r['fp_synthetic']} / {rec['synthetic_pairs']:,}")
                       for r in rec["by_radius"]],
                      ("radius", "recall", *kinds, "false pos. real", "false pos. synthetic"))
    return (f"Near-duplicate search ({result['machine']['cpus']} cores, DuckDB threads "
            f"{result['machine']['duckdb_threads']}; 5% planted near copies; load = 1-min load average):\n\n"
            f"{scale}\n\nExact dedup over {ex['n']:,} rows: {ex['seconds']} s, peak RSS {ex['peak_rss_mb']} MB "
            f"(load {ex['load_1min']}).\n\n`curate()` end to end over {cur['n']:,} rows: {cur['seconds']} s, peak RSS "
            f"{cur['peak_rss_mb']} MB (load {cur['load_1min']}); by step: {cur['seconds_by_step']}.\n\n"
            f"Recall on {rec['copies']} planted copies of {rec['originals']} real images; "
            f"false positives among {rec['distinct_real']} distinct real images and among synthetic images "
            f"(default radius {result['default_radius']}):\n\n{recall}\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 5_000_000])
    parser.add_argument("--radii", type=int, nargs="+", default=[4, 6])
    parser.add_argument("--exact-rows", type=int, default=5_000_000)
    parser.add_argument("--curate-rows", type=int, default=1_000_000, help="rows of the end-to-end curate() run")
    parser.add_argument("--sample", type=int, default=20_000, help="hashes in the NumPy pairwise baseline")
    parser.add_argument("--quick", action="store_true", help="100k hashes, 500k exact rows: a smoke run")
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.exact_rows, args.sample, args.curate_rows = [100_000], 500_000, 5_000, 100_000
    result = run(args.sizes, args.radii, args.exact_rows, args.sample, args.curate_rows)
    text = markdown(result)
    write_results("curation", result, text)
    print(text)


if __name__ == "__main__":
    main()
