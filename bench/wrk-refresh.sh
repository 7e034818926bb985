#!/bin/bash
# The refresh minute: `tailor serve` on a fresh copy of a store, then per
# endpoint 75 s of `wrk -t2 -c16 --latency` while bench/trickle.py posts a
# purchase every 0.5 s, so that each load spans a rebuild of the analyses'
# snapshot (pass `--analyses-every 1m` to have one every minute) and of
# trending. Reports requests/s, p50, p99, non-200 answers, RSS after the
# load, and the analyses' refreshes and engine builds during it (from
# /metrics). Port 18181 must be free.
# usage: bench/wrk-refresh.sh BINARY DATA-DIR CLEAN-STORE-FILE LABEL [SERVE-FLAGS...]
#   DATA-DIR/tailor.db is replaced by a copy of CLEAN-STORE-FILE first.
set -u
B=$1; D=$2; C=$3; L=$4; shift 4
mkdir -p /tmp/s
cd "$(dirname "$0")/.."
cp "$C" "$D/tailor.db"; rm -f "$D/tailor.db-wal" "$D/tailor.db-shm"
$B serve --data-dir "$D" --addr 127.0.0.1:18181 "$@" > /tmp/s/serve.log 2>&1 &
PID=$!
for i in $(seq 1 300); do grep -q "Background models ready" /tmp/s/serve.log && break; sleep 0.2; done
sleep 20
curl -s "http://127.0.0.1:18181/v1/users?limit=1000" | python3 -c 'import json,sys; [print(u["id"]) for u in json.load(sys.stdin)["data"]]' > /tmp/s/u.txt
curl -s "http://127.0.0.1:18181/v1/items?limit=1000" | python3 -c 'import json,sys; [print(u["id"]) for u in json.load(sys.stdin)["data"]]' > /tmp/s/i.txt
builds() { curl -s http://127.0.0.1:18181/metrics | awk '/^tailor_build_duration_seconds_count|^tailor_analyses_refreshes_total/{printf "%s ", $0}' | sed 's/tailor_build_duration_seconds_count//g; s/tailor_analyses_refreshes_total/analyses/g'; }
RUN=0
run() { # name script path ids
  RUN=$((RUN+1))
  b0=$(builds)
  python3 bench/trickle.py 76 $RUN /tmp/s/u.txt /tmp/s/i.txt 2>/tmp/s/trickle.txt &
  TP=$!
  out=$(TAILOR_BENCH_IDS=$4 TAILOR_BENCH_PATH="$3" wrk -t2 -c16 -d75s --latency -s bench/$2 http://127.0.0.1:18181 2>/tmp/s/err.txt)
  wait $TP
  printf '%s %-16s rps %9s p50 %7s p99 %7s errs %s RSS %s KB %s\n' "$L" "$1" "$(echo "$out" | awk '/Requests\/sec/{print $2}')" \
    "$(echo "$out" | awk '$1=="50%"{print $2}')" "$(echo "$out" | awk '$1=="99%"{print $2}')" "$(wc -l < /tmp/s/err.txt)" \
    "$(ps -o rss= -p $PID)" "$(tail -1 /tmp/s/trickle.txt)"
  echo "  builds before: $b0"
  echo "  builds after:  $(builds)"
}
run healthz get-ids.lua '/healthz' /tmp/s/u.txt
run bought-together get-ids.lua '/v1/items/%s/bought-together?n=10' /tmp/s/i.txt
run buy-again get-ids.lua '/v1/users/%s/buy-again?n=10' /tmp/s/u.txt
run cart post-cart.lua '' /tmp/s/i.txt
run healthz2 get-ids.lua '/healthz' /tmp/s/u.txt
kill $PID; wait $PID 2>/dev/null
