-- What is left to deduplicate, in keep order (best first), each member with its vertex: the input
-- of keep_set (near_dups.py).
SELECT m.sample_id, v.vertex, m.phash
FROM dedup_members m
JOIN dedup_vertices v ON v.node = m.node AND v.is_test = m.is_test
ORDER BY m.keep_rank;
