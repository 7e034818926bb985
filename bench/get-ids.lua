-- wrk script: GET a path for ids taken at random from a file, one id a line.
-- Usage: TAILOR_BENCH_IDS=ids.txt TAILOR_BENCH_PATH='/v1/users/%s/recommendations?n=10' \
--   wrk -t2 -c16 -d10s --latency -s bench/get-ids.lua http://127.0.0.1:8080
-- %s in the path is replaced by the id. Each thread shuffles the ids with
-- its own seed.
local ids = {}
local path = os.getenv("TAILOR_BENCH_PATH") or "/v1/users/%s/recommendations?n=10"
local file = os.getenv("TAILOR_BENCH_IDS")
local key = os.getenv("TAILOR_BENCH_KEY")
local counter = 0

setup = function(thread)
  counter = counter + 1
  thread:set("seed", counter)
end

init = function(args)
  for line in io.lines(file) do
    if line ~= "" then ids[#ids + 1] = line end
  end
  math.randomseed(seed or 1)
  if key and key ~= "" then wrk.headers["X-API-Key"] = key end
end

request = function()
  local id = ids[math.random(1, #ids)]
  return wrk.format("GET", string.format(path, id))
end

response = function(status, headers, body)
  if status ~= 200 then
    io.stderr:write("status " .. status .. ": " .. body .. "\n")
  end
end
