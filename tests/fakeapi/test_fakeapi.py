#!/usr/bin/env python3
"""TAP tests of the fake Mistral server (server.py beside this file).

Starts the server on a free port and checks each of its behaviours with raw
HTTP: validation against the spec, auth, agents, conversations, streaming
framing, the scripted model (function calls, built-in tools, handoffs,
confirmations), every fault, the control API and concurrency. Standard
library only; the SSE and chunked framing are parsed here, by hand, so the
tests see exactly what goes over the wire.

Prints `1..N`, then `ok N - name` or `not ok N - name` with `# ` lines, and
exits 0 even when tests fail (the TAP driver counts). Without a spec (or
without PyYAML/jsonschema) it prints `1..0 # SKIP ...`.

After every test the server's self-check log (/_fake/violations: answers of
the fake that break the spec's response schemas) must be empty.
"""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.request
from email.utils import formatdate

sys.dont_write_bytecode = True

HERE = os.path.dirname(os.path.abspath(__file__))
SERVER = os.path.join(HERE, "server.py")
KEY = "test-key"


class Skip(Exception):
    pass


# ---- a running server ------------------------------------------------------------


class Fake:
    """server.py in a child process, on a free port."""

    def __init__(self, *args):
        # stderr goes to a file: a pipe nobody reads could fill and block the server.
        self.stderr = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen([sys.executable, SERVER, "--port", "0"] + list(args),
                                     stdout=subprocess.PIPE, stderr=self.stderr, text=True)
        line = self.proc.stdout.readline()
        m = re.match(r"listening on http://127\.0\.0\.1:(\d+)$", line.strip())
        if not m:
            status = self.proc.wait(timeout=10)
            self.stderr.seek(0)
            err = self.stderr.read().strip()
            if status == 3:
                raise Skip(err or "server cannot run here")
            raise RuntimeError("server did not start (status %s): %s" % (status, err))
        self.port = int(m.group(1))
        self.base = "http://127.0.0.1:%d" % self.port

    def stop(self, sig=signal.SIGTERM):
        """Ends the server; returns its exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            # Generous: make check runs tests side by side, under valgrind too.
            return self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    # -- plain requests (urllib) --

    def call(self, method, path, body=None, key=KEY, headers=None, data=None):
        """(status, headers, parsed JSON or text or None) of one request."""
        hdrs = {"Content-Type": "application/json", "Accept": "application/json"}
        if key is not None:
            hdrs["Authorization"] = "Bearer " + key
        hdrs.update(headers or {})
        if data is None and body is not None:
            data = json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=hdrs)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                status, rh, raw = r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            status, rh, raw = e.code, e.headers, e.read()
        text = raw.decode()
        try:
            return status, rh, json.loads(text) if text else None
        except ValueError:
            return status, rh, text

    def ok(self, method, path, body=None, want=200):
        status, _, out = self.call(method, path, body)
        expect(status == want, "%s %s: status %s, wanted %s: %s" % (method, path, status, want, out))
        return out

    def control(self, method, name, body=None):
        status, _, out = self.call(method, "/_fake/" + name, body, key=None)
        expect(status == 200, "control %s %s: %s %s" % (method, name, status, out))
        return out

    # -- raw requests: exactly what crosses the wire --

    def raw(self, method, path, body=None, timeout=15, extra_headers=""):
        return raw_request(self.port, method, path, body, timeout, extra_headers)


class Raw:
    """A response read byte by byte: status, headers, de-chunked body,
    whether the body ended properly (`complete`), how the connection ended
    (`error`: None, "reset" or "timeout") and the longest pause between
    two reads (`max_gap`, seconds)."""

    def __init__(self, status, headers, body, complete, error, max_gap):
        self.status, self.headers, self.body = status, headers, body
        self.complete, self.error, self.max_gap = complete, error, max_gap

    def events(self):
        return parse_sse(self.body.decode())


def raw_request(port, method, path, body=None, timeout=15, extra_headers=""):
    data = body if isinstance(body, bytes) else json.dumps(body).encode() if body is not None else b""
    head = ("%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAuthorization: Bearer %s\r\n"
            "Content-Type: application/json\r\nAccept: text/event-stream\r\n"
            "Content-Length: %d\r\nConnection: close\r\n%s\r\n" % (method, path, port, KEY, len(data), extra_headers))
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(head.encode() + data)
    got, error, last, max_gap = [], None, time.monotonic(), 0.0
    while True:
        try:
            b = s.recv(65536)
        except ConnectionResetError:
            error = "reset"
            break
        except socket.timeout:
            error = "timeout"
            break
        t = time.monotonic()
        max_gap, last = max(max_gap, t - last), t
        if not b:
            break
        got.append(b)
    s.close()
    raw = b"".join(got)
    head, _, rest = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1]) if lines and lines[0] else 0
    headers = {k.strip().lower(): v.strip() for k, _, v in (l.partition(":") for l in lines[1:])}
    if headers.get("transfer-encoding") == "chunked":
        body, complete = dechunk(rest)
    else:
        length = int(headers.get("content-length", len(rest)))
        body, complete = rest[:length], len(rest) >= length
    return Raw(status, headers, body, complete, error, max_gap)


def dechunk(data):
    """(body, whether the terminating 0-size chunk arrived)."""
    out, pos = b"", 0
    while True:
        eol = data.find(b"\r\n", pos)
        if eol < 0:
            return out, False
        size = int(data[pos:eol] or b"0", 16)
        if size == 0:
            return out, True
        chunk = data[eol + 2:eol + 2 + size]
        out += chunk
        if len(chunk) < size:
            return out, False
        pos = eol + 2 + size + 2


def parse_sse(text):
    """(events, tail): events as {"event", "data" (text), "json"} dicts, and
    whatever followed the last blank line (empty when the stream ended on
    an event boundary)."""
    blocks = text.split("\n\n")
    tail = blocks.pop()
    events = []
    for block in blocks:
        ev = {"event": None, "data": None, "lines": block.split("\n")}
        data = []
        for line in ev["lines"]:
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "event":
                ev["event"] = value
            elif field == "data":
                data.append(value)
        ev["data"] = "\n".join(data) if data else None
        try:
            ev["json"] = json.loads(ev["data"])
        except (TypeError, ValueError):
            ev["json"] = None
        events.append(ev)
    return events, tail


def rebuild(events):
    """Entries rebuilt from conversation events the way the official SDK
    does: grouped by output_index, texts and arguments concatenated."""
    groups = {}
    for ev in events:
        d = ev["json"]
        if d and "output_index" in d:
            groups.setdefault(d["output_index"], []).append(d)
    out = []
    for index in sorted(groups):
        g = groups[index]
        first = g[0]
        if first["type"] == "message.output.delta":
            chunks = [d["content"] for d in g]
            if all(isinstance(c, str) for c in chunks):
                content = "".join(chunks)
            else:
                content = []
                for c in chunks:
                    c = {"type": "text", "text": c} if isinstance(c, str) else c
                    if content and c["type"] == "text" and content[-1]["type"] == "text":
                        content[-1] = {"type": "text", "text": content[-1]["text"] + c["text"]}
                    else:
                        content.append(c)
            out.append({"type": "message.output", "id": first["id"], "content": content})
        elif first["type"] == "function.call.delta":
            out.append({"type": "function.call", "id": first["id"], "name": first["name"],
                        "tool_call_id": first["tool_call_id"],
                        "arguments": "".join(d["arguments"] for d in g)})
        elif first["type"] == "tool.execution.started":
            out.append({"type": "tool.execution", "id": first["id"], "name": first["name"],
                        "arguments": "".join(d.get("arguments", "") for d in g),
                        "info": g[-1].get("info")})
        elif first["type"] == "agent.handoff.started":
            out.append({"type": "agent.handoff", "id": first["id"],
                        "previous_agent_name": first["previous_agent_name"],
                        "next_agent_name": g[-1]["next_agent_name"]})
    return out


# ---- assertions and the TAP runner ---------------------------------------------------


class Failure(Exception):
    pass


def expect(cond, message):
    if not cond:
        raise Failure(message)


def eq(got, want, what):
    expect(got == want, "%s: got %r, wanted %r" % (what, got, want))


TESTS = []


def test(fn):
    TESTS.append(fn)
    return fn


def main():
    try:
        fake = Fake()
    except Skip as e:
        print("1..0 # SKIP %s" % str(e).replace("\n", " "))
        return 0
    print("1..%d" % len(TESTS), flush=True)
    failed = 0
    try:
        for n, fn in enumerate(TESTS, 1):
            name = fn.__name__.replace("_", " ")
            try:
                fake.control("POST", "reset")
                fn(fake)
                bad = fake.control("GET", "violations")
                expect(not bad, "the fake answered off-spec: %s" % json.dumps(bad)[:1500])
                print("ok %d - %s" % (n, name), flush=True)
            except Exception as e:
                failed += 1
                print("not ok %d - %s" % (n, name))
                detail = str(e) if isinstance(e, Failure) else traceback.format_exc()
                for line in detail.rstrip().split("\n"):
                    print("# " + line)
                sys.stdout.flush()
    finally:
        fake.stop()
    return 0


# ---- helpers for the tests --------------------------------------------------------------

AGENT_ID = re.compile(r"^ag_[0-9a-f]{32}$")


def make_agent(fake, name, **fields):
    body = {"model": "mistral-medium-latest", "name": name}
    body.update(fields)
    return fake.ok("POST", "/v1/agents", body)


def start(fake, agent, inputs, **fields):
    body = {"inputs": inputs, "stream": False, "agent_id": agent["id"]}
    body.update(fields)
    return fake.ok("POST", "/v1/conversations", body)


def stream(fake, path, body):
    """A streamed request: (Raw, events), checking the framing of a stream
    that ended normally."""
    r = fake.raw("POST", path, dict(body, stream=True))
    eq(r.status, 200, "status of %s (%s)" % (path, r.body[:300]))
    events, tail = r.events()
    expect(r.complete and r.error is None, "stream ended badly: complete=%s error=%s" % (r.complete, r.error))
    eq(tail, "", "bytes after the last event")
    return r, events


def types(entries):
    return [e["type"] for e in entries]


def until(what, cond, timeout=5.0):
    """Polls cond() until it returns a true value, which it returns; fails
    after the timeout."""
    deadline = time.monotonic() + timeout
    while True:
        got = cond()
        if got:
            return got
        expect(time.monotonic() < deadline, "timed out waiting for " + what)
        time.sleep(0.02)


def streaming(fake, path):
    """Whether a stream answering a POST to path has begun."""
    return any(r["path"] == path and r["stream"] for r in fake.control("GET", "requests"))


FUNCTION_TOOL = {"type": "function", "function": {
    "name": "get_european_central_bank_interest_rate",
    "description": "Retrieve the real interest rate of European central bank.",
    "parameters": {"type": "object", "properties": {"date": {"type": "string"}}, "required": ["date"]}}}


# ---- auth ---------------------------------------------------------------------------------------


@test
def auth_missing_key_is_401_with_the_observed_shape(fake):
    status, _, body = fake.call("GET", "/v1/agents", key=None)
    eq(status, 401, "status")
    eq(body["message"], "Unauthorized", "message")
    expect(isinstance(body.get("request_id"), str), "request_id: %r" % body)
    eq(fake.control("GET", "requests")[-1]["auth"], "missing", "logged auth")


@test
def auth_wrong_key_is_401_and_the_right_one_passes(fake):
    eq(fake.call("GET", "/v1/agents", key="nope")[0], 401, "wrong key")
    eq(fake.call("GET", "/v1/agents")[0], 200, "right key")


@test
def custom_key_and_clean_exit_on_sigterm(fake):
    other = Fake("--key", "k2")
    try:
        eq(other.call("GET", "/v1/agents", key="k2")[0], 200, "with --key")
        eq(other.call("GET", "/v1/agents")[0], 401, "default key refused")
    finally:
        t0 = time.monotonic()
        status = other.stop()
    eq(status, 0, "exit status on SIGTERM")
    expect(time.monotonic() - t0 < 10, "slow to stop")


# ---- validation ------------------------------------------------------------------------------------


@test
def unknown_field_is_422_extra_forbidden_and_logged(fake):
    agent = make_agent(fake, "a")
    body = {"inputs": "hi", "stream": False, "agent_id": agent["id"], "temperature": 0.2}
    status, _, out = fake.call("POST", "/v1/conversations", body)
    eq(status, 422, "status")
    eq(out, {"detail": [{"type": "extra_forbidden", "loc": ["body", "temperature"],
                         "msg": "Extra inputs are not permitted", "input": 0.2}]}, "body")
    rej = fake.control("GET", "rejections")
    eq(len(rej), 1, "rejections")
    eq((rej[0]["method"], rej[0]["path"], rej[0]["body"], rej[0]["status"]),
       ("POST", "/v1/conversations", body, 422), "rejection record")
    expect("temperature" in rej[0]["reason"], "reason names the field: %r" % rej[0]["reason"])


@test
def unknown_field_in_an_input_entry_and_in_completion_args(fake):
    agent = make_agent(fake, "a")
    status, _, out = fake.call("POST", "/v1/conversations", {
        "agent_id": agent["id"], "inputs": [{"type": "message.input", "role": "user", "content": "x", "name": "bob"}]})
    eq((status, out["detail"][0]["loc"], out["detail"][0]["type"]),
       (422, ["body", "inputs", 0, "name"], "extra_forbidden"), "entry field")
    status, _, out = fake.call("POST", "/v1/agents", {"model": "m", "name": "n", "completion_args": {"n": 2}})
    eq((status, out["detail"][0]["loc"]), (422, ["body", "completion_args", "n"]), "completion_args.n")
    status, _, out = fake.call("POST", "/v1/chat/completions", {
        "model": "m", "messages": [{"role": "user", "content": "x"}], "stream_options": {"include_usage": True}})
    eq((status, out["detail"][0]["loc"]), (422, ["body", "stream_options"]), "chat stream_options")


@test
def wrong_type_missing_field_and_bad_enum(fake):
    status, _, out = fake.call("POST", "/v1/conversations", {"inputs": "x", "agent_id": 5})
    eq((status, out["detail"]), (422, [{"type": "string_type", "loc": ["body", "agent_id"],
                                        "msg": "Input should be a valid string", "input": 5}]), "wrong type")
    status, _, out = fake.call("POST", "/v1/conversations", {"model": "m"})
    eq(out["detail"], [{"type": "missing", "loc": ["body", "inputs"], "msg": "Field required",
                        "input": {"model": "m"}}], "missing inputs")
    status, _, out = fake.call("POST", "/v1/conversations", {"inputs": "x", "model": "m", "handoff_execution": "both"})
    eq((out["detail"][0]["type"], out["detail"][0]["msg"]),
       ("enum", "Input should be 'client' or 'server'"), "enum")
    eq(len(fake.control("GET", "rejections")), 3, "all three logged")


@test
def streaming_requests_use_the_streaming_schema(fake):
    agent = make_agent(fake, "a")
    r = fake.raw("POST", "/v1/conversations", {"inputs": "x", "agent_id": agent["id"], "stream": True, "n": 1})
    eq(r.status, 422, "unknown field with stream true")
    eq(json.loads(r.body)["detail"][0]["loc"], ["body", "n"], "loc")
    _, events = stream(fake, "/v1/conversations", {"inputs": "x", "agent_id": agent["id"]})
    expect(events, "a valid stream request is answered")


@test
def query_and_path_parameters_are_checked(fake):
    status, _, out = fake.call("GET", "/v1/agents?page_size=5000")
    eq((status, out["detail"][0]["loc"], out["detail"][0]["type"]),
       (422, ["query", "page_size"], "less_than_equal"), "page_size")
    status, _, out = fake.call("GET", "/v1/agents?limit=3")
    eq((status, out["detail"][0]["type"]), (422, "extra_forbidden"), "unknown query parameter")
    status, _, out = fake.call("PATCH", "/v1/agents/ag_x/version?version=first")
    eq((status, out["detail"][0]["type"]), (422, "int_parsing"), "version not an integer")


@test
def bad_json_wrong_content_type_and_stray_bodies(fake):
    status, _, out = fake.call("POST", "/v1/agents", data=b'{"model": "m", ')
    eq((status, out["detail"][0]["type"]), (422, "json_invalid"), "bad JSON")
    status, _, out = fake.call("POST", "/v1/agents", {"model": "m", "name": "n"},
                               headers={"Content-Type": "application/x-www-form-urlencoded"})
    eq((status, out["detail"][0]["type"]), (422, "model_attributes_type"), "form content type")
    status, _, out = fake.call("POST", "/v1/agents", data=b"[]")
    eq((status, out["detail"][0]["type"]), (422, "model_attributes_type"), "an array body")


@test
def paths_and_methods_outside_the_spec_are_rejected(fake):
    eq(fake.call("GET", "/v1/agentz")[0], 404, "unknown path")
    eq(fake.call("POST", "/v1/agents/ag_1", {"name": "x"})[0], 405, "update is PATCH, not POST")
    eq(fake.call("PUT", "/v1/conversations/conv_1", {"inputs": "x"})[0], 405, "PUT on a conversation")
    eq([r["status"] for r in fake.control("GET", "rejections")], [404, 405, 405], "all logged")


@test
def the_examples_of_mistral_api_md_are_accepted(fake):
    # section 3.3 and 4: an agent with a function tool
    agent = make_agent(fake, "Simple Agent", description="A simple Agent with persistent state.",
                       tools=[FUNCTION_TOOL], completion_args={"temperature": 0.3})
    fake.control("POST", "script", {"Simple Agent": [
        {"when": "interest", "call": {"name": FUNCTION_TOOL["function"]["name"],
                                       "arguments": {"date": "2024-06-06"}}},
        {"when": "interest_rate", "say": "It was {input}."}]})
    # section 6.1
    out = fake.ok("POST", "/v1/conversations", {
        "inputs": [{"role": "user", "content": "Who is Albert Einstein?", "object": "entry", "type": "message.input"}],
        "stream": False, "agent_id": agent["id"]})
    conv = out["conversation_id"]
    # section 6.2
    fake.ok("POST", "/v1/conversations/" + conv,
            {"inputs": "Translate to French.", "stream": False, "store": True, "handoff_execution": "server"})
    # section 6.3
    first = fake.ok("GET", "/v1/conversations/%s/history" % conv)["entries"][0]["id"]
    fake.ok("POST", "/v1/conversations/%s/restart" % conv, {
        "from_entry_id": first, "inputs": "Translate to Portuguese.", "stream": False, "store": True,
        "handoff_execution": "server"})
    # section 8.1: function call and result
    out = fake.ok("POST", "/v1/conversations/" + conv, {"inputs": "the interest rate please", "stream": False})
    call = out["outputs"][0]
    fake.ok("POST", "/v1/conversations/" + conv, {
        "inputs": [{"tool_call_id": call["tool_call_id"], "result": '{"date": "2024-06-06", "interest_rate": "2.5%"}',
                    "object": "entry", "type": "function.result"}],
        "stream": False, "store": True, "handoff_execution": "server"})
    # section 6.1, without an agent
    fake.ok("POST", "/v1/conversations", {"inputs": "...", "stream": False, "model": "mistral-medium-latest"})
    eq(fake.control("GET", "rejections"), [], "rejections")


# ---- agents -----------------------------------------------------------------------------------------


@test
def agents_create_get_update_delete(fake):
    a = make_agent(fake, "writer", instructions="Write.", metadata={"profile": "p1"})
    expect(AGENT_ID.match(a["id"]), "id %r" % a["id"])
    eq((a["object"], a["version"], a["versions"], a["deployment_chat"], a["source"], a["tools"], a["handoffs"]),
       ("agent", 0, [0], False, "api", [], None), "new agent")
    eq(a["completion_args"]["tool_choice"], "auto", "default tool_choice")
    expect(re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$", a["created_at"]), "created_at %r" % a["created_at"])
    eq(fake.ok("GET", "/v1/agents/" + a["id"]), a, "get")
    b = make_agent(fake, "reader")
    u = fake.ok("PATCH", "/v1/agents/" + a["id"], {"instructions": "Write well.", "handoffs": [b["id"]]})
    eq((u["version"], u["versions"], u["instructions"], u["handoffs"], u["metadata"], u["created_at"]),
       (1, [0, 1], "Write well.", [b["id"]], {"profile": "p1"}, a["created_at"]), "new version")
    eq(fake.ok("GET", "/v1/agents/%s?agent_version=0" % a["id"])["instructions"], "Write.", "old version")
    eq(fake.ok("GET", "/v1/agents/%s/versions/0" % a["id"])["version"], 0, "versions/0")
    eq([v["version"] for v in fake.ok("GET", "/v1/agents/%s/versions" % a["id"])], [1, 0], "versions")
    eq(fake.ok("PATCH", "/v1/agents/%s/version?version=0" % a["id"])["instructions"], "Write.", "switch back")
    fake.ok("DELETE", "/v1/agents/" + a["id"], want=204)
    eq(fake.call("GET", "/v1/agents/" + a["id"])[0], 404, "deleted")
    status, _, out = fake.call("POST", "/v1/agents", {"model": "m", "name": "x", "handoffs": ["ag_missing"]})
    eq(status, 400, "handoff to an unknown agent")


@test
def agents_list_filters_and_pages(fake):
    for i in range(3):
        make_agent(fake, "agent%d" % i, metadata={"profile": "p" if i else "q"})
    eq([a["name"] for a in fake.ok("GET", "/v1/agents")], ["agent2", "agent1", "agent0"], "newest first")
    meta = urllib.request.quote(json.dumps({"profile": "p"}))
    eq(len(fake.ok("GET", "/v1/agents?metadata=" + meta)), 2, "metadata filter")
    eq(len(fake.ok("GET", "/v1/agents?name=agent1")), 1, "name filter")
    eq(len(fake.ok("GET", "/v1/agents?page=1&page_size=2")), 1, "second page")
    p = fake.ok("GET", "/v1/agents/pages?page_size=2")
    eq((p["object"], len(p["data"]), p["next_page_token"]), ("list", 2, "2"), "pages")
    eq(fake.ok("GET", "/v1/agents/pages?page_size=2&page_token=2")["next_page_token"], None, "last page")


@test
def aliases_and_pinned_versions(fake):
    a = make_agent(fake, "v", instructions="one")
    fake.ok("PATCH", "/v1/agents/" + a["id"], {"instructions": "two"})
    al = fake.ok("PUT", "/v1/agents/%s/aliases?alias=stable&version=0" % a["id"])
    eq((al["alias"], al["version"]), ("stable", 0), "alias")
    eq(fake.ok("GET", "/v1/agents/%s?agent_version=stable" % a["id"])["instructions"], "one", "by alias")
    out = start(fake, a, "hi", agent_version="stable")
    eq(fake.ok("GET", "/v1/conversations/" + out["conversation_id"])["agent_version"], 0, "pinned version")
    fake.ok("DELETE", "/v1/agents/%s/aliases?alias=stable" % a["id"], want=204)
    eq(fake.ok("GET", "/v1/agents/%s/aliases" % a["id"]), [], "aliases")


# ---- conversations --------------------------------------------------------------------------------


@test
def start_answers_a_conversation_response(fake):
    a = make_agent(fake, "echo")
    out = start(fake, a, "Hello there")
    eq(sorted(out), ["conversation_id", "guardrails", "object", "outputs", "usage"], "keys")
    expect(re.match(r"^conv_[0-9a-f]{32}$", out["conversation_id"]), "conversation id")
    msg = out["outputs"][0]
    eq((msg["type"], msg["object"], msg["role"], msg["agent_id"], msg["model"]),
       ("message.output", "entry", "assistant", a["id"], "mistral-medium-latest"), "message")
    expect(re.match(r"^msg_[0-9a-f]{32}$", msg["id"]), "message id")
    eq(msg["content"], "This is echo. You said: Hello there", "default echo names the agent")
    u = out["usage"]
    eq(u["total_tokens"], u["prompt_tokens"] + u["completion_tokens"], "usage adds up")
    eq((u["prompt_tokens"], u["connector_tokens"], u["connectors"]), (2, None, None), "usage counts words")


@test
def scripted_replies_use_groups_and_input(fake):
    a = make_agent(fake, "grocer")
    fake.control("POST", "script", {"grocer": [
        {"when": "([[:digit:]]+) apples", "say": "You have {1} apples, {agent}."},
        {"say": "No apples in: {input}"}]})
    eq(start(fake, a, "I bought 12 Apples")["outputs"][0]["content"], "You have 12 apples, grocer.", "first rule")
    eq(start(fake, a, "pears")["outputs"][0]["content"], "No apples in: pears", "catch-all")
    status, _, out = fake.call("POST", "/_fake/script", {"grocer": [{"when": "(", "say": "x"}]}, key=None)
    eq(status, 400, "a bad rule is refused")


@test
def append_keeps_the_id_and_history_keeps_the_order(fake):
    a = make_agent(fake, "echo")
    conv = start(fake, a, "one")["conversation_id"]
    out = fake.ok("POST", "/v1/conversations/" + conv, {"inputs": "two"})
    eq(out["conversation_id"], conv, "same id after append")
    h = fake.ok("GET", "/v1/conversations/%s/history" % conv)
    eq((h["object"], h["conversation_id"]), ("conversation.history", conv), "history")
    eq(types(h["entries"]), ["message.input", "message.output"] * 2, "entry order")
    eq([e.get("content") for e in h["entries"]][::2], ["one", "two"], "inputs")
    m = fake.ok("GET", "/v1/conversations/%s/messages" % conv)
    eq((m["object"], len(m["messages"])), ("conversation.messages", 4), "messages")
    c = fake.ok("GET", "/v1/conversations/" + conv)
    eq((c["object"], c["agent_id"], c["agent_version"]), ("conversation", a["id"], 0), "AgentConversation")


@test
def restart_needs_an_append_and_branches(fake):
    a = make_agent(fake, "echo")
    conv = start(fake, a, "one")["conversation_id"]
    first = fake.ok("GET", "/v1/conversations/%s/history" % conv)["entries"][0]["id"]
    status, _, _ = fake.call("POST", "/v1/conversations/%s/restart" % conv, {"from_entry_id": first, "inputs": "x"})
    eq(status, 400, "restart before any append")
    fake.ok("POST", "/v1/conversations/" + conv, {"inputs": "two"})
    out = fake.ok("POST", "/v1/conversations/%s/restart" % conv, {"from_entry_id": first, "inputs": "again"})
    new = out["conversation_id"]
    expect(new != conv, "restart gives a new conversation")
    h = fake.ok("GET", "/v1/conversations/%s/history" % new)["entries"]
    eq([e.get("content") for e in h], ["one", "again", "This is echo. You said: again"], "branched history")
    eq(len(fake.ok("GET", "/v1/conversations/%s/history" % conv)["entries"]), 4, "the original is untouched")
    status, _, _ = fake.call("POST", "/v1/conversations/%s/restart" % conv, {"from_entry_id": "msg_nope"})
    eq(status, 400, "unknown entry")


@test
def model_conversations_list_and_delete(fake):
    out = fake.ok("POST", "/v1/conversations", {"inputs": "hi", "model": "mistral-small-latest",
                                                 "instructions": "Be brief.", "metadata": {"k": "v"}})
    conv = out["conversation_id"]
    eq(out["outputs"][0]["content"], "This is mistral-small-latest. You said: hi", "rules by model name")
    c = fake.ok("GET", "/v1/conversations/" + conv)
    eq((c["model"], c["instructions"], c["tools"], c["metadata"]),
       ("mistral-small-latest", "Be brief.", [], {"k": "v"}), "ModelConversation")
    eq(len(fake.ok("GET", "/v1/conversations")), 1, "list")
    meta = urllib.request.quote(json.dumps({"k": "other"}))
    eq(fake.ok("GET", "/v1/conversations?metadata=" + meta), [], "metadata filter")
    fake.ok("DELETE", "/v1/conversations/" + conv, want=204)
    eq(fake.call("GET", "/v1/conversations/" + conv)[0], 404, "deleted")
    status, _, _ = fake.call("POST", "/v1/conversations", {"inputs": "x", "model": "m", "agent_id": "ag_1"})
    eq(status, 400, "agent_id and model together")


# ---- streaming -----------------------------------------------------------------------------------------


@test
def stream_framing_is_exactly_event_and_data_lines(fake):
    a = make_agent(fake, "talker")
    fake.control("POST", "script", {"talker": [{"say": "The quick brown fox jumps over the lazy dog."}]})
    r, events = stream(fake, "/v1/conversations", {"inputs": "go", "agent_id": a["id"]})
    expect(r.headers["content-type"].startswith("text/event-stream"), "content type %r" % r.headers["content-type"])
    for ev in events:
        eq(len(ev["lines"]), 2, "lines of an event")
        expect(ev["lines"][0].startswith("event: ") and ev["lines"][1].startswith("data: "),
               "framing %r" % ev["lines"])
        expect(ev["json"] is not None, "data is JSON: %r" % ev["data"])
        eq(ev["event"], ev["json"]["type"], "event name is data.type")
        expect("\n" not in ev["data"], "one-line data")
    names = [ev["event"] for ev in events]
    eq((names[0], names[-1]), ("conversation.response.started", "conversation.response.done"), "first and last")
    expect(names.count("message.output.delta") >= 3, "text comes in several deltas: %r" % names)
    expect("[DONE]" not in r.body.decode(), "no [DONE]")
    conv = events[0]["json"]["conversation_id"]
    eq(set(ev["json"]["output_index"] for ev in events[1:-1]), {0}, "output_index")
    eq(set(ev["json"]["content_index"] for ev in events[1:-1]), {0}, "content_index")
    hist = fake.ok("GET", "/v1/conversations/%s/history" % conv)["entries"]
    eq(rebuild(events), [{"type": "message.output", "id": hist[1]["id"], "content": hist[1]["content"]}],
       "rebuilt entries")
    usage = events[-1]["json"]["usage"]
    eq(usage["total_tokens"], usage["prompt_tokens"] + usage["completion_tokens"], "done usage")


@test
def stream_of_content_chunks_numbers_content_index(fake):
    a = make_agent(fake, "cite")
    ref = {"type": "tool_reference", "tool": "web_search", "title": "UEFA Euro Winners", "url": "https://example.org"}
    fake.control("POST", "script", {"cite": [{"say": ["Spain won the last cup", ref, "."]}]})
    out = start(fake, a, "who won?")
    eq(out["outputs"][0]["content"], [{"type": "text", "text": "Spain won the last cup"}, ref,
                                      {"type": "text", "text": "."}], "chunk content")
    _, events = stream(fake, "/v1/conversations", {"inputs": "who won?", "agent_id": a["id"]})
    idx = [ev["json"]["content_index"] for ev in events if ev["event"] == "message.output.delta"]
    eq((idx[0], idx[-2], idx[-1]), (0, 1, 2), "content_index around the reference")
    eq(rebuild(events)[0]["content"], out["outputs"][0]["content"], "rebuilt chunks")


# ---- the scripted model: calls, tools, handoffs, confirmations -------------------------------------------------


def finance(fake):
    """The handoff example of Mistral's docs, as profiles/finance.json has it."""
    ecb = make_agent(fake, "ecb", tools=[{"type": "function", "function": {
        "name": "get_interest_rate", "parameters": {"type": "object", "properties": {"year": {"type": "string"}}}}}])
    fin = make_agent(fake, "finance", handoffs=[ecb["id"]])
    fake.control("POST", "script", {
        "finance": [{"when": "interest rate|ECB", "handoff": "ecb"}, {"say": "Budget first."}],
        "ecb": [{"when": "\"year\": *\"([0-9]{4})\", *\"rate\": *\"([^\"]*)\"",
                 "say": "The ECB rate at the end of {1} was {2}."},
                {"when": "((19|20)[0-9]{2})", "call": {"name": "get_interest_rate", "arguments": {"year": "{1}"}}},
                {"say": "Which year?"}]})
    return fin, ecb


@test
def function_call_round_trip(fake):
    fin, ecb = finance(fake)
    out = start(fake, ecb, "rate in 2023?")
    eq(types(out["outputs"]), ["function.call"], "the turn stops at the call")
    call = out["outputs"][0]
    expect(re.match(r"^fc_[0-9a-f]{32}$", call["id"]), "call id")
    expect(re.match(r"^[a-zA-Z0-9]{9}$", call["tool_call_id"]), "tool_call_id %r" % call["tool_call_id"])
    eq((call["name"], json.loads(call["arguments"]), call["completed_at"]),
       ("get_interest_rate", {"year": "2023"}, None), "call")
    conv = out["conversation_id"]
    status, _, body = fake.call("POST", "/v1/conversations/" + conv, {"inputs": "never mind"})
    eq(status, 400, "a call left without its result")
    status, _, body = fake.call("POST", "/v1/conversations/" + conv, {"inputs": [
        {"type": "function.result", "tool_call_id": "call_1", "result": "{}"}]})
    eq((status, body["type"], body["code"]), (400, "invalid_function_call", "3280"), "a malformed tool_call_id")
    out = fake.ok("POST", "/v1/conversations/" + conv, {"inputs": [
        {"type": "function.result", "tool_call_id": call["tool_call_id"],
         "result": '{"year": "2023", "rate": "4.50%"}'}]})
    eq(out["outputs"][0]["content"], "The ECB rate at the end of 2023 was 4.50%.", "the result is the input")
    h = fake.ok("GET", "/v1/conversations/%s/history" % conv)["entries"]
    eq(types(h), ["message.input", "function.call", "function.result", "message.output"], "history")


@test
def function_calls_stream_and_parallel_calls(fake):
    a = make_agent(fake, "multi")
    fake.control("POST", "script", {"multi": [
        {"when": "results", "say": "Got: {input}"},
        {"calls": [{"name": "f", "arguments": {"q": "first question"}}, {"name": "g", "arguments": {}}]}]})
    _, events = stream(fake, "/v1/conversations", {"inputs": "go", "agent_id": a["id"]})
    deltas = [ev["json"] for ev in events if ev["event"] == "function.call.delta"]
    expect(len([d for d in deltas if d["output_index"] == 0]) > 1, "arguments come in fragments")
    calls = rebuild(events)
    eq([(c["name"], c["arguments"]) for c in calls], [("f", '{"q": "first question"}'), ("g", "{}")], "calls")
    conv = events[0]["json"]["conversation_id"]
    status, _, _ = fake.call("POST", "/v1/conversations/" + conv, {"inputs": [
        {"type": "function.result", "tool_call_id": calls[0]["tool_call_id"], "result": "1"}]})
    eq(status, 400, "one result of two")
    out = fake.ok("POST", "/v1/conversations/" + conv, {"inputs": [
        {"type": "function.result", "tool_call_id": c["tool_call_id"], "result": "results %d" % i}
        for i, c in enumerate(calls)]})
    eq(out["outputs"][0]["content"], "Got: results 0\nresults 1", "both results are the input")


@test
def builtin_tool_execution_then_text(fake):
    a = make_agent(fake, "coder", tools=[{"type": "code_interpreter"}])
    fake.control("POST", "script", {"coder": [{
        "tool": {"name": "code_interpreter", "arguments": {"code": "print(6*7)"},
                 "info": {"code": "print(6*7)", "code_output": "42\n"}},
        "say": "The answer is 42."}]})
    out = start(fake, a, "compute")
    eq(types(out["outputs"]), ["tool.execution", "message.output"], "outputs")
    t = out["outputs"][0]
    expect(re.match(r"^tool_exec_[0-9a-f]{32}$", t["id"]), "id")
    eq((t["name"], json.loads(t["arguments"]), t["info"]["code_output"]),
       ("code_interpreter", {"code": "print(6*7)"}, "42\n"), "tool.execution")
    u = out["usage"]
    eq((u["connectors"], u["total_tokens"]),
       ({"code_interpreter": 1}, u["prompt_tokens"] + u["completion_tokens"] + u["connector_tokens"]), "usage")
    _, events = stream(fake, "/v1/conversations", {"inputs": "compute", "agent_id": a["id"]})
    names = [ev["event"] for ev in events]
    for kind in ("tool.execution.started", "tool.execution.delta", "tool.execution.done"):
        expect(kind in names, "%s in %r" % (kind, names))
    rebuilt = rebuild(events)
    eq((rebuilt[0]["arguments"], rebuilt[0]["info"]), (t["arguments"], t["info"]), "rebuilt execution")


@test
def handoff_on_the_server_runs_the_next_agent(fake):
    fin, ecb = finance(fake)
    out = start(fake, fin, "What was the ECB interest rate in 2022?")
    eq(types(out["outputs"]), ["agent.handoff", "function.call"], "handoff, then the next agent's call")
    h = out["outputs"][0]
    expect(h["id"].startswith("handoff_"), "handoff id")
    eq((h["previous_agent_id"], h["previous_agent_name"], h["next_agent_id"], h["next_agent_name"]),
       (fin["id"], "finance", ecb["id"], "ecb"), "handoff entry")
    eq(out["outputs"][1]["agent_id"], ecb["id"], "the call is ecb's")
    conv = out["conversation_id"]
    out = fake.ok("POST", "/v1/conversations/" + conv, {"inputs": [
        {"type": "function.result", "tool_call_id": out["outputs"][1]["tool_call_id"],
         "result": '{"year": "2022", "rate": "2.50%"}'}]})
    eq((out["outputs"][0]["agent_id"], out["outputs"][0]["content"]),
       (ecb["id"], "The ECB rate at the end of 2022 was 2.50%."), "ecb answers after the handoff")
    _, events = stream(fake, "/v1/conversations", {"inputs": "ECB rate?", "agent_id": fin["id"]})
    names = [ev["event"] for ev in events]
    eq(names[1:3], ["agent.handoff.started", "agent.handoff.done"], "handoff events")
    eq([ev["json"]["output_index"] for ev in events[1:3]], [0, 0], "one output_index")
    expect(events[3]["json"]["output_index"] == 1, "the next agent's output follows")


@test
def handoff_on_the_client_stops_at_the_handoff(fake):
    fin, ecb = finance(fake)
    out = start(fake, fin, "ECB interest rate?", handoff_execution="client")
    eq(types(out["outputs"]), ["agent.handoff"], "outputs")
    eq(out["outputs"][0]["next_agent_id"], ecb["id"], "next agent")


@test
def a_handoff_the_agent_does_not_have_is_a_loud_error(fake):
    ecb = make_agent(fake, "ecb")
    fin = make_agent(fake, "finance")  # no handoffs: the client forgot to set them
    fake.control("POST", "script", {"finance": [{"handoff": "ecb"}]})
    status, _, body = fake.call("POST", "/v1/conversations", {"inputs": "x", "agent_id": fin["id"]})
    eq(status, 500, "status")
    expect("not among its handoffs" in body["message"], body["message"])
    eq(fake.control("GET", "rejections")[0]["status"], 500, "logged")


@test
def confirmations_of_a_builtin_tool(fake):
    a = make_agent(fake, "searcher", tools=[{"type": "web_search",
                                             "tool_configuration": {"requires_confirmation": ["web_search"]}}])
    fake.control("POST", "script", {"searcher": [{
        "tool": {"name": "web_search", "arguments": {"query": "euro 2024"}, "info": {"results": 3}},
        "say": "Spain won.", "denied": "I cannot search, then."}]})
    out = start(fake, a, "who won euro 2024?")
    call = out["outputs"][0]
    eq((call["type"], call["name"], call["confirmation_status"]), ("function.call", "web_search", "pending"), "pending")
    conv = out["conversation_id"]
    status, _, _ = fake.call("POST", "/v1/conversations/" + conv, {"inputs": "hello?"})
    eq(status, 400, "inputs without the confirmation")
    out = fake.ok("POST", "/v1/conversations/" + conv,
                  {"tool_confirmations": [{"tool_call_id": call["tool_call_id"], "confirmation": "allow"}]})
    eq(types(out["outputs"]), ["tool.execution", "message.output"], "allowed: the tool runs")
    eq(out["outputs"][1]["content"], "Spain won.", "reply")
    h = fake.ok("GET", "/v1/conversations/%s/history" % conv)["entries"]
    eq(h[1]["confirmation_status"], "allowed", "history records the answer")
    fake.ok("POST", "/v1/conversations/" + conv, {"inputs": "thanks"})  # nothing left waiting
    out = start(fake, a, "again")
    _, events = stream(fake, "/v1/conversations/" + out["conversation_id"], {
        "tool_confirmations": [{"tool_call_id": out["outputs"][0]["tool_call_id"], "confirmation": "deny"}]})
    eq(rebuild(events)[0]["content"], "I cannot search, then.", "denied")


@test
def confirmations_of_a_client_function(fake):
    a = make_agent(fake, "payer", tools=[
        {"type": "function", "function": {"name": "pay", "parameters": {"type": "object"}}},
        {"type": "web_search", "tool_configuration": {"requires_confirmation": ["pay"]}}])
    fake.control("POST", "script", {"payer": [{"when": "paid", "say": "Payment done."},
                                              {"call": {"name": "pay", "arguments": {"eur": 5}}}]})
    out = start(fake, a, "pay 5 euros")
    _, events = stream(fake, "/v1/conversations/" + out["conversation_id"], {
        "tool_confirmations": [{"tool_call_id": out["outputs"][0]["tool_call_id"], "confirmation": "allow"}]})
    deltas = [ev["json"] for ev in events if ev["event"] == "function.call.delta"]
    eq({d["confirmation_status"] for d in deltas}, {"allowed"}, "the call comes back allowed")
    eq(deltas[0]["tool_call_id"], out["outputs"][0]["tool_call_id"], "same tool_call_id")
    out = fake.ok("POST", "/v1/conversations/" + out["conversation_id"], {"inputs": [
        {"type": "function.result", "tool_call_id": deltas[0]["tool_call_id"], "result": "paid"}]})
    eq(out["outputs"][0]["content"], "Payment done.", "then the result")


# ---- faults -----------------------------------------------------------------------------------------------------


def fault(fake, **spec):
    spec.setdefault("match", {"method": "POST", "path": "^/v1/conversations"})
    fake.control("POST", "faults", [spec])


@test
def fault_429_with_retry_after_seconds_then_success(fake):
    a = make_agent(fake, "a")
    fault(fake, fault="status", status=429, retry_after="1")
    status, headers, body = fake.call("POST", "/v1/conversations", {"inputs": "x", "agent_id": a["id"]})
    eq((status, headers["Retry-After"]), (429, "1"), "429")
    eq(body, {"object": "error", "message": "Rate limit exceeded", "type": "rate_limited", "param": None,
              "code": "1300", "raw_status_code": 429}, "observed 2026 body")
    eq(len(fake.ok("GET", "/v1/conversations")), 0, "nothing stored")
    start(fake, a, "x")
    eq(fake.control("GET", "faults"), [], "used up")


@test
def fault_429_with_an_http_date_and_the_2025_shape(fake):
    date = formatdate(time.time() + 2, usegmt=True)
    fault(fake, fault="status", status=429, retry_after=date, shape="message",
          message="Requests rate limit exceeded")
    status, headers, body = fake.call("POST", "/v1/conversations", {"inputs": "x", "model": "m"})
    eq((status, headers["Retry-After"], body), (429, date, {"message": "Requests rate limit exceeded"}), "429")


@test
def faults_500_502_503_and_409_have_their_own_shapes(fake):
    got = []
    for status in (500, 502, 503, 409):
        fault(fake, fault="status", status=status)
        s, headers, body = fake.call("POST", "/v1/conversations", {"inputs": "x", "model": "m"})
        got.append((s, headers["Content-Type"], body if s != 502 else "502 Bad Gateway" in body))
    eq(got[0], (500, "application/json", {"object": "error", "message": "Internal server error",
                                          "type": "server_error", "param": None, "code": None}), "500")
    eq(got[1], (502, "text/html", True), "502 from a proxy")
    eq(got[2], (503, "application/json", {"detail": "Service Unavailable"}), "503")
    eq((got[3][0], got[3][2]["type"]), (409, "invalid_request_error"), "409")


@test
def faults_match_skip_and_times(fake):
    fake.control("POST", "faults", [{"match": {"method": "GET", "path": "^/v1/agents$"}, "skip": 1, "times": 2,
                                     "fault": "status", "status": 500}])
    eq([fake.call("GET", "/v1/agents")[0] for _ in range(4)], [200, 500, 500, 200], "statuses")
    fake.control("POST", "faults", [{"match": {"body": "needle"}, "fault": "status", "status": 503}])
    eq(fake.call("POST", "/v1/conversations", {"inputs": "hay", "model": "m"})[0], 200, "body does not match")
    eq(fake.call("POST", "/v1/conversations", {"inputs": "needle", "model": "m"})[0], 503, "body matches")
    status, _, _ = fake.call("POST", "/_fake/faults", [{"fault": "explode"}], key=None)
    eq(status, 400, "unknown fault kind")


@test
def fault_reset_cuts_the_stream_and_keeps_the_turn(fake):
    a = make_agent(fake, "a")
    fake.control("POST", "script", {"a": [{"say": "one two three four five six seven eight"}]})
    fault(fake, fault="reset", after=2)
    r = fake.raw("POST", "/v1/conversations", {"inputs": "x", "agent_id": a["id"], "stream": True})
    events, _ = r.events()
    eq((r.status, r.complete), (200, False), "a 200 stream that never ends properly")
    eq(len(events), 2, "the events before the reset arrived")
    conv = events[0]["json"]["conversation_id"]
    h = fake.ok("GET", "/v1/conversations/%s/history" % conv)["entries"]
    eq(h[-1]["content"], "one two three four five six seven eight", "the turn was stored in full")
    rec = [q for q in fake.control("GET", "requests") if q["method"] == "POST"][-1]
    eq((rec["stream"], rec["events"], rec["outcome"], rec["fault"]), (True, 2, "reset", "reset"), "request log")


@test
def fault_truncate_ends_inside_an_event(fake):
    a = make_agent(fake, "a")
    fault(fake, fault="truncate", after=1)
    r = fake.raw("POST", "/v1/conversations", {"inputs": "x", "agent_id": a["id"], "stream": True})
    events, tail = r.events()
    eq((r.complete, r.error), (True, None), "the body ends cleanly")
    eq(len(events), 1, "one whole event")
    expect(tail.startswith("event: message.output.delta") and "\n\n" not in tail, "tail %r" % tail)


@test
def fault_malformed_sends_an_event_that_is_not_json(fake):
    a = make_agent(fake, "a")
    fault(fake, fault="malformed", after=1)
    r, events = stream(fake, "/v1/conversations", {"inputs": "x", "agent_id": a["id"]})
    bad = [ev for ev in events if ev["json"] is None]
    eq(len(bad), 1, "one malformed event")
    eq(events[1], bad[0], "where it was put")
    eq(events[-1]["event"], "conversation.response.done", "the rest follows")


@test
def fault_stall_pauses_mid_stream(fake):
    a = make_agent(fake, "a")
    fault(fake, fault="stall", after=2, seconds=1)
    t0 = time.monotonic()
    r, events = stream(fake, "/v1/conversations", {"inputs": "x", "agent_id": a["id"]})
    expect(r.max_gap >= 0.9, "longest pause %.2f s" % r.max_gap)
    expect(time.monotonic() - t0 < 3, "then it goes on")
    eq(events[-1]["event"], "conversation.response.done", "complete")


@test
def fault_latency_delays_the_answer(fake):
    fault(fake, fault="latency", ms=400)
    t0 = time.monotonic()
    fake.ok("POST", "/v1/conversations", {"inputs": "x", "model": "m"})
    expect(time.monotonic() - t0 >= 0.4, "answered too soon")


@test
def fault_error_event_ends_the_stream(fake):
    a = make_agent(fake, "a")
    fault(fake, fault="error_event", after=1, message="Model overloaded", code=503)
    r, events = stream(fake, "/v1/conversations", {"inputs": "x", "agent_id": a["id"]})
    eq(events[-1]["json"], {"type": "conversation.response.error", "created_at": events[-1]["json"]["created_at"],
                            "message": "Model overloaded", "code": 503}, "error event")


@test
def stream_faults_break_json_answers_too(fake):
    fault(fake, fault="reset")
    r = fake.raw("POST", "/v1/conversations", {"inputs": "x", "model": "m"})
    eq((r.status, r.error or "closed"), (0, "reset"), "reset before any byte")
    fault(fake, fault="truncate")
    r = fake.raw("POST", "/v1/conversations", {"inputs": "x", "model": "m"})
    eq((r.status, r.complete), (200, False), "fewer bytes than Content-Length")
    fault(fake, fault="malformed")
    r = fake.raw("POST", "/v1/conversations", {"inputs": "x", "model": "m"})
    try:
        json.loads(r.body)
        expect(False, "the body parsed as JSON")
    except ValueError:
        pass


@test
def a_busy_conversation_answers_409(fake):
    a = make_agent(fake, "a")
    conv = start(fake, a, "one")["conversation_id"]
    fake.control("POST", "faults", [{"match": {"path": conv}, "fault": "stall", "after": 1, "seconds": 1.5}])
    result = {}
    t = threading.Thread(target=lambda: result.setdefault("r", fake.raw(
        "POST", "/v1/conversations/" + conv, {"inputs": "two", "stream": True})))
    t.start()
    until("the stream", lambda: streaming(fake, "/v1/conversations/" + conv))
    status, _, body = fake.call("POST", "/v1/conversations/" + conv, {"inputs": "three"})
    t.join()
    eq(status, 409, "append during a stream")
    expect("busy" in body["message"], body)
    eq(result["r"].events()[0][-1]["event"], "conversation.response.done", "the first stream completes")
    fake.ok("POST", "/v1/conversations/" + conv, {"inputs": "three"})
    eq(len(fake.ok("GET", "/v1/conversations/%s/history" % conv)["entries"]), 6, "no entry lost or doubled")


@test
def a_cut_stream_can_keep_the_conversation_busy(fake):
    a = make_agent(fake, "a")
    conv = start(fake, a, "one")["conversation_id"]
    fake.control("POST", "faults", [{"match": {"path": conv}, "fault": "reset", "after": 1, "hold": 1}])
    t0 = time.monotonic()
    r = fake.raw("POST", "/v1/conversations/" + conv, {"inputs": "two", "stream": True})
    eq(r.complete, False, "cut")
    eq(fake.call("POST", "/v1/conversations/" + conv, {"inputs": "three"})[0], 409, "still busy")
    until("the conversation to be free", lambda: fake.call(
        "POST", "/v1/conversations/" + conv, {"inputs": "three"})[0] == 200)
    expect(time.monotonic() - t0 >= 0.9, "freed after %.2f s" % (time.monotonic() - t0))
    eq(types(fake.ok("GET", "/v1/conversations/%s/history" % conv)["entries"]),
       ["message.input", "message.output"] * 3, "every turn stored once")


# ---- the control API -------------------------------------------------------------------------------------------


@test
def requests_are_logged_without_the_key(fake):
    a = make_agent(fake, "a")
    stream(fake, "/v1/conversations", {"inputs": "x", "agent_id": a["id"]})
    reqs = fake.control("GET", "requests")
    eq([(r["method"], r["path"], r["status"]) for r in reqs],
       [("POST", "/v1/agents", 200), ("POST", "/v1/conversations", 200)], "log")
    last = reqs[-1]
    eq((last["body"]["inputs"], last["stream"], last["outcome"]), ("x", True, "complete"), "stream record")
    expect(last["events"] >= 3, "events counted")
    expect(all(k.lower() != "authorization" for r in reqs for k in r["headers"]), "no Authorization header")
    expect(KEY not in json.dumps(reqs), "the key appears nowhere")
    eq(len(fake.control("GET", "requests?path=agents")), 1, "path filter")


@test
def reset_clears_everything(fake):
    make_agent(fake, "a")
    fake.control("POST", "script", {"a": [{"say": "x"}]})
    fault(fake, fault="latency", ms=1, times=None)
    fake.call("GET", "/v1/nowhere")
    fake.control("POST", "reset")
    eq((fake.ok("GET", "/v1/agents"), fake.control("GET", "script"), fake.control("GET", "faults")),
       ([], {}, []), "state, script and faults")
    eq(fake.control("GET", "rejections"), [], "rejections")
    eq(len(fake.control("GET", "requests")), 1, "requests (only the one after the reset)")


@test
def concurrent_streams_finish_in_about_the_time_of_one(fake):
    a = make_agent(fake, "a")
    fault(fake, fault="latency", ms=500, times=None)
    results = [None] * 32

    def one(i):
        results[i] = fake.raw("POST", "/v1/conversations", {"inputs": "n%d" % i, "agent_id": a["id"], "stream": True})

    threads = [threading.Thread(target=one, args=(i,)) for i in range(32)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t0
    done = [r for r in results if r and r.complete and r.events()[0][-1]["event"] == "conversation.response.done"]
    eq(len(done), 32, "complete streams")
    print("# 32 streams with 500 ms latency each: %.2f s" % elapsed)
    expect(elapsed < 1.5, "took %.2f s" % elapsed)
    eq(len({r.events()[0][0]["json"]["conversation_id"] for r in done}), 32, "32 conversations")


PAYMENT_TOOL = {"type": "function", "function": {"name": "retrieve_payment_status", "parameters": {
    "type": "object", "properties": {"transaction_id": {"type": "string"}}}}}


@test
def chat_completions_json_and_stream(fake):
    fake.control("POST", "script", {"mistral-large-latest": [
        {"when": "status", "call": {"name": "retrieve_payment_status", "arguments": {"transaction_id": "T1001"}}},
        {"say": "Three hundred."}]})
    out = fake.ok("POST", "/v1/chat/completions", {"model": "mistral-large-latest",
                                                    "messages": [{"role": "user", "content": "how much?"}]})
    eq((out["object"], out["choices"][0]["message"]["content"], out["choices"][0]["finish_reason"]),
       ("chat.completion", "Three hundred.", "stop"), "chat")
    fake.control("POST", "chat", {"tool_calls": "whole"})
    r = fake.raw("POST", "/v1/chat/completions", {"model": "mistral-large-latest", "stream": True,
                                                    "tools": [PAYMENT_TOOL],
                                                    "messages": [{"role": "user", "content": "payment status?"}]})
    events, tail = r.events()
    eq([ev["event"] for ev in events], [None] * len(events), "data-only events")
    eq((events[-1]["data"], tail), ("[DONE]", ""), "ends with [DONE]")
    last = events[-2]["json"]["choices"][0]
    eq((last["finish_reason"], last["delta"]["tool_calls"][0]["function"]["name"]),
       ("tool_calls", "retrieve_payment_status"), "tool call whole in one delta")
    expect(events[-2]["json"]["usage"] is not None, "usage on the last chunk")


def reassemble(events):
    """The text and the tool calls of a streamed chat completion, put back
    together the way a client must: per index, arguments concatenated."""
    text, calls, finish = "", {}, None
    for ev in events:
        if ev["data"] == "[DONE]":
            break
        choice = ev["json"]["choices"][0]
        finish = choice["finish_reason"] or finish
        text += choice["delta"].get("content") or ""
        for d in choice["delta"].get("tool_calls") or []:
            c = calls.setdefault(d["index"], {"id": None, "name": None, "arguments": ""})
            c["id"] = c["id"] or d.get("id")
            c["name"] = c["name"] or d.get("function", {}).get("name")
            c["arguments"] += d.get("function", {}).get("arguments") or ""
    return text, [calls[i] for i in sorted(calls)], finish


@test
def chat_streams_split_tool_calls_across_deltas(fake):
    fake.control("POST", "script", {"m": [{"calls": [
        {"name": "retrieve_payment_status", "arguments": {"transaction_id": "T1001", "detail": "full please"}},
        {"name": "retrieve_payment_status", "arguments": {"transaction_id": "T1002"}}]}]})
    eq(fake.control("GET", "chat"), {"tool_calls": "split"}, "split by default")
    r = fake.raw("POST", "/v1/chat/completions", {"model": "m", "stream": True, "tools": [PAYMENT_TOOL],
                                                    "messages": [{"role": "user", "content": "status?"}]})
    events, _ = r.events()
    deltas = [d for ev in events[:-1] for d in ev["json"]["choices"][0]["delta"].get("tool_calls") or []]
    expect(len(deltas) > 4, "the calls come in pieces: %s" % deltas)
    expect(all("name" not in d.get("function", {}) for d in deltas if "id" not in d),
           "the name only in a call's first delta")
    text, calls, finish = reassemble(events)
    eq(finish, "tool_calls", "finish_reason")
    eq([(c["name"], json.loads(c["arguments"])) for c in calls],
       [("retrieve_payment_status", {"transaction_id": "T1001", "detail": "full please"}),
        ("retrieve_payment_status", {"transaction_id": "T1002"})], "the calls put back together")
    expect(all(re.fullmatch(r"[a-zA-Z0-9]{9}", c["id"]) for c in calls), "tool call ids: %s" % calls)


@test
def chat_speakers_handoffs_and_the_latest_input(fake):
    fake.control("POST", "script", {
        "front": [{"when": "rate", "handoff": "ecb"}, {"say": "front here"}],
        "ecb": [{"when": "rate\": \"(.*)\"", "say": "It was {1}."},
                {"call": {"name": "get_rate", "arguments": {"year": "2023"}}}]})
    eq(fake.control("POST", "speakers", {"You are the front desk.": "front", "You know ECB rates.": "ecb"}),
       {"You are the front desk.": "front", "You know ECB rates.": "ecb"}, "speakers")
    transfer = {"type": "function", "function": {"name": "transfer_to_ecb", "parameters": {"type": "object"}}}
    get_rate = {"type": "function", "function": {"name": "get_rate", "parameters": {"type": "object"}}}
    user = {"role": "user", "content": "What was the rate in 2023?"}
    out = fake.ok("POST", "/v1/chat/completions", {"model": "m", "tools": [transfer], "messages": [
        {"role": "system", "content": "You are the front desk."}, user]})
    call = out["choices"][0]["message"]["tool_calls"][0]
    eq(call["function"]["name"], "transfer_to_ecb", "a handoff is a transfer_to_ call")
    history = [dict(out["choices"][0]["message"]),
               {"role": "tool", "tool_call_id": call["id"], "name": "transfer_to_ecb", "content": "Transferred."}]
    # The next agent answers the user's question, not the transfer's result.
    out = fake.ok("POST", "/v1/chat/completions", {"model": "m", "tools": [get_rate], "messages": [
        {"role": "system", "content": "You know ECB rates."}, user] + history})
    call2 = out["choices"][0]["message"]["tool_calls"][0]
    eq(call2["function"]["name"], "get_rate", "ecb calls its function")
    history += [dict(out["choices"][0]["message"]),
                {"role": "tool", "tool_call_id": call2["id"], "name": "get_rate", "content": '{"rate": "4.50%"}'}]
    out = fake.ok("POST", "/v1/chat/completions", {"model": "m", "tools": [get_rate], "messages": [
        {"role": "system", "content": "You know ECB rates."}, user] + history})
    eq(out["choices"][0]["message"]["content"], "It was 4.50%.", "ecb answers the function's result")
    # A handoff the request does not offer is the client's bug.
    status, _, body = fake.call("POST", "/v1/chat/completions", {"model": "m", "messages": [
        {"role": "system", "content": "You are the front desk."}, user]})
    eq(status, 500, "status")
    expect("transfer_to_ecb" in body["message"], body["message"])
    eq(len(fake.control("GET", "rejections")), 1, "one rejection")


@test
def chat_histories_the_service_refuses(fake):
    call = {"id": "abcDEF123", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    cases = [
        ([{"role": "user", "content": "x"}, {"role": "assistant", "content": "", "tool_calls": [call]}],
         "Not the same number of function calls and responses"),
        ([{"role": "user", "content": "x"}, {"role": "assistant", "content": "", "tool_calls": [call]},
          {"role": "user", "content": "y"}], "Not the same number of function calls and responses"),
        ([{"role": "user", "content": "x"}, {"role": "tool", "tool_call_id": "abcDEF123", "content": "r"}],
         "messages[1]: no tool call with id abcDEF123 waits for a result"),
        ([{"role": "user", "content": "x"}, {"role": "assistant", "content": "", "tool_calls": [call]},
          {"role": "tool", "tool_call_id": "call_1", "content": "r"}],
         "Tool call id was call_1 but must be a-z, A-Z, 0-9, with a length of 9."),
        ([{"role": "user", "content": "x"}, {"role": "assistant", "content": "hi"}],
         "Expected last role User or Tool (or Assistant with prefix True) for serving but got assistant"),
    ]
    for messages, message in cases:
        status, _, body = fake.call("POST", "/v1/chat/completions", {"model": "m", "messages": messages})
        eq(status, 400, "status for %s" % json.dumps(messages))
        expect(body["message"].startswith(message), "%r does not start with %r" % (body["message"], message))
    eq(len(fake.control("GET", "rejections")), len(cases), "each one a rejection")
    status, _, body = fake.call("POST", "/v1/chat/completions", {"model": "m", "messages": [
        {"role": "user", "content": "x", "name": "bob"}]})
    eq((status, body["detail"][0]["loc"]), (422, ["body", "messages", 0, "name"]), "a field the spec lacks")


@test
def models_are_listed_and_can_be_set(fake):
    out = fake.ok("GET", "/v1/models")
    eq((out["object"], [m["id"] for m in out["data"]]),
       ("list", ["mistral-large-latest", "mistral-medium-latest", "mistral-small-latest"]), "the default models")
    eq(fake.control("POST", "models", ["llama3.2:latest"]), ["llama3.2:latest"], "set")
    eq([m["id"] for m in fake.ok("GET", "/v1/models")["data"]], ["llama3.2:latest"], "listed")
    fake.control("POST", "reset")
    eq(len(fake.ok("GET", "/v1/models")["data"]), 3, "reset brings the defaults back")
    status, _, _ = fake.call("GET", "/v1/models", key="wrong")
    eq(status, 401, "the key is needed")


@test
def state_dir_keeps_agents_and_logs_across_restarts(fake):
    with tempfile.TemporaryDirectory() as d:
        one = Fake("--state-dir", d)
        try:
            a = make_agent(one, "kept")
            one.call("POST", "/v1/agents", {"name": "no model"})
        finally:
            eq(one.stop(), 0, "first server stops")
        two = Fake("--state-dir", d)
        try:
            eq(two.ok("GET", "/v1/agents/" + a["id"])["name"], "kept", "agent survives")
            expect(make_agent(two, "new")["id"] != a["id"], "ids go on")
        finally:
            two.stop()
        with open(os.path.join(d, "rejections.jsonl")) as f:
            eq(len(f.read().splitlines()), 1, "rejections.jsonl")


@test
def without_a_spec_the_server_exits_3(fake):
    env = dict(os.environ, MISTRAL_OPENAPI="/nonexistent/spec.yaml")
    p = subprocess.run([sys.executable, SERVER, "--port", "0"], env=env, capture_output=True, text=True, timeout=30)
    eq(p.returncode, 3, "exit status")
    expect("no OpenAPI spec" in p.stderr and "/nonexistent/spec.yaml" in p.stderr, p.stderr)


if __name__ == "__main__":
    sys.exit(main())
