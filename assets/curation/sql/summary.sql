-- Counts by source, split and outcome: what the metadata and the checks read.
SELECT source, split, coalesce(reason, 'kept') AS outcome, count(*) AS n
FROM decisions
GROUP BY ALL
ORDER BY ALL;
