-- GET /promises?id=<prefix>*: an id-prefix search, a page of 10.
dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")

request = function()
  authorize()
  counter = counter % pool + FIRST
  return wrk.format("GET", "/promises?id=" .. prefix .. counter .. "*&limit=10")
end
