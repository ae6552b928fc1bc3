-- Shared by every workload: ids unique per wrk thread, and a JSON summary
-- on stdout that bench/run.py reads.  `prefix` comes from the first script
-- argument, so each phase of a run writes its own ids.  wrk calls
-- request() once at startup and never sends that request, so a create
-- phase's ids start at 2 (FIRST).
local threadCount = 0
local threads = {}

function setup(thread)
  threadCount = threadCount + 1
  thread:set("tid", threadCount)
  table.insert(threads, thread)
end

function init(args)
  prefix = (args[1] or "bench") .. "-" .. tid .. "-"
  counter = 0
  pool = tonumber(args[2] or "1000")
end

-- min_counter: the smallest last counter of any thread (for a create
-- phase, the last id each thread sent; threads are not equally fast, so a
-- later phase reading "the ids every thread wrote" must stay below it).
function done(summary, latency, requests)
  local e = summary.errors
  local least = nil
  for _, thread in ipairs(threads) do
    local c = thread:get("counter") or 0
    if least == nil or c < least then least = c end
  end
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "max_us": %d, ' ..
    '"min_counter": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.max, least or 0, e.connect, e.read, e.write, e.status, e.timeout))
end

headers = {["Content-Type"] = "application/json"}
TIMEOUT = "4102444800000"
FIRST = 2
