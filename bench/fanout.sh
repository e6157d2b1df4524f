#!/bin/sh
# Runs bench_fanout against the fake Mistral server with a fixed latency per
# answer: N conversations at once should take about as long as one.
# Usage: bench/fanout.sh [N] [LATENCY_MS]   (from the build folder, after `make bench`)
set -eu
n=${1:-32}
latency=${2:-500}
top=$(cd "$(dirname "$0")/.." && pwd)
out=$(mktemp)
python3 "$top/tests/fakeapi/server.py" --port 0 >"$out" 2>/dev/null &
server=$!
trap 'kill $server 2>/dev/null; rm -f "$out"' EXIT
i=0
while ! grep -q listening "$out"; do
    i=$((i + 1))
    [ $i -lt 100 ] || { echo "fanout.sh: the fake server did not start" >&2; exit 1; }
    sleep 0.1
done
url=$(sed -n 's/^listening on //p' "$out")
python3 - "$url" "$latency" <<'PY'
import json, sys, urllib.request
url, ms = sys.argv[1], int(sys.argv[2])
fault = [{"fault": "latency", "ms": ms, "times": None, "match": {"method": "POST", "path": "^/v1/conversations"}}]
req = urllib.request.Request(url + "/_fake/faults", data=json.dumps(fault).encode(), method="POST",
                             headers={"Content-Type": "application/json"})
urllib.request.urlopen(req).read()
PY
echo "fake server latency: $latency ms per conversation request"
./bench/bench_fanout "$url" "$n"
