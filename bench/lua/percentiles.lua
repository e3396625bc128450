-- Used by tail.sh: one line of latency percentiles (µs) and the request count.
done = function(summary, latency, requests)
  local out = "TAIL"
  for _, p in ipairs({50, 90, 95, 98, 99, 99.5, 99.9}) do
    out = out .. string.format(" p%s=%d", p, latency:percentile(p))
  end
  io.write(out .. string.format(" requests=%d\n", summary.requests))
end
