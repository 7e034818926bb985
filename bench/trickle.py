"""Posts one purchase of a known shopper and item every 0.5 s over one
keep-alive connection, so that the store keeps changing (as a live shop's
does) while wrk loads the server: the analyses' snapshot and trending are
then rebuilt during the load.

usage: python3 bench/trickle.py SECONDS RUN USERS-FILE ITEMS-FILE [PORT]

Timestamps continue Online Retail (from 2011-11-01 09:00 UTC, 30 s apart;
run RUN starts RUN·100,000 s later), as a live shop's would: events stamped
with today's date would put a fifteen-year gap in the data. Order ids are
trickle-RUN-N, so runs do not collide.
"""
import http.client
import json
import random
import sys
import time

seconds, run = float(sys.argv[1]), int(sys.argv[2])
users = [l.strip() for l in open(sys.argv[3]) if l.strip()]
items = [l.strip() for l in open(sys.argv[4]) if l.strip()]
port = int(sys.argv[5]) if len(sys.argv) > 5 else 18181
random.seed(run)
conn = http.client.HTTPConnection("127.0.0.1", port)
end, n = time.time() + seconds, 0
while time.time() < end:
    at = time.gmtime(1320138000 + run * 100000 + 30 * n)
    event = [{"user_id": random.choice(users), "item_id": random.choice(items), "type": "purchase",
              "value": 2.5, "unit_price": 2.5, "order_id": "trickle-%d-%d" % (run, n),
              "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", at)}]
    conn.request("POST", "/v1/events", json.dumps(event), {"Content-Type": "application/json"})
    r = conn.getresponse()
    body = r.read()
    if r.status != 200:
        print("status", r.status, body.decode()[:200], file=sys.stderr)
    n += 1
    time.sleep(0.5)
print("posted", n, file=sys.stderr)
