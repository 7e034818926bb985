-- wrk script: POST one generated event per request to /v1/events.
-- Usage: wrk -t2 -c16 -d10s --latency -s bench/post-event.lua http://127.0.0.1:8080
math.randomseed(1)
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local key = os.getenv("TAILOR_BENCH_KEY")
if key and key ~= "" then wrk.headers["X-API-Key"] = key end

request = function()
  local body = string.format('[{"user_id":"u%d","item_id":"i%d","type":"view"}]',
    math.random(0, 9999), math.random(0, 4999))
  return wrk.format(nil, "/v1/events", nil, body)
end

response = function(status, headers, body)
  if status ~= 200 then
    io.stderr:write("status " .. status .. ": " .. body .. "\n")
  end
end
