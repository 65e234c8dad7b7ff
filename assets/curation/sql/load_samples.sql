-- Sample metadata (no image bytes) from every raw_samples Parquet file. An image-text sample's
-- own caption comes from its ingest provenance (the reader's row). Training side = every split
-- but test; evaluation side = test.
CREATE OR REPLACE TEMP TABLE samples AS
SELECT sample_id, source, modality, label, split, coalesce(kind, 'classification') AS kind,
       width, height, pixel_sha256, phash, pixel_mean, pixel_std, orig_path,
       CASE WHEN kind = 'image_text' THEN json_extract_string(provenance, '$.row.caption') END AS caption,
       coalesce(split = 'test', false) AS is_test
FROM read_parquet($raw_samples, union_by_name = true);
