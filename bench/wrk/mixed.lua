-- A mix: 30% creates, 20% completes of this connection's own earlier
-- creates, 40% reads, 10% id-prefix searches.
dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")

local created = 0
local completed = 0

request = function()
  local r = math.random()
  if r < 0.2 and completed < created then
    completed = completed + 1
    return wrk.format("PATCH", "/promises/" .. prefix .. completed, headers,
      '{"state": "RESOLVED"}')
  elseif r < 0.5 or created == 0 then
    created = created + 1
    return wrk.format("POST", "/promises", headers,
      '{"id": "' .. prefix .. created .. '", "timeout": ' .. TIMEOUT .. '}')
  elseif r < 0.9 then
    return wrk.format("GET", "/promises/" .. prefix .. math.random(created))
  else
    return wrk.format("GET", "/promises?id=" .. prefix .. "1*&limit=10")
  end
end
