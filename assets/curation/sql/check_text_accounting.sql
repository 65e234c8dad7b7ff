-- The image-text samples against native_text_captions, read back from the files: raw image-text
-- samples not found exactly once among its rows plus rows that are no raw image-text sample, and
-- its rows without a caption that the curation log does not hold with that row's reason (0 expected).
WITH raw AS (
    SELECT DISTINCT sample_id FROM read_parquet($raw_samples, union_by_name = true) WHERE kind = 'image_text'
),
text AS (SELECT sample_id, caption, reason FROM read_parquet($text_captions)),
seen AS (SELECT sample_id, count(*) AS n FROM text GROUP BY sample_id)
SELECT
    (SELECT count(*) FROM raw i FULL OUTER JOIN seen s USING (sample_id)
      WHERE i.sample_id IS NULL OR s.n IS DISTINCT FROM 1) AS unmatched_text_captions,
    (SELECT count(*) FROM text WHERE caption IS NULL) AS text_without_caption,
    (SELECT count(*) FROM text t
      WHERE t.caption IS NULL
        AND NOT EXISTS (SELECT 1 FROM read_parquet($log) l WHERE l.sample_id = t.sample_id AND l.reason = t.reason)
    ) AS text_drops_not_logged;
