SELECT date_trunc('minute', ts) AS minute, region, count(*) AS n, avg(latency_ms) AS avg_latency, sum(bytes) AS bytes
FROM read_json('@FILE@', columns => {'ts': 'TIMESTAMP', 'region': 'VARCHAR', 'latency_ms': 'DOUBLE', 'bytes': 'BIGINT'})
GROUP BY 1, 2
