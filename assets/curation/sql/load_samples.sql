-- Sample metadata (no image bytes) from every raw_samples Parquet file.
CREATE OR REPLACE TEMP TABLE samples AS
SELECT sample_id, source, modality, label, split, width, height,
       pixel_sha256, phash, pixel_mean, pixel_std,
       kind
FROM read_parquet($raw_samples, union_by_name = true);
