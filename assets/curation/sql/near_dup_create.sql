-- Verified pairs from each LSH key; a pair agreeing on several keys appears once per key.
CREATE OR REPLACE TEMP TABLE phash_candidates (a UINTEGER, b UINTEGER, distance UTINYINT);
