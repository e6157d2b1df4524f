#!/usr/bin/env python3
"""A fake Mistral Agents and Conversations API, for agentdeck's tests.

    python3 tests/fakeapi/server.py --port 0 [--spec PATH] [--key KEY]
                                    [--state-dir DIR] [--verbose]

It listens on 127.0.0.1 only, prints one line

    listening on http://127.0.0.1:PORT

and serves until killed (SIGTERM and SIGINT end it cleanly, status 0). It
exits with status 3 and a message on stderr when it cannot run here: no
spec (--spec, else $MISTRAL_OPENAPI, else ../shared/api/mistral-openapi.yaml
beside the repository), or no PyYAML or jsonschema. Tests skip then.

What it does, in order, for each request under /v1:
  1. logs it (/_fake/requests; the Authorization header is left out);
  2. requires `Authorization: Bearer KEY` (401 otherwise);
  3. finds the spec's operation for the method and path (404 or 405, logged
     as a rejection, for anything the spec does not have);
  4. applies the faults posted to /_fake/faults (faults.py);
  5. validates the query and the JSON body against the spec (spec.py): 422
     with the HTTPValidationError shape, logged at /_fake/rejections;
  6. runs the operation on the store with the scripted model (store.py,
     script.py) and answers with JSON or, for "stream": true, with
     server-sent events (sse.py);
  7. checks its own answer against the spec's response schemas, and logs any
     mismatch at /_fake/violations (a bug of this fake).

The control API under /_fake/ needs no key; README.md beside this file
describes it.
"""

import sys

sys.dont_write_bytecode = True  # never write __pycache__ into the source tree

import argparse
import json
import os
import re
import signal
import socket
import struct
import threading
import time
import traceback
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

HERE = os.path.dirname(os.path.abspath(__file__))
EXIT_CANNOT_RUN = 3

try:
    import faults
    import sse
    from script import Script, ScriptError
    from spec import Spec, SpecError
    from store import ApiError, Store, now
except ImportError as e:  # PyYAML or jsonschema missing
    print("server.py: cannot run: %s (install python3-yaml and python3-jsonschema)" % e, file=sys.stderr)
    sys.exit(EXIT_CANNOT_RUN)


def default_spec_path():
    """$MISTRAL_OPENAPI, else ../shared/api/mistral-openapi.yaml relative to
    the repository (the parent of tests/)."""
    repo = os.path.dirname(os.path.dirname(HERE))
    return os.environ.get("MISTRAL_OPENAPI") or os.path.normpath(
        os.path.join(repo, "..", "shared", "api", "mistral-openapi.yaml"))


# ---- replies of operations -------------------------------------------------------


class JsonReply:
    def __init__(self, obj, status=200):
        self.obj, self.status = obj, status


class TurnReply:
    """A conversation turn; the conversation stays busy until it is sent."""

    def __init__(self, turn, stream):
        self.turn, self.stream = turn, stream


class ChatReply:
    def __init__(self, completion, stream):
        self.completion, self.stream = completion, stream


NO_CONTENT = JsonReply(None, 204)


def _no_content(_):
    """For operations answered by 204 and no body."""
    return NO_CONTENT


def _page(items, q, size_default):
    page, size = q.get("page", 0), q.get("page_size", size_default)
    return items[page * size:(page + 1) * size]


# The operations served, by the spec's operationId. Each takes the store,
# the checked parameters and the checked body.
OPERATIONS = {
    "agents_api_v1_agents_create": lambda s, p, b: JsonReply(s.create_agent(b)),
    "agents_api_v1_agents_list": lambda s, p, b: JsonReply(_page(s.list_agents(p), p, 20)),
    "agents_api_v1_agents_list_pages": lambda s, p, b: JsonReply(_token_page(s.list_agents(p), p)),
    "agents_api_v1_agents_get": lambda s, p, b: JsonReply(s.agent(p["agent_id"], p.get("agent_version"))),
    "agents_api_v1_agents_update": lambda s, p, b: JsonReply(s.update_agent(p["agent_id"], b)),
    "agents_api_v1_agents_delete": lambda s, p, b: _no_content(s.delete_agent(p["agent_id"])),
    "agents_api_v1_agents_update_version": lambda s, p, b: JsonReply(s.switch_version(p["agent_id"], p["version"])),
    "agents_api_v1_agents_list_versions": lambda s, p, b: JsonReply(_page(s.list_versions(p["agent_id"]), p, 20)),
    "agents_api_v1_agents_get_version": lambda s, p, b: JsonReply(s.agent(p["agent_id"], p["version"])),
    "agents_api_v1_agents_create_or_update_alias":
        lambda s, p, b: JsonReply(s.set_alias(p["agent_id"], p["alias"], p["version"])),
    "agents_api_v1_agents_list_version_aliases": lambda s, p, b: JsonReply(s.list_aliases(p["agent_id"])),
    "agents_api_v1_agents_delete_alias": lambda s, p, b: _no_content(s.delete_alias(p["agent_id"], p["alias"])),
    "agents_api_v1_conversations_start": lambda s, p, b: TurnReply(s.start(b), b.get("stream") is True),
    "agents_api_v1_conversations_append":
        lambda s, p, b: TurnReply(s.append(p["conversation_id"], b), b.get("stream") is True),
    "agents_api_v1_conversations_restart":
        lambda s, p, b: TurnReply(s.restart(p["conversation_id"], b), b.get("stream") is True),
    "agents_api_v1_conversations_list":
        lambda s, p, b: JsonReply(s.list_conversations(p.get("page", 0), p.get("page_size", 100), p.get("metadata"))),
    "agents_api_v1_conversations_get": lambda s, p, b: JsonReply(s.conversation(p["conversation_id"])),
    "agents_api_v1_conversations_delete": lambda s, p, b: _no_content(s.delete_conversation(p["conversation_id"])),
    "agents_api_v1_conversations_history": lambda s, p, b: JsonReply(s.history(p["conversation_id"])),
    "agents_api_v1_conversations_messages": lambda s, p, b: JsonReply(s.messages(p["conversation_id"])),
    "chat_completion_v1_chat_completions_post": lambda s, p, b: ChatReply(s.chat(b), b.get("stream") is True),
    "list_models_v1_models_get": lambda s, p, b: JsonReply(s.list_models()),
    "agents_completion_v1_agents_completions_post":
        lambda s, p, b: ChatReply(s.chat(b, agent_id=b["agent_id"]), b.get("stream") is True),
}


def _token_page(items, q):
    """GET /v1/agents/pages: the page token is the offset, as a string."""
    start = int(q.get("page_token") or 0)
    size = q.get("page_size", 20)
    more = start + size < len(items)
    return {"object": "list", "data": items[start:start + size],
            "next_page_token": str(start + size) if more else None}


# ---- the application -------------------------------------------------------------


class App:
    """Everything the handlers share: spec, store, script, faults, logs."""

    def __init__(self, spec, key, state_dir=None, verbose=False):
        self.spec, self.key, self.state_dir, self.verbose = spec, key, state_dir, verbose
        self.script = Script()
        self.store = Store(self.script, state_dir)
        self.faults = faults.Faults()
        self.chat_split = True  # chat streams cut tool calls into several deltas
        self._lock = threading.Lock()
        self._seq = 0
        self.requests, self.rejections, self.violations = [], [], []

    def reset(self):
        self.store.reset()
        self.script.clear()
        self.faults.clear()
        self.chat_split = True
        with self._lock:
            self.requests.clear()
            self.rejections.clear()
            self.violations.clear()

    def _append_log(self, name, record):
        if self.state_dir:
            with open(os.path.join(self.state_dir, name), "a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")

    def log_request(self, method, path, query, headers, raw):
        """A new record for /_fake/requests; the handler fills in the rest."""
        with self._lock:
            self._seq += 1
            rec = {"seq": self._seq, "time": now(), "method": method, "path": path, "query": query,
                   "headers": {k: v for k, v in headers.items() if k.lower() != "authorization"},
                   "body": _decode(raw), "auth": "ok", "status": None, "stream": False, "events": 0,
                   "fault": None, "latency_ms": 0, "outcome": None}
            self.requests.append(rec)
            return rec

    def finish(self, rec):
        with self._lock:
            if rec["outcome"] is None:
                rec["outcome"] = "complete"
            self._append_log("requests.jsonl", rec)

    def reject(self, rec, status, reason, detail=None):
        """Logs a request the real service would refuse as malformed."""
        entry = {"seq": rec["seq"], "time": rec["time"], "method": rec["method"], "path": rec["path"],
                 "query": rec["query"], "body": rec["body"], "status": status, "reason": reason}
        if detail is not None:
            entry["detail"] = detail
        with self._lock:
            self.rejections.append(entry)
            self._append_log("rejections.jsonl", entry)
        if self.verbose:
            print("rejected %s %s: %s" % (rec["method"], rec["path"], reason), file=sys.stderr)

    def violation(self, rec, what, errors):
        """Logs an answer of this fake that breaks the spec (a bug here)."""
        entry = {"seq": rec["seq"] if rec else None, "what": what, "errors": errors}
        with self._lock:
            self.violations.append(entry)
            self._append_log("violations.jsonl", entry)
        print("fakeapi: off-spec answer (%s): %s" % (what, json.dumps(errors)[:500]), file=sys.stderr)

    def clear_log(self, name):
        with self._lock:
            getattr(self, name).clear()

    def snapshot(self, name, path_filter=None):
        with self._lock:
            items = [dict(r) for r in getattr(self, name)]
        if path_filter:
            items = [r for r in items if re.search(path_filter, r.get("path") or "")]
        return items


def _decode(raw):
    """A logged body: the JSON value, else the text, else None."""
    if not raw:
        return None
    text = raw.decode("utf-8", "replace")
    try:
        return json.loads(text)
    except ValueError:
        return text


def _summary(errors):
    return "; ".join("%s: %s" % (".".join(str(x) for x in e["loc"]), e["msg"]) for e in errors)


# ---- HTTP ------------------------------------------------------------------------------


class Handler(BaseHTTPRequestHandler):
    """One connection; HTTP/1.1 with keep-alive, chunked event streams."""

    protocol_version = "HTTP/1.1"
    server_version = "fake-mistral/1"
    sys_version = ""
    timeout = 300  # an idle keep-alive connection is closed after this

    def log_message(self, fmt, *args):
        if self.server.app.verbose:
            super().log_message(fmt, *args)

    def do_GET(self):
        self._handle()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    # ---- reading -------------------------------------------------------------------

    def _read_body(self):
        """The request body: Content-Length or chunked, else empty."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        return self.rfile.read(int(length))

    def _handle(self):
        app = self.server.app
        url = urlsplit(self.path)
        try:
            raw = self._read_body()
        except ValueError:
            self.close_connection = True
            return self._send_json(400, {"detail": "Malformed request body framing"})
        if url.path == "/_fake" or url.path.startswith("/_fake/"):
            return self._control(url.path, parse_qs(url.query), raw)
        self.rec = app.log_request(self.command, url.path, parse_qs(url.query, keep_blank_values=True),
                                   self.headers, raw)
        try:
            self._api(url.path, self.rec["query"], raw)
        except (BrokenPipeError, ConnectionResetError):
            self.rec["outcome"] = "client gone"
            self.close_connection = True
        except Exception:  # a bug of this fake: say so loudly, answer 500
            app.violation(self.rec, "internal error", traceback.format_exc())
            if self.rec["status"] is None:
                self._send_json(500, faults.error_body(500, "glossary", "fake server error (see its stderr)"))
            self.close_connection = True
        finally:
            app.finish(self.rec)

    # ---- /v1 -------------------------------------------------------------------------

    def _api(self, path, query, raw):
        app, rec = self.server.app, self.rec
        auth = self.headers.get("Authorization")
        if auth != "Bearer " + app.key:
            rec["auth"] = "missing" if auth is None else "refused"
            return self._send_json(401, faults.error_body(401))

        op, path_params = app.spec.find(self.command, path)
        if op is None:
            status = 405 if path_params else 404
            app.reject(rec, status, "%s %s is not an operation of the spec" % (self.command, path))
            return self._send_json(status, {"detail": "Method Not Allowed" if path_params else "Not Found"})

        text = raw.decode("utf-8", "replace")
        try:
            body, json_error = (json.loads(text), None) if raw.strip() else (None, None)
        except ValueError as e:
            body, json_error = None, e
        stream = isinstance(body, dict) and body.get("stream") is True

        delay, fault = app.faults.take(self.command, path, text, stream)
        if delay:
            rec["latency_ms"] = delay
            time.sleep(delay / 1000)
        if fault:
            rec["fault"] = fault.kind
            if fault.kind == "status":
                return self._send_status_fault(fault)

        values, errors = app.spec.validate_params(op, path_params, query)
        errors += self._body_errors(op, raw, text, body, json_error, stream)
        if errors:
            app.reject(rec, 422, _summary(errors), errors)
            return self._send_json(422, {"detail": errors})

        run = OPERATIONS.get(op.op_id)
        if run is None:
            return self._send_json(501, faults.error_body(
                500, "glossary", "The fake server does not implement %s" % op.op_id))
        try:
            reply = run(app.store, values, body)
        except ApiError as e:
            if e.rejection:
                app.reject(rec, e.status, e.message)
            return self._send_json(e.status, e.body)
        except ScriptError as e:  # the test's script, or the client's agents, are wrong
            app.reject(rec, 500, "script: %s" % e)
            return self._send_json(500, faults.error_body(500, "glossary", "fake server script: %s" % e))
        self._reply(op, reply, fault)

    def _body_errors(self, op, raw, text, body, json_error, stream):
        """Pydantic-style errors of the body, as FastAPI reports them."""
        name = op.body_schema(stream)
        if name is None:
            if raw.strip():
                return [{"type": "extra_forbidden", "loc": ["body"], "msg": "This operation takes no body",
                         "input": text}]
            return []
        if not raw.strip():
            return [{"type": "missing", "loc": ["body"], "msg": "Field required", "input": None}]
        if json_error is not None:
            return [{"type": "json_invalid", "loc": ["body", json_error.pos], "msg": "JSON decode error",
                     "input": {}, "ctx": {"error": json_error.msg}}]
        ctype = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if ctype != "application/json" or not isinstance(body, dict):
            return [{"type": "model_attributes_type", "loc": ["body"],
                     "msg": "Input should be a valid dictionary or object to extract fields from",
                     "input": text if ctype != "application/json" else body}]
        return self.server.app.spec.validate_body(name, body)

    def _reply(self, op, reply, fault):
        app = self.server.app
        if isinstance(reply, TurnReply):
            turn = reply.turn
            released = False

            def release(hold=0):
                """Frees the conversation, once; called as the answer ends,
                which is when the service has finished generating (a client
                that has read the whole answer may go on at once)."""
                nonlocal released
                if not released:
                    released = True
                    time.sleep(hold)
                    app.store.release(turn.conversation_id)

            try:
                if reply.stream:
                    events = sse.conversation_events(turn.conversation_id, turn.outputs, turn.usage,
                                                    turn.created_at)
                    for _, data in events:
                        self._check(app.spec.validate_event(data), "event " + data["type"])
                    frames = [sse.frame(t, d) for t, d in events]
                    bad = (b'event: message.output.delta\ndata: {"type":"message.output.delta",'
                           b'"content":"unterminated\n\n')
                    return self._send_stream(frames, fault, bad, release)
                obj = turn.response()
                self._check(app.spec.validate_response(op, obj), "%s %s" % (op.method, op.template))
                return self._send_json(200, obj, fault, release=release)
            finally:
                release()
        if isinstance(reply, ChatReply):
            if reply.stream:
                frames = [sse.data_frame(c) for c in sse.chat_chunks(reply.completion, app.chat_split)]
                return self._send_stream(frames, fault, b'data: {"id":"unterminated\n\n')
            self._check(app.spec.validate_response(op, reply.completion), "%s %s" % (op.method, op.template))
            return self._send_json(200, reply.completion, fault)
        if reply.status == 200:
            self._check(app.spec.validate_response(op, reply.obj), "%s %s" % (op.method, op.template))
        return self._send_json(reply.status, reply.obj, fault)

    def _check(self, errors, what):
        if errors:
            self.server.app.violation(self.rec, what, errors)

    # ---- writing ------------------------------------------------------------------------

    def _start(self, status, headers):
        self.send_response(status)
        self.send_header("mistral-correlation-id", str(uuid.uuid4()))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        if getattr(self, "rec", None) is not None and self.rec["status"] is None:
            self.rec["status"] = status

    def _send_json(self, status, obj, fault=None, headers=(), release=None):
        """A complete answer: JSON, HTML (a str) or nothing (204). The stream
        faults break it too: reset before it, truncate or stall in its
        middle, or make it not JSON. release() is called before the last
        bytes go out (after the cut, for reset and truncate)."""
        release = release or (lambda hold=0: None)
        headers = list(headers)
        if obj is None:
            data = b""
        elif isinstance(obj, str):
            data = obj.encode()
            headers.append(("Content-Type", "text/html"))
        else:
            data = json.dumps(obj).encode()
            headers.append(("Content-Type", "application/json"))
        kind = fault.kind if fault else None
        if kind == "reset":
            self._reset("reset")
            return release(fault.hold)
        if kind == "malformed" and data:
            data = data[:len(data) // 2]
        if status != 204:
            headers.append(("Content-Length", str(len(data))))
        self._start(status, headers)
        half = len(data) // 2
        if kind == "truncate":
            self.wfile.write(data[:half])
            self._reset("truncated", hard=False)
            return release(fault.hold)
        if kind == "stall":
            self.wfile.write(data[:half])
            time.sleep(fault.seconds)
            data = data[half:]
        release()
        self.wfile.write(data)

    def _send_status_fault(self, fault):
        spec = fault.spec
        status = spec["status"]
        body = spec["body"] if "body" in spec else faults.error_body(status, spec.get("shape"), spec.get("message"))
        headers = list((spec.get("headers") or {}).items())
        if spec.get("retry_after") is not None:
            headers.append(("Retry-After", str(spec["retry_after"])))
        self._send_json(status, body, headers=headers)

    def _send_stream(self, frames, fault, malformed, release=None):
        """Sends event frames as a chunked text/event-stream, breaking it
        as the fault says (see faults.py). release() is called before the
        last event (the conversation is free once the client sees `done`),
        or after the cut."""
        release = release or (lambda hold=0: None)
        rec = self.rec
        self._start(200, [("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache"),
                          ("Transfer-Encoding", "chunked")])
        rec["stream"] = True
        at = None
        if fault:
            last = len(frames) if fault.kind in ("reset", "stall", "error_event") else len(frames) - 1
            at = min(max(fault.after, 0), last)
        for i, data in enumerate(frames + [None]):
            if i == at:
                if fault.kind == "reset":
                    # Let the client read what was sent: a reset drops what
                    # is still unread in its socket.
                    self.wfile.flush()
                    time.sleep(0.2)
                    self._reset("reset")
                    return release(fault.hold)
                if fault.kind == "truncate":
                    self._chunk(data[:len(data) // 2])
                    self._chunk(b"")
                    rec["outcome"] = "truncated"
                    return release(fault.hold)
                if fault.kind == "malformed":
                    self._chunk(malformed)
                elif fault.kind == "stall":
                    time.sleep(fault.seconds)
                elif fault.kind == "error_event":
                    self._chunk(sse.frame("conversation.response.error", {
                        "type": "conversation.response.error", "created_at": now(),
                        "message": fault.spec.get("message", "Internal server error"),
                        "code": fault.spec.get("code", 500)}))
                    self._chunk(b"")
                    rec["outcome"] = "error event"
                    return release(fault.hold)
            if data is None:
                break
            if i == len(frames) - 1:
                release()
            self._chunk(data)
            rec["events"] += 1
        self._chunk(b"")

    def _chunk(self, data):
        """One chunk of a chunked body; an empty one ends the body."""
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def _reset(self, outcome, hard=True):
        """Drops the connection: a TCP reset (hard) or a plain close."""
        self.rec["outcome"] = outcome
        self.close_connection = True
        try:
            if hard:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.rfile.close()
            self.connection.close()
        except OSError:
            pass

    # ---- /_fake -------------------------------------------------------------------------

    def _control(self, path, query, raw):
        """The control API (README.md). Errors are 400 {"error": "..."}."""
        app = self.server.app
        self.rec = None
        name = path[len("/_fake/"):].strip("/")
        method = self.command
        try:
            body = json.loads(raw) if raw.strip() else None
        except ValueError as e:
            return self._send_json(400, {"error": "not JSON: %s" % e})
        try:
            if (method, name) == ("POST", "reset"):
                app.reset()
                return self._send_json(200, {"ok": True})
            if name == "script":
                if method == "POST":
                    app.script.update(body)
                elif method == "DELETE":
                    app.script.clear()
                return self._send_json(200, app.script.dump())
            if name == "faults":
                if method == "POST":
                    app.faults.add(body)
                elif method == "DELETE":
                    app.faults.clear()
                return self._send_json(200, app.faults.dump())
            if name in ("requests", "rejections", "violations"):
                if method == "DELETE":
                    app.clear_log(name)
                    return self._send_json(200, [])
                if method == "GET":
                    return self._send_json(200, app.snapshot(name, (query.get("path") or [None])[-1]))
            if (method, name) == ("GET", "state"):
                return self._send_json(200, app.store.dump())
            if name == "models":
                if method == "POST":
                    app.store.set_models(body)
                return self._send_json(200, app.store.models)
            if name == "speakers":
                if method == "POST":
                    app.script.set_speakers(body)
                return self._send_json(200, app.script.speakers())
            if name == "chat":
                if method == "POST":
                    style = (body or {}).get("tool_calls")
                    if style not in ("split", "whole"):
                        raise ValueError('expected {"tool_calls": "split"} or {"tool_calls": "whole"}')
                    app.chat_split = style == "split"
                return self._send_json(200, {"tool_calls": "split" if app.chat_split else "whole"})
        except (ValueError, ScriptError) as e:
            return self._send_json(400, {"error": str(e)})
        return self._send_json(404, {"error": "no control endpoint %s %s" % (method, path)})


class Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False     # a stalled stream must not hold up the exit
    request_queue_size = 128   # many clients connect at once
    allow_reuse_address = True

    def __init__(self, app, port):
        super().__init__(("127.0.0.1", port), Handler)
        self.app = app

    def handle_error(self, request, client_address):
        if isinstance(sys.exc_info()[1], (ConnectionError, socket.timeout)):
            return  # a client went away: not worth a traceback
        super().handle_error(request, client_address)


class _Stop(Exception):
    """Raised by the SIGTERM handler to leave serve_forever."""


def main(argv=None):
    p = argparse.ArgumentParser(description="A fake Mistral API for tests (loopback only).")
    p.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free one)")
    p.add_argument("--spec", help="the OpenAPI spec (default: $MISTRAL_OPENAPI, else "
                                  "../shared/api/mistral-openapi.yaml beside the repository)")
    p.add_argument("--key", default="test-key", help="the API key clients must send (default: test-key)")
    p.add_argument("--state-dir", help="keep state.json and the logs (*.jsonl) in this folder")
    p.add_argument("--verbose", action="store_true", help="log every request on stderr")
    args = p.parse_args(argv)

    spec_path = args.spec or default_spec_path()
    if not os.path.isfile(spec_path):
        print("server.py: no OpenAPI spec at %s (give --spec or set MISTRAL_OPENAPI)" % spec_path,
              file=sys.stderr)
        return EXIT_CANNOT_RUN
    try:
        spec = Spec(spec_path)
    except SpecError as e:
        print("server.py: %s" % e, file=sys.stderr)
        return EXIT_CANNOT_RUN
    if args.state_dir:
        os.makedirs(args.state_dir, exist_ok=True)

    server = Server(App(spec, args.key, args.state_dir, args.verbose), args.port)

    def stop(signum, frame):
        # Leave serve_forever cleanly; should that stall (a loaded machine,
        # a thread stuck in a write), exit anyway two seconds later.
        watchdog = threading.Timer(2.0, os._exit, args=(0,))
        watchdog.daemon = True
        watchdog.start()
        raise _Stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print("listening on http://127.0.0.1:%d" % server.server_address[1], flush=True)
    try:
        server.serve_forever()
    except _Stop:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
