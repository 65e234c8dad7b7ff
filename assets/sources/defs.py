"""The embedded default source: a seeded, six-modality synthetic dataset."""

import dagster as dg

from assets import layout
from assets.metadata import md_table
from assets.sources.synthetic import generate_synthetic_dataset
from pipelines.resources import StorageResource


class SyntheticSourceConfig(dg.Config):
    # Images per class in each split.
    train_per_class: int = 60
    test_per_class: int = 20
    # Side of the square images, in pixels.
    image_size: int = 128
    seed: int = 0


@dg.asset(group_name="sources", kinds={"python", "png"}, code_version="1")
def synthetic_source(config: SyntheticSourceConfig, storage: StorageResource) -> dg.MaterializeResult:
    """The embedded default dataset: synthetic X-ray, CT, MRI, ultrasound, pathology and fundus
    images of real clinical classes, with train and test splits (plainly synthetic)."""
    out_dir = storage.dir(layout.SYNTHETIC_SOURCE)
    rows, stats = generate_synthetic_dataset(
        out_dir,
        train_per_class=config.train_per_class,
        test_per_class=config.test_per_class,
        image_size=config.image_size,
        seed=config.seed,
    )
    return dg.MaterializeResult(
        metadata={
            "num_images": len(rows),
            "path": dg.MetadataValue.path(out_dir),
            "by_source": dg.MetadataValue.json(stats),
            "preview": dg.MetadataValue.md(
                md_table([(r["source"], r["label"], r["split"], r["path"]) for r in rows[:10]],
                         ("source", "label", "split", "path"))
            ),
        }
    )
