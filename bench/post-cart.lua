-- wrk script: POST a cart of two items taken at random from a file (one id
-- a line) to /v1/carts/recommendations.
-- Usage: TAILOR_BENCH_IDS=items.txt wrk -t2 -c16 -d10s --latency -s bench/post-cart.lua http://127.0.0.1:8080
-- Each thread draws with its own seed.
local ids = {}
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
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  if key and key ~= "" then wrk.headers["X-API-Key"] = key end
end

request = function()
  local a, b = ids[math.random(1, #ids)], ids[math.random(1, #ids)]
  local body = string.format('{"items":["%s","%s"],"n":10}', a, b)
  return wrk.format(nil, "/v1/carts/recommendations", nil, body)
end

response = function(status, headers, body)
  if status ~= 200 then
    io.stderr:write("status " .. status .. ": " .. body .. "\n")
  end
end
