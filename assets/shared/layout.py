"""Where each asset keeps its files, relative to the storage root. Downstream assets read these."""

SOURCE_CATALOG = "sources/catalog.json"
SYNTHETIC_SOURCE = "sources/synthetic"
# raw_samples: one folder of part files per source (partition), and its quarantine; each folder's
# _parts.json names the parts of its last complete ingest (see assets/ingest/chunked.py).
RAW_SAMPLES = "raw_samples/samples"
QUARANTINE = "raw_samples/quarantine"
PARTS_MANIFEST = "_parts.json"
# Beside a clinical source's parts: its identifiers as keyed digests, which the export's check reads.
IDENTIFIER_DIGESTS = "_identifiers.parquet"
CLASS_CAPTIONS = "captions/class_captions.parquet"
# One Parquet file per caption set, named by its cache key (see assets/captions/cache.py).
CAPTION_CACHE = "captions/cache"
# native_text_captions: one row per image-text sample; its LLM condensations cached by text (see
# assets/captions/condense_cache.py).
NATIVE_TEXT_CAPTIONS = "captions/native_text_captions.parquet"
CONDENSE_CACHE = "captions/condense_cache"
MODEL_CACHE = "models"  # converted model weights (a local storage root only)
CURATED_PAIRS = "curated/curated_pairs.parquet"
CURATION_LOG = "curated/curation_log.parquet"
NEAR_DUPLICATE_CLUSTERS = "curated/near_duplicate_clusters.parquet"
SHARDS = "shards"
# Beside the shards: what the source mixture did per source (written by the export in every shards
# folder under this name), and the data card of the exported dataset (.json and .md).
SHARDS_MIXTURE = "shards/mixture.json"
DATA_CARD_JSON = "shards/data_card.json"
DATA_CARD_MD = "shards/data_card.md"
TRAINING = "training"
# clip_model's open_clip run under TRAINING (its logs, checkpoints and run pointer).
TRAINING_RUN = "clip"
# shuffled_control: the curated pairs with training captions shuffled against images, their shards,
# and its open_clip run under TRAINING (beside clip_model's, with its run pointer).
SHUFFLED_CONTROL_PAIRS = "shuffled_control/shuffled_pairs.parquet"
SHUFFLED_CONTROL_SHARDS = "shuffled_control/shards"
SHUFFLED_CONTROL_RUN = "shuffled_control"
REPORT = "report"
