-- Training samples removed per evaluation set (the test split of a source), by reason.
SELECT t.source AS evaluation_set, d.reason, count(*) AS n
FROM decisions d
JOIN samples t ON t.sample_id = d.duplicate_of
WHERE d.reason IN ('evaluation_duplicate', 'evaluation_near_duplicate', 'evaluation_patient')
GROUP BY ALL
ORDER BY ALL;
