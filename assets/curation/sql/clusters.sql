-- The inspectable clusters: connected components of every exact and near-duplicate link among
-- the samples that took part (both sides together), with each member's outcome. Singletons left out.
CREATE OR REPLACE TEMP TABLE clusters AS
WITH members AS (
    SELECT c.component AS cluster_id, d.*
    FROM decisions d
    JOIN participants e USING (sample_id)
    JOIN phash_nodes n ON n.phash = d.phash
    JOIN node_components c ON c.node = n.node
)
SELECT * FROM (
    SELECT cluster_id, count(*) OVER (PARTITION BY cluster_id) AS cluster_size,
           sample_id, source, modality, split, kind, orig_path, phash, pixel_sha256,
           coalesce(reason, 'kept') AS outcome, duplicate_of, hamming_distance
    FROM members
)
WHERE cluster_size > 1;
