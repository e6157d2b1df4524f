#!/usr/bin/env python3
"""MCP servers against the real reference server,
@modelcontextprotocol/server-everything 2026.8.31, which .ci/run installs
into tests/mcp/node_modules (npm install --prefix tests/mcp ...): over stdio,
over Streamable HTTP and the older HTTP+SSE on a loopback port. An offline
agent calls the server's tools by their function names (everything__get-sum);
results, tool errors, progress, time limits, a server killed during a call,
one that cannot start, /mcp restart, and the agent definition sent to the
fake Mistral server (valid against the spec) are checked. Without node or the
package, every test skips and says how to install it."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import lib  # noqa: E402
from lib import FakeMistral, Failure, Skip, check, contains, eq, of_type, one, test, types  # noqa: E402

PACKAGE = "@modelcontextprotocol/server-everything"
VERSION = "2026.8.31"
EVERYTHING = lib.srcpath("tests", "mcp", "node_modules", "@modelcontextprotocol", "server-everything", "dist",
                         "index.js")
# Seconds: node starts slowly, and agentdeck may run under valgrind.
SLOW = 90

SUM = "The sum of 2 and 3 is 5."
MESSAGE = 'Grüße, "quoted" \\ back – ünïcødé ✓'

# The offline model: a rule per question, and rules that read the results.
RULES = [
    {"when": "^The sum of .* is ([0-9]+)\\.$", "say": "The sum is {1}."},
    {"when": "^Echo: ", "say": "It came back."},
    {"when": "^Long running operation completed", "say": "The long operation finished."},
    {"when": "^error: (.*)", "say": "It failed: {1}"},
    {"when": "^sum", "call": {"name": "everything__get-sum", "arguments": {"a": 2, "b": 3}}},
    {"when": "^echo (.*)", "call": {"name": "everything__echo", "arguments": {"message": "{1}"}}},
    {"when": "^wrong", "call": {"name": "everything__get-sum", "arguments": {"a": "two"}}},
    {"when": "^image", "call": {"name": "everything__get-tiny-image", "arguments": {}}},
    {"when": "^weather", "call": {"name": "everything__get-structured-content", "arguments": {"location": "Chicago"}}},
    {"when": "^links", "call": {"name": "everything__get-resource-links", "arguments": {"count": 2}}},
    {"when": "^logging", "call": {"name": "everything__toggle-simulated-logging", "arguments": {}}},
    {"when": "^env", "call": {"name": "everything__get-env", "arguments": {}}},
    {"when": "^slow", "call": {"name": "everything__trigger-long-running-operation",
                               "arguments": {"duration": 20, "steps": 20}}},
    {"say": "I can add, echo and wait."},
]


def need_server():
    """Skips without the server, except in CI, where .ci/run installs it."""
    missing = None
    if not shutil.which("node"):
        missing = "node is not installed (.ci/run installs nodejs and npm)"
    elif not os.path.isfile(EVERYTHING):
        missing = "%s@%s is not installed: npm install --prefix tests/mcp %s@%s" % (PACKAGE, VERSION, PACKAGE, VERSION)
    if missing and os.environ.get("CI"):
        raise Failure(missing)
    if missing:
        raise Skip(missing)


def profile_with(server, **agent_extra):
    """A profile with MCP server `server` and two agents: calc takes its
    tools, plain takes none."""
    calc = dict({"name": "calc", "tools": [{"type": "mcp", "server": "everything"}], "offline": RULES}, **agent_extra)
    return lib.write_profile({
        "name": "mcp-test",
        "mcp": [dict({"name": "everything"}, **server)],
        "agents": [calc, {"name": "plain", "offline": [{"say": "Hello without tools."}]}],
    })


def stdio_server(**extra):
    return dict({"command": ["node", EVERYTHING, "stdio"]}, **extra)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class HttpEverything:
    """The reference server in an HTTP mode (streamableHttp or sse) on a free
    loopback port, started by the test and stopped by it."""

    def __init__(self, mode):
        self.mode = mode
        self.proc = None
        self.port = None

    def start(self):
        for _ in range(5):
            self.port = free_port()
            env = dict(os.environ, PORT=str(self.port))
            self.proc = subprocess.Popen(["node", EVERYTHING, self.mode], env=env, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.PIPE, start_new_session=True)
            timer = threading.Timer(SLOW, self.proc.kill)
            timer.start()
            lines = []
            try:
                for line in self.proc.stderr:
                    lines.append(line.decode("utf-8", "replace"))
                    if ("port %d" % self.port).encode() in line:
                        return self
            finally:
                timer.cancel()
            self.stop()
            if not any("EADDRINUSE" in l or "already in use" in l for l in lines):
                raise Failure("the %s server did not start: %s" % (self.mode, "".join(lines)[-2000:]))
        raise Failure("no free port for the %s server" % self.mode)

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def kill(self):
        os.killpg(self.proc.pid, signal.SIGKILL)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        if self.proc:
            self.proc.wait()
            self.proc.stderr.close()
        self.proc = None


def parse_lines(lines):
    return lib.parse_events(b"".join(lines).decode("utf-8"))


def check_conversation(events, conversation, result, answer):
    """The function.result and the answer of one conversation."""
    mine = [e for e in events if e.get("conversation") == conversation]
    eq(one(mine, "function.result")["result"], result, "%s: the function.result" % conversation)
    eq(one(mine, "message.output")["content"], answer, "%s: the agent's answer" % conversation)
    one(mine, "run.done")


def check_tools_calls(events, transport):
    started = one(events, "mcp.started")
    eq((started["server"], started["transport"], started["server_name"], started["protocol_version"]),
       ("everything", transport, "mcp-servers/everything", "2025-11-25"), "mcp.started")
    check(started["tools"] >= 12, "the server's tools: %s" % started["tools"])
    conversations = [e["conversation"] for e in of_type(events, "conversation.started")][:3]
    calls = of_type(events, "function.call")[:3]
    eq([c["name"] for c in calls], ["everything__get-sum", "everything__echo", "everything__get-sum"], "calls")
    eq(json.loads(calls[1]["arguments"]), {"message": MESSAGE}, "echo's arguments")
    check_conversation(events, conversations[0], SUM, "The sum is 5.")
    check_conversation(events, conversations[1], "Echo: " + MESSAGE, "It came back.")
    # A tool's error result goes back to the model as an error, and the run goes on.
    failed = [e for e in events if e.get("conversation") == conversations[2]]
    error = one(failed, "error")
    eq(error["function"], "everything__get-sum", "the error names the function")
    contains(error["message"], "MCP error -32602", "the tool's error")
    contains(one(failed, "function.result")["result"], "error: MCP error -32602", "the result says it failed")
    one(failed, "run.done")


QUESTIONS = ["-c", "/start calc sum of 2 and 3", "-c", "/start calc echo " + MESSAGE, "-c", "/start calc wrong"]


@test
def stdio_tools_results_and_errors():
    need_server()
    path = profile_with(stdio_server(env={"MCP_TEST_VARIABLE": "from the profile"}))
    status, events, stderr = lib.run(["--backend", "offline"] + QUESTIONS +
                                     ["-c", "/agent show calc", "-c", "/mcp tools everything", "-c", "/mcp list",
                                      "-c", "/start calc image", "-c", "/start calc weather", "-c", "/start calc links",
                                      "-c", "/start calc env"],
                                     profile=path, env={"MISTRAL_API_KEY": "sk-test-SECRET"}, timeout=SLOW)
    eq(status, 0, "exit status")
    check_tools_calls(events, "stdio")
    # Other kinds of content, as text for the model.
    image, weather, links = [e["result"] for e in of_type(events, "function.result")[3:6]]
    lines = image.split("\n")
    eq((lines[0], lines[2]), ("Here's the image you requested:", "The image above is the MCP logo."), "image text")
    check(lines[1].startswith("[image image/png: ") and lines[1].endswith(" bytes, not shown]"),
          "the image as a placeholder: %s" % lines[1])
    eq(json.loads(weather), {"temperature": 36, "conditions": "Light rain / drizzle", "humidity": 82},
       "structured content, once")
    link_lines = links.split("\n")
    eq(len([l for l in link_lines if l.startswith("[resource link: ")]), 2, "two resource links: %s" % links)
    # The server's environment: the profile's env and a few variables, never the key.
    environment = json.loads(of_type(events, "function.result")[-1]["result"])
    eq(environment.get("MCP_TEST_VARIABLE"), "from the profile", "the profile's env")
    check("MISTRAL_API_KEY" not in environment and "sk-test-SECRET" not in json.dumps(environment),
          "the key stays with agentdeck: %s" % sorted(environment))
    # The server's stderr is kept in the log, and it is stopped at the end.
    logs = [e["text"] for e in of_type(events, "mcp.log") if e["stream"] == "stderr"]
    contains("\n".join(logs), "Starting default (STDIO) server", "its stderr")
    eq(types(events)[-1], "mcp.stopped", "the last event")
    check(lib.wait_gone(one(events, "mcp.started")["pid"], 10), "the server process is gone")
    # The agent has the tools as plain function tools, schema and all.
    tools = one(events, "agent.show")["definition"]["tools"]
    eq({t["type"] for t in tools}, {"function"}, "only function tools")
    by_name = {t["function"]["name"]: t["function"] for t in tools}
    check("everything__get-sum" in by_name and "everything__echo" in by_name, "names: %s" % sorted(by_name))
    get_sum = by_name["everything__get-sum"]
    eq(get_sum["description"], "Returns the sum of two numbers", "description")
    eq(sorted(get_sum["parameters"]["required"]), ["a", "b"], "parameters")
    eq(get_sum["parameters"]["properties"]["a"]["type"], "number", "a parameter's schema")
    # Tools that need the tasks extension are left out.
    check("everything__simulate-research-query" not in by_name, "a task-only tool was offered")
    listed = one(events, "mcp.tool.list")["tools"]
    eq([t["function"] for t in listed], sorted(by_name, key=[t["function"] for t in listed].index),
       "/mcp tools lists what the agent has")
    server = one(events, "mcp.list")["servers"][0]
    eq((server["state"], server["transport"]), ("ready", "stdio"), "/mcp list")


@test
def streamable_http_tools_results_and_errors():
    need_server()
    server = HttpEverything("streamableHttp").start()
    try:
        path = profile_with({"url": server.url("/mcp"), "headers": {"X-Test": "agentdeck"}})
        status, events, stderr = lib.run(QUESTIONS, profile=path, timeout=SLOW)
    finally:
        server.stop()
    eq(status, 0, "exit status")
    check_tools_calls(events, "http")
    eq(types(events)[-1], "mcp.stopped", "the session is ended at the end")


@test
def legacy_sse_transport():
    need_server()
    server = HttpEverything("sse").start()
    try:
        path = profile_with({"url": server.url("/sse"), "transport": "sse"})
        status, events, stderr = lib.run(QUESTIONS[:2], profile=path, timeout=SLOW)
    finally:
        server.stop()
    eq(status, 0, "exit status")
    eq(one(events, "mcp.started")["transport"], "sse", "transport")
    check_conversation(events, one(events, "conversation.started")["conversation"], SUM, "The sum is 5.")
    eq(of_type(events, "mcp.log"), [], "nothing odd to log")


def killed_during_a_call(server_entry, kill, expected_reason):
    """Starts a slow call, kills the server at its first progress, and
    checks the clear error, the run going on and no hang. Returns the events."""
    path = profile_with(server_entry)
    proc, _ = lib.spawn(["--batch", "-"], profile=path, stdin="pipe")
    proc.stdin.write(b"/start calc slow please\n")
    proc.stdin.flush()
    lines = lib.read_until(proc, b'"mcp.progress"', timeout=SLOW)
    progress = parse_lines(lines)[-1]
    eq((progress["server"], progress["tool"], progress["function"], progress["progress"], progress["total"]),
       ("everything", "trigger-long-running-operation", "everything__trigger-long-running-operation", 1, 20),
       "the first progress")
    eq(progress["run"], "r1", "progress names the run")
    check(progress["tool_call_id"], "progress names the call")
    kill(parse_lines(lines))
    lines += lib.read_until(proc, b'"run.done"', timeout=SLOW)
    proc.stdin.close()
    out, err = lib.finish(proc, timeout=SLOW)
    events = lib.parse_events(b"".join(lines).decode("utf-8") + out.decode("utf-8"))
    eq(proc.returncode, 0, "exit status (stderr: %s)" % err.decode("utf-8", "replace"))
    mcp_error = one(events, "mcp.error")
    contains(mcp_error["message"], "MCP server everything stopped working: " + expected_reason, "mcp.error")
    error = one(events, "error")
    contains(error["message"], "everything__trigger-long-running-operation: MCP server everything stopped working",
             "the call's error")
    contains(one(events, "function.result")["result"], "error: ", "the model is told")
    contains(one(events, "message.output")["content"], "It failed: ", "the agent answers without the tool")
    return events


@test
def stdio_server_killed_during_a_call():
    need_server()
    events = killed_during_a_call(stdio_server(),
                                  lambda seen: os.kill(one(seen, "mcp.started")["pid"], signal.SIGKILL),
                                  "the server was killed by signal 9")
    check(one(events, "run.done"), "the run ended")


@test
def http_server_killed_during_a_call():
    need_server()
    server = HttpEverything("streamableHttp").start()
    try:
        killed_during_a_call({"url": server.url("/mcp")}, lambda seen: server.kill(),
                             "the connection to %s failed" % server.url("/mcp"))
    finally:
        server.stop()


@test
def restart_brings_a_dead_server_back():
    need_server()
    path = profile_with(stdio_server())
    proc, _ = lib.spawn(["--batch", "-"], profile=path, stdin="pipe")
    lines = lib.read_until(proc, b'"mcp.started"', timeout=SLOW)
    os.kill(parse_lines(lines)[-1]["pid"], signal.SIGKILL)
    lines += lib.read_until(proc, b'"mcp.error"', timeout=SLOW)
    proc.stdin.write(b"/start calc sum\n/mcp restart everything\n/start calc sum\n/mcp list\n")
    proc.stdin.close()
    out, err = lib.finish(proc, timeout=SLOW)
    events = lib.parse_events(b"".join(lines).decode("utf-8") + out.decode("utf-8"))
    eq(proc.returncode, 0, "exit status (stderr: %s)" % err.decode("utf-8", "replace"))
    contains(one(events, "mcp.error")["message"], "stopped working: the server was killed by signal 9", "mcp.error")
    results = [e["result"] for e in of_type(events, "function.result")]
    eq(len(results), 2, "two calls")
    contains(results[0], "MCP server everything is not running (it stopped working", "while it was dead")
    eq(results[1], SUM, "after the restart")
    eq(len(of_type(events, "mcp.started")), 2, "started twice")
    eq(one(events, "mcp.list")["servers"][0]["state"], "ready", "ready again")


@test
def a_slow_call_times_out_and_is_cancelled():
    need_server()
    path = profile_with(stdio_server(timeout=1))
    status, events, stderr = lib.run(["-c", "/start calc slow", "-c", "/start calc sum"], profile=path,
                                     timeout=SLOW)
    eq(status, 0, "exit status")
    results = [e["result"] for e in of_type(events, "function.result")]
    eq(results, ["error: everything__trigger-long-running-operation timed out after 1 s (the call was cancelled)",
                 SUM], "a timeout, then the server still answers")


def seconds(ts):
    """An event's ts as seconds since the epoch."""
    import calendar
    return calendar.timegm(time.strptime(ts[:19], "%Y-%m-%dT%H:%M:%S")) + int(ts[20:23]) / 1000.0


@test
def a_server_that_outlives_its_input_is_terminated():
    need_server()
    # With simulated logging on, the server's timers keep it alive after its
    # stdin closes (MCP.md §1.5): only SIGTERM, after the grace time, ends it.
    path = profile_with(stdio_server())
    status, events, stderr = lib.run(["-c", "/start calc logging"], profile=path, timeout=SLOW)
    eq(status, 0, "exit status")
    logs = [e for e in of_type(events, "mcp.log") if e["stream"] == "notifications"]
    check(logs and logs[0].get("level"), "the server's log messages are kept: %s" % of_type(events, "mcp.log"))
    eq(types(events)[-1], "mcp.stopped", "the last event")
    check(lib.wait_gone(one(events, "mcp.started")["pid"], 10), "the server process is gone")
    waited = seconds(events[-1]["ts"]) - seconds(one(events, "run.done")["ts"])
    check(waited >= 1.9, "stopped by SIGTERM after the grace time, %.2f s after the run" % waited)


@test
def a_server_that_cannot_start_gives_one_message():
    path = profile_with({"command": ["/nonexistent/mcp-server", "stdio"]})
    status, events, stderr = lib.run(["-c", "/agent list", "-c", "/start plain hi", "-c", "/mcp list"],
                                     profile=path, timeout=SLOW)
    eq(status, 0, "the rest works: exit status")
    message = "MCP server everything could not start: cannot run /nonexistent/mcp-server: No such file or directory"
    eq(one(events, "mcp.error")["message"], message, "mcp.error")
    eq(stderr, "agentdeck: " + message + "\n", "stderr: one clear line")
    eq(one(events, "message.output")["content"], "Hello without tools.", "another agent still answers")
    server = one(events, "mcp.list")["servers"][0]
    eq((server["state"], server["error"]), ("failed", "it could not start: cannot run /nonexistent/mcp-server: "
                                            "No such file or directory"), "/mcp list")
    # Its tools never reach the agent; a call says why it cannot be made.
    status, events, stderr = lib.run(["-c", "/start calc sum"], profile=path, timeout=SLOW)
    eq(status, 0, "exit status")
    contains(one(events, "function.result")["result"],
             "everything__get-sum: MCP server everything is not running (it could not start", "the result")
    one(events, "run.done")


@test
def the_shipped_profile_runs_the_reference_server():
    need_server()
    # profiles/mcp.json starts the server with npx; this npx runs the installed copy.
    shim_dir = lib.tmpdir("npx")
    shim = os.path.join(shim_dir, "npx")
    with open(shim, "w") as f:
        f.write('#!/bin/sh\n# npx -y PACKAGE@VERSION MODE\nshift 2\nexec node "%s" "$@"\n' % EVERYTHING)
    os.chmod(shim, 0o755)
    with open(lib.profile("mcp.json"), encoding="utf-8") as f:
        shipped = json.load(f)
    eq(shipped["mcp"][0]["command"][:3], ["npx", "-y", PACKAGE + "@" + VERSION], "the pinned package")
    status, events, stderr = lib.run(["-c", "/start assistant What is 2 plus 3?"], profile="mcp.json",
                                     env={"PATH": shim_dir + ":" + os.environ["PATH"]}, timeout=SLOW)
    eq(status, 0, "exit status")
    eq(one(events, "function.call")["name"], "everything__get-sum", "the call")
    eq(one(events, "function.result")["result"], SUM, "the result")
    contains(one(events, "message.output")["content"], "5", "the answer")


MISTRAL = FakeMistral()


@test
def the_mistral_agent_gets_the_tools_as_functions():
    need_server()
    url = MISTRAL.start()
    if url is None:
        raise Skip("the Mistral OpenAPI spec (../shared/api) is not there")
    check(url.startswith("http"), "the fake server started: %s" % url)
    try:
        MISTRAL.reset(script={"calc": RULES})
        path = profile_with(stdio_server())
        status, events, stderr = MISTRAL.run(["-c", "/start calc sum of 2 and 3"], profile=path, timeout=SLOW)
        eq(MISTRAL.rejections(), [], "requests the fake server rejected as off-spec")
        created = [r["body"] for r in MISTRAL.requests() if r["method"] == "POST" and r["path"] == "/v1/agents"]
    finally:
        MISTRAL.stop()
    eq(status, 0, "exit status (stderr: %s)" % stderr)
    calc = [b for b in created if b["name"] == "calc"]
    eq(len(calc), 1, "calc created once, with its tools")
    names = [t["function"]["name"] for t in calc[0]["tools"]]
    check("everything__get-sum" in names, "the MCP tools are function tools: %s" % names)
    eq({t["type"] for t in calc[0]["tools"]}, {"function"}, "no tool of type mcp reaches Mistral")
    eq(one(events, "function.result")["result"], SUM, "the call ran on the client")
    eq(one(events, "message.output")["content"], "The sum is 5.", "the answer")


if __name__ == "__main__":
    lib.main()
