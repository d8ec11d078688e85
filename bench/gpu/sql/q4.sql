SELECT user_id, count(*) AS n, sum(bytes) AS bytes
FROM read_json('@FILE@', columns => {'user_id': 'BIGINT', 'bytes': 'BIGINT'})
GROUP BY user_id
