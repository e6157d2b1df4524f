#!/bin/sh
# A fan-out of N branches against the fake Mistral server, which waits a
# fixed latency before each conversation answer: the branches share one
# thread and loop, so the fan-out should take about as long as one branch.
# Prints the pattern's latency, one branch's alone, and their ratio.
# Usage: bench/patterns.sh [N] [LATENCY_MS]   (from the build folder, after `make`)
set -eu
n=${1:-8}
latency=${2:-500}
top=$(cd "$(dirname "$0")/.." && pwd)
exec python3 - "$top" "$n" "$latency" <<'PY'
import json, os, subprocess, sys, tempfile, urllib.request

top, n, ms = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
server = subprocess.Popen([sys.executable, os.path.join(top, "tests/fakeapi/server.py"), "--port", "0",
                           "--key", "bench"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
try:
    url = server.stdout.readline().decode().split()[-1]
    agents = ["w%d" % i for i in range(n)]

    def post(path, body):
        req = urllib.request.Request(url + path, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        urllib.request.urlopen(req).read()

    post("/_fake/script", {a: [{"say": "branch %s done" % a}] for a in agents})
    post("/_fake/faults", [{"fault": "latency", "ms": ms, "times": None,
                            "match": {"method": "POST", "path": "^/v1/conversations"}}])
    profile = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
    json.dump({"name": "bench", "agents": [{"name": a, "model": "mistral-small-latest"} for a in agents]}, profile)
    profile.close()

    def run(command):
        env = dict(os.environ, MISTRAL_API_KEY="bench", XDG_STATE_HOME=tempfile.mkdtemp())
        out = subprocess.run(["./agentdeck", "--no-journal", "--backend", "mistral", "--base-url", url,
                              "--profile", profile.name, "-c", "/agent list", "-c", command],
                             env=env, capture_output=True, check=True).stdout.decode()
        return [json.loads(l) for l in out.splitlines()]

    one = [e for e in run("/start w0 go") if e["type"] == "run.done"][0]["latency_ms"]
    fan = [e for e in run("/fanout %s go" % ",".join(agents)) if e["type"] == "pattern.done"][0]
    assert fan["status"] == "done", fan
    print("fake server latency: %d ms per conversation request" % ms)
    print("one branch alone:    %d ms" % one)
    print("%d branches at once: %d ms" % (n, fan["latency_ms"]))
    print("ratio (fan-out / one branch): %.2f; (fan-out / latency): %.2f" % (fan["latency_ms"] / one,
                                                                           fan["latency_ms"] / ms))
    os.unlink(profile.name)
finally:
    server.terminate()
    server.wait()
PY
