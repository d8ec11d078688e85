SELECT host, path, count(*) AS n
FROM read_json('@FILE@', columns => {'host': 'VARCHAR', 'path': 'VARCHAR', 'status': 'BIGINT'})
WHERE status >= 500
GROUP BY host, path
