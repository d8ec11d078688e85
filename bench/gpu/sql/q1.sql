SELECT service, status, count(*) AS n, sum(bytes) AS bytes, avg(latency_ms) AS avg_latency, max(latency_ms) AS max_latency
FROM read_json('@FILE@', columns => {'service': 'VARCHAR', 'status': 'BIGINT', 'bytes': 'BIGINT', 'latency_ms': 'DOUBLE'})
GROUP BY service, status
