-- Counts by source, modality, split and outcome: what the stats, metadata and checks read.
SELECT source, modality, split, coalesce(reason, 'kept') AS outcome, count(*) AS n
FROM decisions
GROUP BY ALL
ORDER BY ALL;
