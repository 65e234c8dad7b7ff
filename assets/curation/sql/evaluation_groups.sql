-- Each group (patient, study, volume) of a source that has a test image, with its first test image.
CREATE OR REPLACE TEMP TABLE evaluation_groups AS
SELECT g.source, g.group_id, min(g.sample_id) AS test_id
FROM sample_groups g
JOIN samples s USING (sample_id)
WHERE s.is_test
GROUP BY g.source, g.group_id;
