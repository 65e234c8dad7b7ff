-- Kept training samples within the radius of a kept evaluation sample (0 expected).
WITH links AS (
    SELECT a AS x, b AS y FROM phash_edges
    UNION ALL SELECT b, a FROM phash_edges
    UNION ALL SELECT node, node FROM phash_nodes
),
test_nodes AS (
    SELECT DISTINCT n.node FROM curated c JOIN phash_nodes n USING (phash) WHERE c.is_test
)
SELECT count(DISTINCT c.sample_id)
FROM curated c
JOIN phash_nodes n USING (phash)
JOIN links l ON l.x = n.node
JOIN test_nodes t ON t.node = l.y
WHERE NOT c.is_test;
