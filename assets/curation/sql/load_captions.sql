-- Valid captions per (source, label), in a stable order.
CREATE OR REPLACE TEMP TABLE class_caption_sets AS
SELECT source, label, list(caption ORDER BY origin, caption) AS captions
FROM read_parquet($class_captions)
WHERE status = 'valid'
GROUP BY source, label;
