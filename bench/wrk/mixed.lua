-- A mix: 30% creates, 20% completes of this thread's earlier creates, 40%
-- reads of them, 10% id-prefix searches.  Reads and completes only touch
-- ids created `pool` requests ago or more (pool: 4 x connections), so the
-- create was answered before (wrk spreads a thread's requests over its
-- connections, which answer in any order).
dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")

local created = 0
local completed = FIRST - 1

request = function()
  authorize()
  local r = math.random()
  local settled = created - pool
  if r < 0.2 and completed < settled then
    completed = completed + 1
    return wrk.format("PATCH", "/promises/" .. prefix .. completed, headers,
      '{"state": "RESOLVED"}')
  elseif r < 0.5 or settled < FIRST then
    created = created + 1
    return wrk.format("POST", "/promises", headers,
      '{"id": "' .. prefix .. created .. '", "timeout": ' .. TIMEOUT .. '}')
  elseif r < 0.9 then
    return wrk.format("GET", "/promises/" .. prefix .. math.random(FIRST, settled))
  else
    return wrk.format("GET", "/promises?id=" .. prefix .. "1*&limit=10")
  end
end
