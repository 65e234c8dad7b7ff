-- Training pairs whose patient (study, volume), read from the raw samples, has an evaluation pair;
-- must be 0 (training: every split but test).
WITH groups AS (
    SELECT sample_id, source, group_id
    FROM read_parquet($raw_samples, union_by_name = true)
    WHERE group_id IS NOT NULL
), pairs AS (
    SELECT g.source, g.group_id, coalesce(p.split = 'test', false) AS is_test
    FROM read_parquet($pairs) p
    JOIN groups g USING (sample_id)
)
SELECT count(*)
FROM pairs tr
WHERE NOT tr.is_test
  AND EXISTS (SELECT 1 FROM pairs te WHERE te.is_test AND te.source = tr.source AND te.group_id = tr.group_id);
