-- PATCH /promises/{id}: resolve the ids a create phase wrote, in order,
-- each once.
dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")

request = function()
  authorize()
  counter = counter + 1
  return wrk.format("PATCH", "/promises/" .. prefix .. counter, headers,
    '{"state": "RESOLVED", "value": {"data": "ZG9uZQ=="}}')
end
