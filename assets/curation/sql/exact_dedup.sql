-- One survivor per decoded-pixel hash. Keep rule: evaluation (test) images first, so a training
-- copy of an evaluation image is what gets dropped; then image-text over classification samples,
-- then the larger image, then the smallest sample_id (deterministic).
CREATE OR REPLACE TEMP TABLE exact_ranked AS
SELECT *,
       first_value(sample_id) OVER w AS survivor_id,
       first_value(split) OVER w AS survivor_split,
       row_number() OVER w AS rank_in_group
FROM samples
WINDOW w AS (
    PARTITION BY pixel_sha256
    ORDER BY (split = 'test') DESC, (kind = 'image_text') DESC, width * height DESC, sample_id
    ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
);
