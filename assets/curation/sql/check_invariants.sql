-- Invariants of the curated pairs; both must be 0 (training: every split but test).
SELECT
    (SELECT count(*) FROM read_parquet($pairs) tr
       JOIN read_parquet($pairs) te USING (pixel_sha256)
      WHERE tr.split IS DISTINCT FROM 'test' AND te.split = 'test') AS train_eval_overlap,
    (SELECT count(*) - count(DISTINCT pixel_sha256) FROM read_parquet($pairs)
      WHERE split IS DISTINCT FROM 'test') AS duplicate_train_hashes;
