-- POST / with a 2026 promise.create envelope, a new id each time and a
-- timeout far in the future (no target: a plain promise, no task).
dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")

request = function()
  local auth = authorize()
  counter = counter + 1
  local id = prefix .. counter
  local body = '{"kind": "promise.create", "head": {"corrId": "' .. id ..
    '", "version": "2026-04-01"' .. auth .. '}, "data": {"id": "' .. id .. '", "timeoutAt": ' .. TIMEOUT ..
    ', "param": {"headers": {"k": "v"}, "data": "aGVsbG8gd29ybGQ="}, "tags": {"bench": "1"}}}'
  return wrk.format("POST", "/", headers, body)
end
