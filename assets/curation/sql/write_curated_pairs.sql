-- Kept samples with their image bytes and captions: an image-text sample's caption from its own
-- text, a classification sample's every valid class caption (none for an evaluation image without
-- one); the origin of each caption, and of the sample's captions as a whole (see screen.sql).
COPY (
    SELECT s.sample_id, s.source, s.modality, s.label, s.split, s.kind, s.image, s.image_format,
           s.width, s.height, s.pixel_sha256, s.phash,
           CASE WHEN d.kind = 'image_text' THEN [trim(d.caption)]
                ELSE coalesce(c.captions, []::VARCHAR[]) END AS captions,
           CASE WHEN d.kind = 'image_text' THEN [d.caption_origin]
                ELSE coalesce(c.origins, []::VARCHAR[]) END AS caption_origins,
           d.caption_origin
    FROM read_parquet($raw_samples, union_by_name = true) s
    JOIN decisions d USING (sample_id)
    LEFT JOIN class_caption_sets c ON c.source = s.source AND c.label = s.label
    WHERE d.reason IS NULL
    ORDER BY s.split, s.source, s.sample_id
) TO $out (FORMAT parquet, COMPRESSION zstd);
