SELECT geo.country AS country, count(*) AS n, avg(latency_ms) AS avg_latency
FROM '@FILE@'
GROUP BY 1
