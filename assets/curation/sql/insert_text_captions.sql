INSERT INTO text_captions
SELECT sample_id, caption, origin, reason
FROM read_parquet($text_captions);
