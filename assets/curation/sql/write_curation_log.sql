-- One row per dropped sample, with its reason and, for duplicates, the sample that was kept.
COPY (
    SELECT sample_id, source, modality, label, split, reason, duplicate_of
    FROM decisions
    WHERE reason IS NOT NULL
    ORDER BY reason, source, sample_id
) TO $out (FORMAT parquet, COMPRESSION zstd);
