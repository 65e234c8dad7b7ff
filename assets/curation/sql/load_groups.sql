-- The patient, study or volume of each sample whose source names one (a hash: see SplitRule), and
-- each group with a test image, with the first of them. Filled by insert_groups where the raw
-- samples carry the column; empty otherwise.
CREATE OR REPLACE TEMP TABLE sample_groups (sample_id VARCHAR, source VARCHAR, group_id VARCHAR);
