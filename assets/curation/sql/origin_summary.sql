-- Kept pairs by source and caption origin (native, cleaned, condensed, llm, template; none: an
-- evaluation image without a class caption).
SELECT source, coalesce(caption_origin, 'none') AS origin, count(*) AS n
FROM decisions
WHERE reason IS NULL
GROUP BY ALL
ORDER BY ALL;
