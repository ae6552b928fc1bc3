-- POST /promises with a new id each time.
dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")

request = function()
  authorize()
  counter = counter + 1
  local body = '{"id": "' .. prefix .. counter .. '", "timeout": ' .. TIMEOUT ..
    ', "param": {"headers": {"k": "v"}, "data": "aGVsbG8gd29ybGQ="}, "tags": {"bench": "1"}}'
  return wrk.format("POST", "/promises", headers, body)
end
