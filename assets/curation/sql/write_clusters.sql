COPY (
    SELECT * FROM clusters ORDER BY cluster_size DESC, cluster_id, outcome <> 'kept', sample_id
) TO $out (FORMAT parquet, COMPRESSION zstd);
