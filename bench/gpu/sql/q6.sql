SELECT company,
       min(cpu_utilization) AS cpu_utilization_min, max(cpu_utilization) AS cpu_utilization_max, avg(cpu_utilization) AS cpu_utilization_mean,
       min(latency) AS latency_min, max(latency) AS latency_max, avg(latency) AS latency_mean,
       min(packet_loss) AS packet_loss_min, max(packet_loss) AS packet_loss_max, avg(packet_loss) AS packet_loss_mean,
       min(throughput) AS throughput_min, max(throughput) AS throughput_max, avg(throughput) AS throughput_mean
FROM read_json('@FILE@', columns => {'company': 'VARCHAR', 'cpu_utilization': 'DOUBLE', 'latency': 'DOUBLE', 'packet_loss': 'DOUBLE', 'throughput': 'DOUBLE'})
GROUP BY company
ORDER BY cpu_utilization_mean DESC
LIMIT 10
