-- Input samples not found exactly once among the kept pairs and the log, plus output rows that
-- are no input sample (0 expected).
WITH outputs AS (
    SELECT sample_id FROM read_parquet($pairs)
    UNION ALL SELECT sample_id FROM read_parquet($log)
),
seen AS (SELECT sample_id, count(*) AS n FROM outputs GROUP BY sample_id),
inputs AS (SELECT DISTINCT sample_id FROM read_parquet($raw_samples, union_by_name = true))
SELECT count(*)
FROM inputs i FULL OUTER JOIN seen s USING (sample_id)
WHERE i.sample_id IS NULL OR s.n IS DISTINCT FROM 1;
