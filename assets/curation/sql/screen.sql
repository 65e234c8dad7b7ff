-- Quality filters on statistics stored at ingest (no image is read): the first failing check is
-- the sample's reason. Caption checks: an image-text sample's own caption (any split; one its text
-- did not give is dropped with the reason why); a classification training sample needs one valid
-- class caption within the length bounds. Last, a training sample of a patient (study, volume)
-- with a test image is dropped as evaluation_patient, before dedup, so that it never stands for
-- the copies of others. keep_rank orders samples by the keep rule: passing samples first,
-- image-text over classification, larger images, source priority (position in $source_priority,
-- unlisted last), then sample_id.
CREATE OR REPLACE TEMP TABLE screened AS
WITH checked AS (
    SELECT s.*,
           CASE
               WHEN least(s.width, s.height) < $min_side THEN 'too_small'
               WHEN greatest(s.width, s.height) > $max_aspect_ratio * least(s.width, s.height) THEN 'bad_aspect_ratio'
               WHEN s.pixel_std < $min_pixel_std THEN 'blank_image'
               WHEN s.text_reason IS NOT NULL THEN s.text_reason
               WHEN s.kind = 'image_text' AND word_count(s.caption) < $min_caption_words THEN 'caption_too_short'
               WHEN s.kind = 'image_text' AND word_count(s.caption) > $max_caption_words THEN 'caption_too_long'
               WHEN s.kind <> 'image_text' AND NOT s.is_test AND c.captions IS NULL THEN 'no_valid_caption'
               WHEN NOT s.is_test AND eg.test_id IS NOT NULL THEN 'evaluation_patient'
           END AS quality_reason,
           eg.test_id AS patient_test_id,
           -- A classification sample's caption set is "llm" where an LLM wrote any of it, else "template".
           CASE WHEN s.kind = 'image_text' THEN s.text_origin
                WHEN list_contains(c.origins, 'llm') THEN 'llm'
                WHEN len(c.origins) > 0 THEN 'template' END AS caption_origin
    FROM samples s
    LEFT JOIN class_caption_sets c USING (source, label)
    LEFT JOIN sample_groups g ON g.sample_id = s.sample_id
    LEFT JOIN evaluation_groups eg ON eg.source = g.source AND eg.group_id = g.group_id
)
SELECT *,
       row_number() OVER (ORDER BY quality_reason IS NULL DESC, kind = 'image_text' DESC,
                          width::BIGINT * height DESC,
                          coalesce(list_position($source_priority, source), 2147483647), sample_id) AS keep_rank
FROM checked;
