-- One row per dropped sample: its reason and, for duplicates, the sample it duplicates (kept,
-- or for an exact duplicate, the copy that went on to the near-duplicate step) and the Hamming
-- distance between their perceptual hashes.
COPY (
    SELECT d.sample_id, d.source, d.modality, d.label, d.split, d.kind, d.orig_path, d.reason,
           d.duplicate_of, o.source AS duplicate_of_source, d.hamming_distance
    FROM decisions d
    LEFT JOIN samples o ON o.sample_id = d.duplicate_of
    WHERE d.reason IS NOT NULL
    ORDER BY d.reason, d.source, d.sample_id
) TO $out (FORMAT parquet, COMPRESSION zstd);
