#!/bin/bash
# The serving issue's wrk suite: one `tailor serve` on DATA-DIR, then per
# endpoint 3 s of warm-up and `wrk -c16 -d10s --latency`, reporting
# requests/s, p50, p99, bytes allocated and server CPU a request (from
# /metrics), collections, non-200 answers and RSS after the load.
# MODE shared: server and wrk on both cores; pinned: `GOMAXPROCS=1 taskset -c 0`
# for the server, `taskset -c 1 wrk -t1` for the load. Port 18181 must be free.
# usage: bench/wrk-suite.sh BINARY DATA-DIR shared|pinned LABEL
set -u
B=$1; D=$2; M=$3; L=$4
mkdir -p /tmp/s
cd "$(dirname "$0")/.."
if [ $M = pinned ]; then GOMAXPROCS=1 taskset -c 0 $B serve --data-dir "$D" --addr 127.0.0.1:18181 > /tmp/s/serve.log 2>&1 &
else $B serve --data-dir "$D" --addr 127.0.0.1:18181 > /tmp/s/serve.log 2>&1 & fi
PID=$!
for i in $(seq 1 300); do grep -q "Background models ready" /tmp/s/serve.log && break; sleep 0.2; done
sleep 10
# Then until the server is idle (its background builds done: under 2% of a
# core over a second), at most 60 s more.
cpu() { curl -s http://127.0.0.1:18181/metrics | awk '/^process_cpu_seconds_total/{print $2}'; }
for i in $(seq 1 60); do
  c0=$(cpu); sleep 1; c1=$(cpu)
  python3 -c "import sys; sys.exit(0 if float('$c1')-float('$c0') < 0.02 else 1)" && break
done
curl -s "http://127.0.0.1:18181/v1/users?limit=1000" | python3 -c 'import json,sys; [print(u["id"]) for u in json.load(sys.stdin)["data"]]' > /tmp/s/u.txt
curl -s "http://127.0.0.1:18181/v1/items?limit=1000" | python3 -c 'import json,sys; [print(u["id"]) for u in json.load(sys.stdin)["data"]]' > /tmp/s/i.txt
curl -s -X PUT -H 'Content-Type: application/json' -d '{"in_stock_only":true,"max_per_category":3}' http://127.0.0.1:18181/v1/scenarios/home > /dev/null
if [ $M = pinned ]; then W="taskset -c 1 wrk -t1 -c16"; else W="wrk -t2 -c16"; fi
run() { # name script path ids
  TAILOR_BENCH_IDS=$4 TAILOR_BENCH_PATH="$3" $W -d3s -s bench/$2 http://127.0.0.1:18181 > /dev/null 2>&1
  a0=$(curl -s http://127.0.0.1:18181/metrics | awk '/^go_memstats_alloc_bytes_total/{print $2}')
  c0=$(curl -s http://127.0.0.1:18181/metrics | awk '/^process_cpu_seconds_total/{print $2}')
  g0=$(curl -s http://127.0.0.1:18181/metrics | awk '/^go_gc_duration_seconds_count/{print $2}')
  out=$(TAILOR_BENCH_IDS=$4 TAILOR_BENCH_PATH="$3" $W -d10s --latency -s bench/$2 http://127.0.0.1:18181 2>/tmp/s/err.txt)
  a1=$(curl -s http://127.0.0.1:18181/metrics | awk '/^go_memstats_alloc_bytes_total/{print $2}')
  c1=$(curl -s http://127.0.0.1:18181/metrics | awk '/^process_cpu_seconds_total/{print $2}')
  g1=$(curl -s http://127.0.0.1:18181/metrics | awk '/^go_gc_duration_seconds_count/{print $2}')
  req=$(echo "$out" | awk '/requests in/{print $1}')
  rps=$(echo "$out" | awk '/Requests\/sec/{print $2}')
  p99=$(echo "$out" | awk '$1=="99%"{print $2}')
  p50=$(echo "$out" | awk '$1=="50%"{print $2}')
  errs=$(wc -l < /tmp/s/err.txt)
  printf '%s %s %-16s rps %9s p50 %7s p99 %7s B/req %6.0f cpu/req %5.1fus gc %s errs %s RSS %s KB\n' "$L" "$M" "$1" "$rps" "$p50" "$p99" $(python3 -c "print((float('$a1')-float('$a0'))/float('$req'), (float('$c1')-float('$c0'))/float('$req')*1e6)") $((g1-g0)) "$errs" "$(ps -o rss= -p $PID)"
}
run healthz get-ids.lua '/healthz' /tmp/s/u.txt
run recs get-ids.lua '/v1/users/%s/recommendations?n=10' /tmp/s/u.txt
run recs-scenario get-ids.lua '/v1/users/%s/recommendations?n=10&scenario=home' /tmp/s/u.txt
run bought-together get-ids.lua '/v1/items/%s/bought-together?n=10' /tmp/s/i.txt
run buy-again get-ids.lua '/v1/users/%s/buy-again?n=10' /tmp/s/u.txt
run cart post-cart.lua '' /tmp/s/i.txt
run healthz2 get-ids.lua '/healthz' /tmp/s/u.txt
kill $PID; wait $PID 2>/dev/null
