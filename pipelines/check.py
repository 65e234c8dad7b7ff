"""`python -m pipelines.check`: whether the catalog's sources are there and readable, before a long run.

    python -m pipelines.check [--catalog PATH] [--data-root DIR] [--limit N] [--images N] [--json]

The catalog is the one the pipeline reads (MEDPAIRS_CATALOG, default pipelines/catalog.yaml), its
`${MEDPAIRS_DATA_ROOT}` locations under MEDPAIRS_DATA_ROOT; --catalog and --data-root set them here.
Per source (assets/sources/check.py): found or missing, with the location it expected (never a
clinical source's) and where to get it (the entry's `download`); the files under its root; its
first N rows read through its reader (no image decoded), how many pass its filter and how many
ingest would quarantine by reason; whether the image files the first rows name exist (a wrong
`image_root`); the first problems. A table in the terminal, or JSON with --json (for CI).

Exit status: 0 when every source is found and readable and every checked image exists (an embedded
synthetic source not drawn yet counts: sources_job draws it); 1 when any source is not (every other
source is still checked); 2 when the catalog itself cannot be loaded.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from assets.shared import layout
from assets.shared.storage import StorageResource
from assets.sources.catalog_yaml import CatalogError, load_catalog
from assets.sources.check import IMAGES, ROWS, check_catalog, details, summary_table
from pipelines.environment import catalog_and_storage_root


def text_table(header: tuple[str, ...], rows: list[tuple]) -> list[str]:
    """The rows as aligned columns under their header."""
    cells = [tuple(map(str, header)), *(tuple(map(str, r)) for r in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in cells]
    return [lines[0], "  ".join("-" * w for w in widths), *lines[1:]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--catalog", help="the source catalog (default: MEDPAIRS_CATALOG, else pipelines/catalog.yaml)")
    parser.add_argument("--data-root", help="the folder ${MEDPAIRS_DATA_ROOT} stands for in the catalog's locations")
    parser.add_argument("--limit", type=int, default=ROWS, help=f"rows read per source (default {ROWS}; 0: all)")
    parser.add_argument("--images", type=int, default=IMAGES,
                        help=f"image files per source whose existence is checked (default {IMAGES})")
    parser.add_argument("--json", action="store_true", help="print JSON (one object per source) instead of a table")
    args = parser.parse_args(argv)
    if args.data_root:
        os.environ["MEDPAIRS_DATA_ROOT"] = os.path.abspath(args.data_root)
    catalog, storage_root = catalog_and_storage_root(os.environ)
    catalog = args.catalog or catalog
    try:
        specs = load_catalog(catalog)
    except (CatalogError, OSError) as e:
        print(f"the catalog {catalog} cannot be used:\n{e}", file=sys.stderr)
        return 2
    checks = check_catalog(specs, synthetic_dir=StorageResource(root=storage_root).location(layout.SYNTHETIC_SOURCE),
                           rows=args.limit, images=args.images)
    ready = all(c.ready for c in checks)
    if args.json:
        print(json.dumps({"catalog": catalog, "ready": ready, "sources": [c.to_dict() for c in checks]}, indent=1))
        return 0 if ready else 1
    print(f"catalog {catalog}: {len(checks)} sources, first {args.limit or 'all'} rows of each\n")
    print("\n".join(text_table(*summary_table(checks))))
    for check in checks:
        lines = details(check)
        if lines:
            print(f"\n{check.source} ({check.status}):" + "".join(f"\n  {line}" for line in lines))
    not_ready = [c.source for c in checks if not c.ready]
    print("\n" + (f"not ready: {', '.join(not_ready)}" if not_ready else "every source is found and readable"))
    return 0 if ready else 1


if __name__ == "__main__":
    sys.exit(main())
