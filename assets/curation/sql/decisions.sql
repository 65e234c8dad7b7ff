-- Every sample gets exactly one decision: kept (reason NULL) or dropped with a reason.
CREATE OR REPLACE TEMP TABLE decisions AS
SELECT r.sample_id, r.source, r.modality, r.label, r.split,
       CASE
           WHEN r.rank_in_group > 1 AND r.split <> 'test' AND r.survivor_split = 'test'
               THEN 'evaluation_duplicate'
           WHEN r.rank_in_group > 1 THEN 'exact_duplicate'
           WHEN r.split <> 'test' AND c.captions IS NULL THEN 'no_valid_caption'
       END AS reason,
       CASE WHEN r.rank_in_group > 1 THEN r.survivor_id END AS duplicate_of
FROM exact_ranked r
LEFT JOIN class_caption_sets c USING (source, label);
