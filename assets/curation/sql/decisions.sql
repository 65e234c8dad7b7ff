-- Every sample gets exactly one decision: kept (reason NULL) or dropped with the first reason
-- that applies; duplicates name the sample they duplicate and the Hamming distance to it.
CREATE OR REPLACE TEMP TABLE decisions AS
WITH d AS (
    SELECT s.sample_id, s.source, s.modality, s.label, s.split, s.kind, s.orig_path, s.phash,
           s.pixel_sha256, s.caption, s.caption_origin, s.patient_test_id,
           CASE
               WHEN s.quality_reason IS NOT NULL THEN s.quality_reason
               WHEN NOT s.is_test AND ep.test_id IS NOT NULL THEN 'evaluation_duplicate'
               WHEN NOT s.is_test AND en.test_id IS NOT NULL THEN 'evaluation_near_duplicate'
               WHEN e.exact_copy THEN 'exact_duplicate'
               WHEN r.kept_id <> s.sample_id THEN 'near_duplicate'
           END AS reason,
           ep.test_id AS ep_id, en.test_id AS en_id, en.distance AS en_distance,
           e.exact_survivor, r.kept_id, r.distance AS kept_distance
    FROM screened s
    LEFT JOIN participants e USING (sample_id)
    LEFT JOIN phash_nodes n ON n.phash = s.phash
    LEFT JOIN evaluation_pixels ep ON ep.pixel_sha256 = s.pixel_sha256
    LEFT JOIN evaluation_nodes en ON en.node = n.node
    LEFT JOIN near_keep r USING (sample_id)
)
SELECT sample_id, source, modality, label, split, kind, orig_path, phash, pixel_sha256, caption, caption_origin, reason,
       CASE reason WHEN 'evaluation_duplicate' THEN ep_id WHEN 'evaluation_near_duplicate' THEN en_id
                   WHEN 'exact_duplicate' THEN exact_survivor WHEN 'near_duplicate' THEN kept_id
                   WHEN 'evaluation_patient' THEN patient_test_id END AS duplicate_of,
       CASE reason WHEN 'evaluation_duplicate' THEN 0 WHEN 'evaluation_near_duplicate' THEN en_distance
                   WHEN 'exact_duplicate' THEN 0 WHEN 'near_duplicate' THEN kept_distance
       END::UTINYINT AS hamming_distance
FROM d;
