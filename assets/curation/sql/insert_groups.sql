INSERT INTO sample_groups
SELECT sample_id, source, group_id
FROM read_parquet($raw_samples, union_by_name = true)
WHERE group_id IS NOT NULL;
