-- GET /promises/{id} over the first `pool` ids a create phase wrote.
dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")

request = function()
  authorize()
  counter = counter % pool + FIRST
  return wrk.format("GET", "/promises/" .. prefix .. counter)
end
