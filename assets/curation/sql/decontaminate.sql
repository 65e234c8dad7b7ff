-- Decontamination. Nodes (distinct hashes) linked to themselves and to every node within the radius.
CREATE OR REPLACE TEMP TABLE node_links AS
SELECT a AS x, b AS y, distance FROM phash_edges
UNION ALL SELECT b, a, distance FROM phash_edges
UNION ALL SELECT node, node, 0 FROM phash_nodes;

-- Each node within the radius of an evaluation (test) image, with the nearest one (then the best-ranked).
CREATE OR REPLACE TEMP TABLE evaluation_nodes AS
SELECT l.x AS node, arg_min(t.sample_id, (l.distance, t.keep_rank)) AS test_id, min(l.distance) AS distance
FROM participants t
JOIN phash_nodes n ON n.phash = t.phash
JOIN node_links l ON l.y = n.node
WHERE t.is_test AND NOT t.exact_copy
GROUP BY l.x;

-- Each training pixel hash equal to an evaluation image's, with that (best-ranked) test image.
CREATE OR REPLACE TEMP TABLE evaluation_pixels AS
SELECT pixel_sha256, exact_survivor AS test_id
FROM participants
WHERE is_test AND NOT exact_copy;

-- What is left to deduplicate, as (side, node) vertices: viable test survivors, and training
-- survivors outside every evaluation node.
CREATE OR REPLACE TEMP TABLE dedup_members AS
SELECT e.sample_id, e.is_test, e.phash, e.keep_rank, n.node
FROM participants e
JOIN screened s USING (sample_id)
JOIN phash_nodes n ON n.phash = e.phash
WHERE NOT e.exact_copy AND s.quality_reason IS NULL
  AND (e.is_test OR n.node NOT IN (SELECT node FROM evaluation_nodes));

CREATE OR REPLACE TEMP TABLE dedup_vertices AS
SELECT (row_number() OVER (ORDER BY is_test, node) - 1)::UINTEGER AS vertex, is_test, node
FROM (SELECT DISTINCT is_test, node FROM dedup_members);
