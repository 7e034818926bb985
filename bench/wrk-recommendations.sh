#!/bin/bash
# Serve the store in DATA-DIR with BINARY, warm up, and measure recommendations under wrk:
# requests/s, p99, allocated bytes a request, RSS after the load. Used for BENCHMARKS.md.
# usage: bench/wrk-recommendations.sh BINARY DATA-DIR LABEL   (port 18181 must be free)
set -u
B=$1; D=$2; L=$3
$B serve --data-dir "$D" --addr 127.0.0.1:18181 > /tmp/wrkserve.log 2>&1 &
PID=$!
for i in $(seq 1 150); do grep -q "Background models ready" /tmp/wrkserve.log && break; sleep 0.2; done
# The analyses' first snapshot (RFM, pricing: several seconds of both cores on the full
# Online Retail store) is built after the models, in the background: let it finish, or the
# load shares the cores with it and the figures move by 10% from run to run.
sleep 8
curl -s "http://127.0.0.1:18181/v1/users?limit=1000" | python3 -c 'import json,sys; [print(u["id"]) for u in json.load(sys.stdin)["data"]]' > /tmp/u.txt
cd "$(dirname "$0")/.."
TAILOR_BENCH_IDS=/tmp/u.txt TAILOR_BENCH_PATH='/v1/users/%s/recommendations?n=10' wrk -t2 -c16 -d3s -s bench/get-ids.lua http://127.0.0.1:18181 > /dev/null
a0=$(curl -s http://127.0.0.1:18181/metrics | awk '/^go_memstats_alloc_bytes_total/{print $2}')
out=$(TAILOR_BENCH_IDS=/tmp/u.txt TAILOR_BENCH_PATH='/v1/users/%s/recommendations?n=10' wrk -t2 -c16 -d10s --latency -s bench/get-ids.lua http://127.0.0.1:18181)
a1=$(curl -s http://127.0.0.1:18181/metrics | awk '/^go_memstats_alloc_bytes_total/{print $2}')
req=$(echo "$out" | awk '/requests in/{print $1}')
rps=$(echo "$out" | awk '/Requests\/sec/{print $2}')
p99=$(echo "$out" | awk '$1=="99%"{print $2}')
python3 -c "print('$L', 'rps $rps', 'p99 $p99', 'bytes/req %.0f' % ((float('$a1')-float('$a0'))/float('$req')), 'RSS $(ps -o rss= -p $PID) KB')"
kill $PID; wait $PID 2>/dev/null
