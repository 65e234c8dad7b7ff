-- Exact duplicates: groups of equal decoded-pixel hash on each side, the best-ranked survives.
-- Who takes part: every sample that passed screening, and every test sample (all evaluation
-- images protect training, even those screening drops from the evaluation set).
-- (A GROUP BY over the groups of copies only, then a join: cheaper than a window over all rows.)
CREATE OR REPLACE TEMP TABLE exact_groups AS
SELECT is_test, pixel_sha256, arg_min(sample_id, keep_rank) AS survivor
FROM screened
WHERE quality_reason IS NULL OR is_test
GROUP BY is_test, pixel_sha256
HAVING count(*) > 1;

CREATE OR REPLACE TEMP TABLE participants AS
SELECT s.sample_id, s.is_test, s.pixel_sha256, s.phash, s.keep_rank,
       coalesce(g.survivor, s.sample_id) AS exact_survivor,
       coalesce(g.survivor <> s.sample_id, false) AS exact_copy
FROM screened s
LEFT JOIN exact_groups g USING (is_test, pixel_sha256)
WHERE s.quality_reason IS NULL OR s.is_test;

-- The near-duplicate search runs on distinct hashes of the exact survivors: equal hashes are one node.
CREATE OR REPLACE TEMP TABLE phash_nodes AS
SELECT (row_number() OVER (ORDER BY phash) - 1)::UINTEGER AS node, phash
FROM (SELECT DISTINCT phash FROM participants WHERE NOT exact_copy);
