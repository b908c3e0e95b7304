-- wrk script for bench/api_bench.py: POSTs GraphQL operations and prints one JSON line of figures when done.
--
-- Environment (set by api_bench.py):
--   BENCH_MODE  ping | bundle | recommendations
--   BENCH_IDS   a file of product ids, one a line (bundle picks one at random per request)
--   BENCH_SESSIONS  how many sessions api_bench.py filled with trackEvent (named bench-0 .. bench-N-1)

local mode = os.getenv("BENCH_MODE") or "ping"
local ids = {}
local sessions = tonumber(os.getenv("BENCH_SESSIONS") or "0")

local path = os.getenv("BENCH_IDS")
if path then
  for line in io.lines(path) do
    if #line > 0 then ids[#ids + 1] = line end
  end
end

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

local BUNDLE = '{"query":"query B($id: ID!) { bundle(productId: $id, k: 10) { score reason product { id title } } }",'
  .. '"variables":{"id":"%s"}}'
local RECS = '{"query":"query R($s: ID!) { recommendations(sessionId: $s, k: 10) { score reason product { id title } } }",'
  .. '"variables":{"s":"bench-%d"}}'
local PING = '{"query":"{ ping }"}'

function request()
  local body
  if mode == "bundle" then
    body = string.format(BUNDLE, ids[math.random(#ids)])
  elseif mode == "recommendations" then
    body = string.format(RECS, math.random(sessions) - 1)
  else
    body = PING
  end
  return wrk.format(nil, nil, nil, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, '
      .. '"non_2xx": %d, "socket_errors": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, e.status, e.connect + e.read + e.write + e.timeout
  ))
end
