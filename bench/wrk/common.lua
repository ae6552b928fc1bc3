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
  loadTokens()
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

-- JWT (bench/run.py --jwt): BENCH_TOKEN, one token every request sends;
-- or BENCH_TOKENS, a path prefix: thread `tid` cycles through the tokens of
-- the file BENCH_TOKENS .. "-" .. tid, one a line, more than the server's
-- verifier remembers, so that no request's token is one it verified before.
-- authorize() puts the next token in the Authorization header (of
-- `headers` and of wrk.headers, which wrk.format uses when given none) and
-- returns the text to put in a 2026 envelope's head: ', "auth": "<jwt>"'
-- ("" without a token).
local token = os.getenv("BENCH_TOKEN")
local tokens = nil
local nextIndex = 0

function loadTokens()
  local path = os.getenv("BENCH_TOKENS")
  if path == nil or path == "" then return end
  tokens = {}
  for line in io.lines(path .. "-" .. tid) do
    if line ~= "" then table.insert(tokens, line) end
  end
end

function authorize()
  local t = token
  if tokens ~= nil then
    nextIndex = nextIndex % #tokens + 1
    t = tokens[nextIndex]
  end
  if t == nil or t == "" then return "" end
  headers["Authorization"] = "Bearer " .. t
  wrk.headers["Authorization"] = "Bearer " .. t
  return ', "auth": "' .. t .. '"'
end
