-- Valid class captions within the caption length bounds, per (source, label), in a stable order,
-- and the origin of each (llm, template).
CREATE OR REPLACE TEMP TABLE class_caption_sets AS
SELECT source, label, list(caption ORDER BY origin, caption) AS captions,
       list(origin ORDER BY origin, caption) AS origins
FROM read_parquet($class_captions)
WHERE status = 'valid' AND word_count(caption) BETWEEN $min_caption_words AND $max_caption_words
GROUP BY source, label;
