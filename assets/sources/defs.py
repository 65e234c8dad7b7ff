"""Sources: the catalog of datasets to ingest (one partition each) and the embedded default."""

import json

import dagster as dg

from assets.shared import layout
from assets.shared.files import atomic_write, url_to_fs
from assets.shared.metadata import md_table
from assets.shared.storage import StorageResource
from assets.sources.catalog import catalog_version, partition_changes
from assets.sources.check import check_catalog, check_markdown
from assets.sources.fingerprint import source_fingerprint
from assets.sources.readers import SourceError
from assets.sources.resource import SourceCatalogResource
from assets.sources.synthetic import ensure_synthetic_dataset

# One partition of raw_samples per catalog source; source_catalog (or the catalog sensor) keeps
# the set equal to the catalog's sources.
source_partitions = dg.DynamicPartitionsDefinition(name="sources")


class SyntheticSourceConfig(dg.Config):
    # Images per class in each split.
    train_per_class: int = 60
    test_per_class: int = 20
    # Side of the square images, in pixels.
    image_size: int = 128
    seed: int = 0


class SourceCatalogConfig(dg.Config):
    # The check in metadata (assets/sources/check.py): rows read per source (0: all), and how many of
    # the image files they name are looked for.
    check_rows: int = 200
    check_images: int = 20


@dg.asset(group_name="sources", kinds={"yaml", "json"}, code_version="1")
def source_catalog(context: dg.AssetExecutionContext, config: SourceCatalogConfig, catalog: SourceCatalogResource,
                   storage: StorageResource) -> dg.MaterializeResult:
    """The validated source catalog: every dataset to ingest with its modality, kind, format,
    location, classes, split rule, license and fingerprint, and whether each is there and readable;
    its sources are raw_samples' partitions."""
    specs = catalog.sources()
    checks = check_catalog(specs, synthetic_dir=storage.location(layout.SYNTHETIC_SOURCE),
                           rows=config.check_rows, images=config.check_images)
    # A clinical source's location may name a patient or a ward: neither the snapshot nor the UI shows it.
    snapshot = [{**spec.to_dict(), "fingerprint": spec.fingerprint(),
                 **({"location": spec.shown_location()} if spec.clinical else {})} for spec in specs]
    out_path = storage.path(layout.SOURCE_CATALOG)
    fs, path = url_to_fs(out_path)
    atomic_write(fs, path, json.dumps(snapshot, indent=1, sort_keys=True).encode())
    added, removed = partition_changes(context.instance.get_dynamic_partitions(source_partitions.name),
                                       [spec.name for spec in specs])
    context.instance.add_dynamic_partitions(source_partitions.name, added)
    for name in removed:
        context.instance.delete_dynamic_partition(source_partitions.name, name)
    return dg.MaterializeResult(
        metadata={
            "catalog": dg.MetadataValue.path(catalog.path),
            "num_sources": len(specs),
            "partitions_added": dg.MetadataValue.json(added),
            "partitions_removed": dg.MetadataValue.json(removed),
            "path": dg.MetadataValue.path(out_path),
            "sources": dg.MetadataValue.md(md_table(
                [(s.name, s.modality, s.kind, s.format, len(s.classes),
                  s.shown_location() if s.clinical else s.location, s.privacy, s.license) for s in specs],
                ("source", "modality", "kind", "format", "classes", "location", "privacy", "license"))),
            # Found or missing, rows read and what ingest would quarantine, the first problems.
            "check": dg.MetadataValue.md(check_markdown(checks)),
            "sources_not_ready": dg.MetadataValue.json([c.source for c in checks if not c.ready]),
        },
        data_version=dg.DataVersion(catalog_version(specs)),
    )


@dg.asset(group_name="sources", kinds={"python", "png"}, code_version="5")
def synthetic_source(context: dg.AssetExecutionContext, config: SyntheticSourceConfig,
                     storage: StorageResource) -> dg.MaterializeResult:
    """The embedded default dataset: synthetic X-ray, CT, MRI, ultrasound, pathology and fundus
    images of real clinical classes, with train and test splits (plainly synthetic)."""
    out_dir = storage.dir(layout.SYNTHETIC_SOURCE)
    rows, stats, skipped = ensure_synthetic_dataset(
        out_dir, code_version=context.assets_def.code_versions_by_key[context.asset_key],
        train_per_class=config.train_per_class, test_per_class=config.test_per_class,
        image_size=config.image_size, seed=config.seed,
    )
    return dg.MaterializeResult(
        metadata={
            "num_images": len(rows),
            # True when the files of these settings were already there (left untouched).
            "unchanged": skipped,
            "path": dg.MetadataValue.path(out_dir),
            "by_source": dg.MetadataValue.json(stats),
            "preview": dg.MetadataValue.md(
                md_table([(r["source"], r["label"], r["split"], r["path"]) for r in rows[:10]],
                         ("source", "label", "split", "path"))
            ),
        }
    )


@dg.observable_source_asset(partitions_def=source_partitions, group_name="sources",
                            description="The files of each catalog source, observed: its data version is a "
                                        "fingerprint of the entry and of every file's name, size and time or ETag.")
def source_files(context: dg.AssetExecutionContext, catalog: SourceCatalogResource) -> dg.DataVersionsByPartition:
    names = set(context.instance.get_dynamic_partitions(source_partitions.name))
    versions = {}
    for spec in catalog.sources():
        if spec.name in names:
            try:
                versions[spec.name] = source_fingerprint(spec)
            except SourceError as e:  # its ingest fails with this reason; the others are observed
                context.log.warning(str(e))
    return dg.DataVersionsByPartition(versions)
