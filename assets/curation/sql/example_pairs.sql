-- A few near-duplicate pairs to look at: the farthest apart first, so the radius can be judged.
SELECT d.reason, d.hamming_distance, d.sample_id, d.source, d.orig_path,
       d.duplicate_of, o.source AS duplicate_of_source, o.orig_path AS duplicate_of_path
FROM decisions d
JOIN samples o ON o.sample_id = d.duplicate_of
WHERE d.reason IN ('near_duplicate', 'evaluation_near_duplicate')
ORDER BY d.hamming_distance DESC, d.sample_id
LIMIT $n;
