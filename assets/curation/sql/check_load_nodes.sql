-- The curated pairs' hashes and sides, for the near-duplicate check.
CREATE OR REPLACE TEMP TABLE curated AS
SELECT sample_id, coalesce(split = 'test', false) AS is_test, phash FROM read_parquet($pairs);
