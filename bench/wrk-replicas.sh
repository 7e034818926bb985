#!/bin/bash
# N replicas of 'tailor serve' on one PostgreSQL store (with Redis when asked), warmed up,
# then wrk on each at once (16 connections in all: 16/N each) on the recommendations of
# 1,000 shoppers: the summed requests/s, each replica's p99 and RSS. Used for BENCHMARKS.md.
# usage: bench/wrk-replicas.sh BINARY STORE-URL N LABEL [redis]   (ports 18191.. must be free)
set -u
B=$1; URL=$2; N=$3; L=$4; R=${5:-}
PIDS=()
for i in $(seq 1 $N); do
  if [ -n "$R" ]; then export TAILOR_REDIS_URL=redis://127.0.0.1:6379; else unset TAILOR_REDIS_URL; fi
  $B serve --store $URL --data-dir /tmp/rep$i --addr 127.0.0.1:1819$i > /tmp/rep$i.log 2>&1 &
  PIDS+=($!)
done
for i in $(seq 1 $N); do for k in $(seq 1 200); do grep -q "Background models ready" /tmp/rep$i.log && break; sleep 0.2; done; done
sleep 8
curl -s "http://127.0.0.1:18191/v1/users?limit=1000" | python3 -c 'import json,sys; [print(u["id"]) for u in json.load(sys.stdin)["data"]]' > /tmp/u.txt
cd "$(dirname "$0")/.."
W=()
for i in $(seq 1 $N); do TAILOR_BENCH_IDS=/tmp/u.txt TAILOR_BENCH_PATH='/v1/users/%s/recommendations?n=10' wrk -t$((N==1?2:1)) -c$((16/N)) -d3s -s bench/get-ids.lua http://127.0.0.1:1819$i > /dev/null & W+=($!); done; wait "${W[@]}"
W=()
for i in $(seq 1 $N); do TAILOR_BENCH_IDS=/tmp/u.txt TAILOR_BENCH_PATH='/v1/users/%s/recommendations?n=10' wrk -t$((N==1?2:1)) -c$((16/N)) -d10s --latency -s bench/get-ids.lua http://127.0.0.1:1819$i > /tmp/wrk$i.out & W+=($!); done; wait "${W[@]}"
python3 - "$N" "$L" <<'PY'
import sys,re
n=int(sys.argv[1]); tot=0; p99s=[]
for i in range(1,n+1):
    s=open(f"/tmp/wrk{i}.out").read()
    tot+=float(re.search(r"Requests/sec:\s+([\d.]+)",s).group(1))
    p99s.append(re.search(r"\s99%\s+(\S+)",s).group(1))
print(sys.argv[2], "replicas", n, "rps %.0f" % tot, "p99", "/".join(p99s))
PY
RSS=""; for p in "${PIDS[@]}"; do RSS="$RSS $(ps -o rss= -p $p)"; done; echo "RSS KB:$RSS"
for p in "${PIDS[@]}"; do kill $p; done; wait "${PIDS[@]}" 2>/dev/null
