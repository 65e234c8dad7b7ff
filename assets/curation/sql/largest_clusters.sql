-- The largest clusters, each in one line.
SELECT cluster_id, any_value(cluster_size) AS size,
       count(*) FILTER (WHERE outcome = 'kept') AS kept,
       string_agg(DISTINCT source, ', ' ORDER BY source) AS sources,
       string_agg(DISTINCT split, ', ' ORDER BY split) AS splits,
       max(hamming_distance) AS max_distance
FROM clusters
GROUP BY cluster_id
ORDER BY size DESC, cluster_id
LIMIT $n;
