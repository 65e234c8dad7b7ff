-- One LSH key: hashes that agree on every bit of $mask meet in a hash join on `phash & $mask`;
-- the pairs among them within $radius bits are kept.
INSERT INTO phash_candidates
WITH keyed AS (SELECT node, phash, phash & $mask AS key FROM phash_nodes)
SELECT x.node, y.node, bit_count(xor(x.phash, y.phash))
FROM keyed x JOIN keyed y ON x.key = y.key AND x.node < y.node
WHERE bit_count(xor(x.phash, y.phash)) <= $radius;
