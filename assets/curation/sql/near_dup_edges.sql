-- Each pair once.
CREATE OR REPLACE TEMP TABLE phash_edges AS
SELECT DISTINCT a, b, distance FROM phash_candidates;
DROP TABLE phash_candidates;
