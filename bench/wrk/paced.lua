-- Another workload (BENCH_PACED_WORKLOAD: get, create, ...) at a steady,
-- modest rate: each connection waits `pace` milliseconds on average (third
-- script argument; uniformly between half and one and a half times it, so
-- that connections opened together do not stay in step) before each
-- request, so latency is the server's, not queueing behind wrk's own
-- closed loop.
dofile(os.getenv("BENCH_WRK_DIR") .. "/" .. os.getenv("BENCH_PACED_WORKLOAD") .. ".lua")

local workloadInit = init

function init(args)
  workloadInit(args)
  pace = tonumber(args[3] or "40")
end

function delay()
  return math.random(math.floor(pace / 2), math.floor(pace * 3 / 2))
end
