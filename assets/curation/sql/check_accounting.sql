-- The counts the curation's own stats do not give, read back from the files: rows of the raw
-- samples, of the kept pairs and of the log, and the input samples not found exactly once among
-- the pairs and the log plus the output rows that are no input sample (0 expected).
WITH outputs AS (
    SELECT sample_id FROM read_parquet($pairs)
    UNION ALL SELECT sample_id FROM read_parquet($log)
),
seen AS (SELECT sample_id, count(*) AS n FROM outputs GROUP BY sample_id),
inputs AS (SELECT DISTINCT sample_id FROM read_parquet($raw_samples, union_by_name = true))
SELECT
    (SELECT count(*) FROM read_parquet($raw_samples, union_by_name = true)) AS raw_rows,
    (SELECT count(*) FROM read_parquet($pairs)) AS curated_rows,
    (SELECT count(*) FROM read_parquet($log)) AS log_rows,
    (SELECT count(*) FROM inputs i FULL OUTER JOIN seen s USING (sample_id)
      WHERE i.sample_id IS NULL OR s.n IS DISTINCT FROM 1) AS unaccounted_samples;
