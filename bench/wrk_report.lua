-- Makes wrk print its summary as one JSON line that bench/load.py reads. Only `done` is defined, so wrk
-- keeps its fast path (no Lua call per request).
done = function(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests": %d, "duration_us": %d, "connect_errors": %d, "read_errors": %d, '
      .. '"write_errors": %d, "status_errors": %d, "timeouts": %d, '
      .. '"latency_p50_us": %.0f, "latency_p99_us": %.0f}\n',
    summary.requests, summary.duration, errors.connect, errors.read, errors.write, errors.status,
    errors.timeout, latency:percentile(50), latency:percentile(99)))
end
