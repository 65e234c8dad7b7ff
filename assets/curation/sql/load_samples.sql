-- Sample metadata (no image bytes) from every raw_samples Parquet file. An image-text sample's
-- caption and its origin come from text_captions; text_reason is why it has none (that table's
-- reason, or no_text_caption where the table has no row for it). Training side = every split but
-- test; evaluation side = test.
CREATE OR REPLACE TEMP TABLE samples AS
SELECT r.sample_id, r.source, r.modality, r.label, r.split, coalesce(r.kind, 'classification') AS kind,
       r.width, r.height, r.pixel_sha256, r.phash, r.pixel_mean, r.pixel_std, r.orig_path,
       CASE WHEN r.kind = 'image_text' THEN t.caption END AS caption,
       CASE WHEN r.kind = 'image_text' THEN t.origin END AS text_origin,
       CASE WHEN r.kind IS DISTINCT FROM 'image_text' THEN NULL
            WHEN t.sample_id IS NULL THEN 'no_text_caption'
            WHEN word_count(t.caption) = 0 THEN coalesce(t.reason, 'empty_caption') END AS text_reason,
       coalesce(r.split = 'test', false) AS is_test
FROM read_parquet($raw_samples, union_by_name = true) r
LEFT JOIN text_captions t USING (sample_id);
