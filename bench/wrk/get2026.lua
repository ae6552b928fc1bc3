-- POST / with a 2026 promise.get envelope over the first `pool` ids a
-- create2026 phase wrote.
dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")

request = function()
  local auth = authorize()
  counter = counter % pool + FIRST
  local id = prefix .. counter
  return wrk.format("POST", "/", headers, '{"kind": "promise.get", "head": {"corrId": "' ..
    id .. '", "version": "2026-04-01"' .. auth .. '}, "data": {"id": "' .. id .. '"}}')
end
