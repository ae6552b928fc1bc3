-- Another workload (BENCH_PACED_WORKLOAD: get, create, ...) at a steady,
-- modest rate: each connection waits `pace` milliseconds (third script
-- argument) before each request, so latency is the server's, not queueing
-- behind wrk's own closed loop.
dofile(os.getenv("BENCH_WRK_DIR") .. "/" .. os.getenv("BENCH_PACED_WORKLOAD") .. ".lua")

local workloadInit = init

function init(args)
  workloadInit(args)
  pace = tonumber(args[3] or "40")
end

function delay()
  return pace
end
