-- Helpers the other files use.
CREATE OR REPLACE TEMP MACRO word_count(t) AS
    CASE WHEN t IS NULL OR trim(t) = '' THEN 0 ELSE len(regexp_split_to_array(trim(t), '\s+')) END;
