-- Their distinct hashes, as nodes for the near-duplicate search.
CREATE OR REPLACE TEMP TABLE phash_nodes AS
SELECT (row_number() OVER (ORDER BY phash) - 1)::UINTEGER AS node, phash
FROM (SELECT DISTINCT phash FROM curated);
