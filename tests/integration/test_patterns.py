#!/usr/bin/env python3
"""The orchestration patterns (/pipeline, /route, /fanout, /compete,
/delegate, /decompose, /run), the shared state and the event handlers, in
batch mode: offline, and against the fake Mistral server for the failure
paths a network brings."""

import json
import os
import select
import socket
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import lib  # noqa: E402
from lib import FakeMistral, check, contains, eq, of_type, one, run, test, types  # noqa: E402

SERVER = FakeMistral()

PLAN = {"subtasks": [
    {"id": "facts", "worker": "researcher", "task": "Collect the facts", "depends_on": []},
    {"id": "numbers", "worker": "analyst", "task": "Work out the numbers", "depends_on": []},
    {"id": "report", "worker": "writer", "task": "Write the report", "depends_on": ["facts", "numbers"]},
]}

TEAM = {
    "name": "patterns",
    "agents": [
        {"name": "researcher", "model": "mistral-small-latest", "description": "finds facts",
         "offline": [{"say": "FACTS: the market grew 5%."}]},
        {"name": "analyst", "model": "mistral-small-latest", "description": "works out numbers",
         "offline": [{"say": "NUMBERS: 5% of 200 is 10."}]},
        {"name": "writer", "model": "mistral-small-latest", "description": "writes",
         "offline": [{"when": "results of earlier subtasks.*FACTS.*NUMBERS", "say": "REPORT built on facts and numbers."},
                     {"say": "REPORT: {input}"}]},
        {"name": "manager", "model": "mistral-medium-latest", "description": "plans",
         "offline": [{"when": "results of the subtasks", "say": "FINAL: the report is done."},
                     {"when": "broken plan", "say": "Sure! I will get right on it."},
                     {"when": "unknown worker", "say": "{\"subtasks\": [{\"id\": \"a\", \"worker\": \"nobody\", \"task\": \"x\"}]}"},
                     {"when": "circular", "say": "{\"subtasks\": [{\"id\": \"a\", \"worker\": \"writer\", \"task\": \"x\", \"depends_on\": [\"b\"]}, {\"id\": \"b\", \"worker\": \"writer\", \"task\": \"y\", \"depends_on\": [\"a\"]}]}"},
                     {"say": "```json\n" + json.dumps(PLAN) + "\n```"}]},
        {"name": "decomposer", "model": "mistral-medium-latest",
         "offline": [{"when": "results of the subtasks", "say": "COMBINED"},
                     {"when": "level 0", "say": "{\"action\": \"decompose\", \"subtasks\": [\"part A\", \"part B\"]}"},
                     {"when": "level 1", "say": "{\"action\": \"decompose\", \"subtasks\": [\"piece 1\", \"piece 2\"]}"},
                     {"when": "level", "say": "{\"action\": \"execute\"}"}]},
        {"name": "slow", "model": "mistral-small-latest",
         "offline": [{"say": "one two three four five six seven eight nine ten eleven twelve thirteen fourteen"}]},
    ],
}


def team():
    return lib.write_profile(TEAM, "patterns.json")


def pattern_events(events):
    return [e for e in events if e["type"].startswith("pattern.")]


def steps(events, status=None):
    return [(e["step"], e["status"]) for e in of_type(events, "pattern.step") if not status or e["status"] == status]


@test
def pipeline_runs_each_step_in_turn_in_one_conversation():
    status, events, stderr = run(["-c", "/pipeline researcher,analyst,writer market study"], profile=team())
    eq(status, 0, "exit status")
    eq(steps(events), [("1", "started"), ("1", "done"), ("2", "started"), ("2", "done"), ("3", "started"),
                       ("3", "done")], "steps")
    eq({e["conversation"] for e in of_type(events, "message.output")}, {"c1"}, "one conversation")
    eq([e["agent"] for e in of_type(events, "message.output")], ["researcher", "analyst", "writer"], "in turn")
    done = one(events, "pattern.done")
    eq((done["status"], done["kind"]), ("done", "pipeline"), "pattern.done")
    contains(done["output"], "REPORT", "the last step's answer")


@test
def pipeline_stops_at_a_failed_step():
    fresh()
    fail_conversations_after(1)
    status, events, stderr = SERVER.run(["--retries", "0", "-c", "/pipeline researcher,analyst,writer market study"],
                                        profile=team())
    eq(status, 1, "exit status")
    eq(steps(events), [("1", "started"), ("1", "done"), ("2", "started"), ("2", "failed")], "steps")
    done = one(events, "pattern.done")
    eq(done["status"], "failed", "status")
    contains(done["message"], "step 2 (analyst) failed: HTTP 500", "why")
    no_rejections()


@test
def fanout_runs_branches_at_once_and_fans_in():
    status, events, stderr = run(["--offline-rate", "200", "-c", "/fanout researcher,analyst,slow --into writer go"],
                                 profile=team())
    eq(status, 0, "exit status")
    firsts = [s for s in steps(events) if s[0] in ("researcher", "analyst", "slow")]
    eq(firsts[:3], [("researcher", "started"), ("analyst", "started"), ("slow", "started")],
       "every branch starts before any ends")
    fanin = [e for e in of_type(events, "message.input") if e["agent"] == "writer"][0]
    for label in ("## researcher (researcher)\nFACTS", "## analyst (analyst)\nNUMBERS", "## slow (slow)\none two"):
        contains(fanin["content"], label, "the fan-in gets each branch, labelled")
    eq(len({e["conversation"] for e in of_type(events, "conversation.started")}), 4, "a conversation each, and one")
    eq(one(events, "pattern.done")["status"], "done", "done")


@test
def fanout_without_into_gives_the_labelled_answers():
    status, events, stderr = run(["-c", "/fanout researcher,analyst go"], profile=team())
    eq(status, 0, "exit status")
    out = one(events, "pattern.done")["output"]
    contains(out, "## researcher (researcher)\nFACTS", "labelled")
    contains(out, "## analyst (analyst)\nNUMBERS", "labelled")


@test
def fanout_goes_on_without_a_branch_that_times_out():
    # At 4 words a second the researcher takes about 1.25 s, the slow one 3.5 s.
    status, events, stderr = run(["--offline-rate", "4", "-c", "/fanout researcher,slow --into writer --timeout 2.5 go"],
                                 profile=team())
    eq(status, 0, "exit status: the pattern went on")
    failed = [e for e in of_type(events, "pattern.step") if e["status"] == "failed"]
    eq([(e["step"], e["message"]) for e in failed], [("slow", "timed out after 2.5 s")], "the slow branch")
    eq([(e["step"], e["status"]) for e in of_type(events, "pattern.step") if e["step"] == "fan-in"][-1],
       ("fan-in", "done"), "the fan-in went on")
    contains([e for e in of_type(events, "message.input") if e["agent"] == "writer"][0]["content"],
             "## slow (slow)\n(no result: timed out after 2.5 s)", "says what is missing")


def fresh():
    if SERVER.url is None and SERVER.start() is None:
        raise lib.Skip("no OpenAPI spec in ../shared: the fake Mistral server cannot run")
    SERVER.reset(script=lib.offline_script_of(TEAM))


def fail_conversations_after(n):
    """Every conversation request after the first n gets a 500."""
    SERVER.control("POST", "/_fake/faults", {"match": {"method": "POST", "path": "^/v1/conversations"}, "skip": n,
                                             "times": 0, "fault": "status", "status": 500})


def no_rejections():
    eq(SERVER.rejections(), [], "requests the fake server rejected as off-spec")


def server_agent_id(name):
    """The id of the agent the fake server keeps for name (created by an earlier run)."""
    import urllib.request
    req = urllib.request.Request(SERVER.url + "/v1/agents?page=0&page_size=100",
                                 headers={"Authorization": "Bearer " + SERVER.KEY})
    with urllib.request.urlopen(req, timeout=10) as resp:
        agents = json.loads(resp.read().decode("utf-8"))
    return [a["id"] for a in agents if a["name"] == name][0]


@test
def fanout_branch_failing_with_500_is_reported_and_the_rest_fan_in():
    fresh()
    SERVER.run(["-c", "/agent list"], profile=team())
    SERVER.control("POST", "/_fake/faults", {"match": {"method": "POST", "path": "^/v1/conversations",
                                                       "body": server_agent_id("analyst")},
                                             "times": 0, "fault": "status", "status": 500})
    status, events, stderr = SERVER.run(["--retries", "1", "-c", "/fanout researcher,analyst --into writer go"],
                                        profile=team())
    eq(status, 0, "exit status: the pattern went on without the branch")
    failed = [e for e in of_type(events, "pattern.step") if e["status"] == "failed"]
    eq([e["step"] for e in failed], ["analyst"], "the analyst's branch failed")
    contains(failed[0]["message"], "HTTP 500", "why")
    partial = [e for e in of_type(events, "pattern.step") if e["status"] == "partial"]
    eq(partial[0]["message"], "1 of 2 branches failed; going on with the other 1", "reported")
    eq(one(events, "pattern.done")["status"], "done", "the fan-in went on")
    contains([e for e in of_type(events, "message.input") if e["agent"] == "writer"][0]["content"],
             "## analyst (analyst)\n(no result: ", "the fan-in is told")
    eq(len(of_type(events, "warning")), 1, "one retry, as --retries 1 says")
    no_rejections()


@test
def fanout_all_fails_when_one_branch_fails():
    fresh()
    fail_conversations_after(1)
    status, events, stderr = SERVER.run(["--retries", "0", "-c", "/fanout researcher,analyst --into writer --all go"],
                                        profile=team())
    eq(status, 1, "exit status")
    done = one(events, "pattern.done")
    eq(done["status"], "failed", "failed")
    contains(done["message"], "failed: HTTP 500", "names the branch's error")
    eq([e for e in of_type(events, "pattern.step") if e["step"] == "fan-in"], [], "no fan-in")
    no_rejections()


@test
def fanout_of_eight_against_the_server_runs_at_once():
    fresh()
    agents = ["w%d" % i for i in range(8)]
    profile = lib.write_profile({"agents": [{"name": a, "model": "m", "offline": [{"say": "ok " + a}]} for a in agents]},
                                "eight.json")
    SERVER.reset(script={a: [{"say": "ok " + a}] for a in agents},
                 faults={"match": {"method": "POST", "path": "^/v1/conversations$"}, "times": 0,
                         "fault": "latency", "ms": 500})
    start = time.monotonic()
    status, events, stderr = SERVER.run(["-c", "/fanout %s go" % ",".join(agents)], profile=profile, timeout=60)
    eq(status, 0, "exit status")
    done = one(events, "pattern.done")
    check(done["latency_ms"] < 8 * 500 / 2, "8 branches of 500 ms took %d ms: not one after another" % done["latency_ms"])
    no_rejections()


@test
def compete_judges_the_analysts():
    status, events, stderr = run(["-c", "/compete researcher,analyst --judge writer which is best?"], profile=team())
    eq(status, 0, "exit status")
    judge = [e for e in of_type(events, "message.input") if e["agent"] == "writer"][0]["content"]
    contains(judge, "The analysts' answers", "the judge is told what it judges")
    contains(judge, "recommend one", "and asked to recommend")
    eq([s for s in steps(events) if s[0] == "judge"], [("judge", "started"), ("judge", "done")], "judge step")


@test
def compete_needs_a_judge():
    status, events, stderr = run(["-c", "/compete researcher,analyst which?"], profile=team())
    eq(status, 1, "exit status")
    eq(one(events, "error")["message"], "/compete needs a judge: --judge AGENT", "message")


@test
def delegate_runs_the_plan_with_dependencies():
    status, events, stderr = run(["-c", "/delegate manager write a market report"], profile=team())
    eq(status, 0, "exit status")
    order = steps(events)
    check(order.index(("facts", "started")) < order.index(("facts", "done")), "facts ran")
    check(order.index(("numbers", "started")) < order.index(("facts", "done")),
          "independent subtasks start together: %s" % order)
    check(order.index(("report", "started")) > max(order.index(("facts", "done")), order.index(("numbers", "done"))),
          "report waits for its dependencies")
    report = [e for e in of_type(events, "message.output") if e["agent"] == "writer"][0]
    eq(report["content"], "REPORT built on facts and numbers.", "the writer was given both results")
    done = one(events, "pattern.done")
    eq(done["output"], "FINAL: the report is done.", "the manager answers with the results")


@test
def delegate_on_mistral_asks_for_a_json_schema_plan():
    fresh()
    status, events, stderr = SERVER.run(["-c", "/delegate manager write a market report"], profile=team())
    eq(status, 0, "exit status")
    eq(one(events, "pattern.done")["output"], "FINAL: the report is done.", "the manager answers")
    plans = [r["body"] for r in SERVER.requests()
             if r["path"].startswith("/v1/conversations") and "completion_args" in (r["body"] or {})]
    eq(len(plans), 1, "only the plan asks for a format")
    fmt = plans[0]["completion_args"]["response_format"]
    eq((fmt["type"], fmt["json_schema"]["name"]), ("json_schema", "plan"), "a JSON schema response")
    eq(fmt["json_schema"]["schema"]["required"], ["subtasks"], "the plan's schema")
    no_rejections()


@test
def delegate_with_a_plan_that_is_not_json_says_what_came_back():
    status, events, stderr = run(["-c", "/delegate manager broken plan please"], profile=team())
    eq(status, 1, "exit status")
    eq(one(events, "pattern.done")["message"],
       "the manager's plan is not JSON; it answered: Sure! I will get right on it.", "message")
    contains(stderr, "plan is not JSON", "stderr says so")


@test
def delegate_checks_workers_and_cycles():
    status, events, stderr = run(["--keep-going", "-c", "/delegate manager unknown worker", "-c",
                                  "/delegate manager circular"], profile=team())
    eq(status, 1, "exit status")
    messages = [e["message"] for e in of_type(events, "pattern.done")]
    contains(messages[0], "subtasks[0].worker: no such agent in the team", "unknown worker")
    contains(messages[1], "the dependencies go round in a circle", "cycle")


@test
def decompose_builds_a_tree_and_combines_upwards():
    status, events, stderr = run(["-c", "/decompose decomposer --executor writer --depth 2 big job"], profile=team())
    eq(status, 0, "exit status")
    nodes = {e["step"]: e.get("parent") for e in of_type(events, "pattern.step") if e["status"] == "started"}
    for node, parent in (("1.1", "1"), ("1.2", "1"), ("1.1.1", "1.1"), ("1.2.2", "1.2")):
        eq(nodes.get(node), parent, "node %s under %s" % (node, parent))
    check("1.1.1:exec" in nodes, "the leaves are executed")
    combining = [e["step"] for e in of_type(events, "pattern.step") if e["status"] == "combining"]
    eq(sorted(combining), ["1", "1.1", "1.2"], "each split node combines its children")
    eq(one(events, "pattern.done")["output"], "COMBINED", "the root's combination")


@test
def decompose_reports_the_depth_limit():
    status, events, stderr = run(["-c", "/decompose decomposer --executor writer --depth 1 big job"], profile=team())
    eq(status, 0, "exit status")
    limits = [e for e in of_type(events, "pattern.step") if e["status"] == "depth-limit"]
    eq(sorted(e["step"] for e in limits), ["1.1", "1.2"], "reached at level 1")
    contains(limits[0]["message"], "the depth limit (1) is reached", "says so")


@test
def pattern_commands_name_what_is_wrong():
    status, events, stderr = run(["--keep-going", "-c", "/pipeline researcher text", "-c", "/fanout a,b go",
                                  "-c", "/fanout researcher,analyst --timeout soon go",
                                  "-c", "/decompose decomposer --depth 2 x", "-c", "/run nothing x",
                                  "-c", "/route researcher x"], profile=team())
    eq(status, 1, "exit status")
    eq([e["message"] for e in of_type(events, "error")],
       ["pipeline needs at least 2 agents, got 1",
        "agents: no agent named \"a\"",
        "--timeout soon: expected seconds, more than 0",
        "/decompose needs an executor: --executor AGENT",
        "no workflow named \"nothing\" (the profile has no workflows)",
        "the profile has no routes (a \"routes\" map from labels to agents)"],
       "one clear message each")
    eq(pattern_events(events), [], "nothing started")


@test
def state_set_show_clear():
    status, events, stderr = run(["-c", "/state set stage new", "-c", "/state set count 3", "-c", "/state show",
                                  "-c", "/state clear"], profile=team())
    eq(status, 0, "exit status")
    eq([e["state"] for e in of_type(events, "state")],
       [{"stage": "new"}, {"stage": "new", "count": 3}, {"stage": "new", "count": 3}, {}], "states")


@test
def handlers_share_one_conversation_in_order():
    status, events, stderr = run(["-c", "/on order.created researcher", "-c", "/on order.created analyst",
                                  "-c", "/emit order.created id=42", "-c", "/emit order.created id=43",
                                  "-c", "/off order.created analyst", "-c", "/handlers"], profile=team())
    eq(status, 0, "exit status")
    eq([(e["agent"], e["content"]) for e in of_type(events, "message.input")],
       [("researcher", "EVENT order.created: id=42"), ("analyst", "EVENT order.created: id=42"),
        ("researcher", "EVENT order.created: id=43"), ("analyst", "EVENT order.created: id=43")], "in order")
    eq({e["conversation"] for e in of_type(events, "message.input")}, {"c1"}, "one shared conversation")
    eq(of_type(events, "handler.list")[-1]["handlers"], {"order.created": ["researcher"]}, "analyst is off")


@test
def listen_socket_fires_events():
    path = os.path.join(lib.tmpdir("sock"), "deck.sock")
    # The handler comes with the profile: a /on line on stdin could be read
    # after the socket's line on a slow machine.
    profile = lib.write_profile(dict(TEAM, handlers={"deploy.done": "writer"}), "listen.json")
    proc = subprocess.Popen(lib.command(["--profile", profile, "--listen", path, "--batch", "-"]),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=dict(os.environ, XDG_STATE_HOME=lib.tmpdir("state")))
    deadline = time.monotonic() + 30
    while not os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.05)
    check(os.path.exists(path), "the socket is there")
    eq(oct(os.stat(path).st_mode & 0o777), oct(0o600), "only this user may write to it")
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    s.sendall(b"deploy.done version 2\nnot/valid x\n")
    s.close()
    # Read the events as they come until the handler's run is done (a slow
    # run under valgrind takes its time), then end the batch.
    seen = b""
    deadline = time.monotonic() + 60
    while b'"run.done"' not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.5)
        if ready:
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                break
            seen += chunk
    out, err = proc.communicate(timeout=60)
    out = seen + out
    events = lib.parse_events(out.decode("utf-8"))
    emitted = one(events, "event.emitted")
    eq((emitted["event"], emitted["data"], emitted["source"]), ("deploy.done", "version 2", "socket"), "emitted")
    eq([e["content"] for e in of_type(events, "message.input")], ["EVENT deploy.done: version 2"], "the handler ran")
    contains(one(events, "error")["message"], "\"not/valid\" is not a valid event name", "a bad line is reported")
    check(not os.path.exists(path), "the socket is removed at exit")


if __name__ == "__main__":
    try:
        lib.main()
    finally:
        SERVER.stop()
