#!/usr/bin/env python3
"""/raw [RUN]: a run's HTTP exchanges as they went over the wire, against the
fake Mistral server: method, URL, headers with the key redacted, request
body, status and response body (a stream's event lines), retries as
exchanges of their own, and clear errors for the offline backend and
unknown runs. The key appears nowhere: stdout, stderr, the journal."""

import json
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import lib  # noqa: E402
from lib import FakeMistral, check, contains, eq, of_type, one, run, test  # noqa: E402

# A fake key, made to be searched for: it must never come out.
SECRET = "sk-test-SECRET-raw-7f3a9c"


class Server(FakeMistral):
    KEY = SECRET


SERVER = Server()
SCRIPT = lib.offline_script("support.json")
CHARGED = "Why was I charged twice?"
CONVERSATIONS = "^/v1/conversations$"


def fresh(faults=None):
    SERVER.reset(script=SCRIPT, faults=faults)


def mistral(args, **kw):
    """Runs agentdeck on the fake server with the secret key; checks that the
    key came out nowhere, and that the server saw nothing off-spec."""
    result = SERVER.run(["--keep-going"] + list(args), profile="support.json", key=SECRET, **kw)
    no_key_anywhere(result)
    eq(SERVER.rejections(), [], "requests the fake server rejected as off-spec")
    return result


def no_key_anywhere(result):
    check(SECRET not in result.stdout, "the key is on stdout")
    check(SECRET not in result.stderr, "the key is on stderr")
    for root, _dirs, files in os.walk(result.state_home):
        for name in files:
            with open(os.path.join(root, name), "rb") as f:
                check(SECRET.encode() not in f.read(), "the key is in %s" % os.path.join(root, name))


def raw_of(events):
    """The one raw event, and its exchanges."""
    ev = one(events, "raw")
    return ev, ev["exchanges"]


def error_message(events):
    return one(events, "error")["message"]


@test
def a_streamed_run_shows_its_request_and_its_event_lines():
    fresh()
    result = mistral(["-c", "/start cs " + CHARGED, "-c", "/raw"])
    status, events, stderr = result
    eq(status, 0, "exit status")
    eq(len(lib.journals(result.state_home)), 1, "a journal was written (and searched for the key)")
    ev, exchanges = raw_of(events)
    eq((ev["run"], ev["tag"], ev["backend"]), ("r1", "r1", "mistral"), "the run shown")
    eq(len(exchanges), 1, "one exchange: the stream")
    ex = exchanges[0]
    eq(ex["method"], "POST", "method")
    eq(ex["url"], SERVER.url + "/v1/conversations", "url")
    check("Authorization: Bearer [redacted]" in ex["headers"], "the key redacted: %s" % ex["headers"])
    check("Accept: text/event-stream" in ex["headers"], "the stream was asked for: %s" % ex["headers"])
    body = json.loads(ex["request_body"])
    eq(body["inputs"][0]["content"], CHARGED, "the request body's inputs")
    eq(body["stream"], True, "a streamed request")
    eq(ex["status"], 200, "status")
    eq(ex["response_headers"]["content-type"].split(";")[0], "text/event-stream", "content type")
    contains(ex["response_body"], "event: conversation.response.started\ndata: {", "the stream's event lines")
    contains(ex["response_body"], "event: conversation.response.done", "the stream's last event")
    check(isinstance(ex["duration_ms"], (int, float)) and ex["duration_ms"] >= 0, "duration_ms: %s" % ex)
    check("error" not in ex, "no error: %s" % ex.get("error"))
    # The readable view: the request JSON indented by two blanks, the events as they came.
    text = ev["text"]
    contains(text, "POST %s/v1/conversations\nAuthorization: Bearer [redacted]\n" % SERVER.url, "text: the request")
    contains(text, '\n  "inputs": [', "text: the request body pretty-printed")
    contains(text, "HTTP 200\n", "text: the status")
    contains(text, "\nevent: message.output.delta\ndata: {", "text: the event lines")
    # The key did go to the server: the redaction hides a real header.
    eq([r["auth"] for r in SERVER.requests(CONVERSATIONS)], ["ok"], "the server got the key")


@test
def a_run_that_is_not_streamed_shows_the_json_answer():
    fresh()
    status, events, stderr = mistral(["--no-stream", "-c", "/start cs " + CHARGED, "-c", "/raw r1"])
    eq(status, 0, "exit status")
    ev, exchanges = raw_of(events)
    ex = exchanges[0]
    check("Accept: application/json" in ex["headers"], "a JSON answer asked for: %s" % ex["headers"])
    eq(json.loads(ex["request_body"])["stream"], False, "not streamed")
    eq(ex["response_headers"]["content-type"].split(";")[0], "application/json", "content type")
    answer = json.loads(ex["response_body"])
    eq(answer["object"], "conversation.response", "the answer's object")
    contains(answer["outputs"][-1]["content"], "duplicate charge", "the answer as the server sent it")
    contains(ev["text"], '\n  "object": "conversation.response"', "text: the answer pretty-printed")


@test
def a_rejected_request_shows_its_status_and_body():
    fresh([{"fault": "status", "status": 422, "message": "Extra inputs are not permitted",
            "match": {"method": "POST", "path": CONVERSATIONS}, "times": 1}])
    status, events, stderr = mistral(["-c", "/start cs " + CHARGED, "-c", "/raw"])
    eq(status, 1, "exit status: the run failed")
    contains(one(events, "run.error")["message"], "422", "run.error")
    ev, exchanges = raw_of(events)
    eq(len(exchanges), 1, "one exchange: a 422 is not retried")
    eq(exchanges[0]["status"], 422, "status")
    contains(exchanges[0]["response_body"], "Extra inputs are not permitted", "the error body")
    contains(ev["text"], "HTTP 422\n", "text: the status")


@test
def each_retry_is_an_exchange_of_its_own():
    fresh([{"fault": "status", "status": 500, "match": {"method": "POST", "path": CONVERSATIONS}, "times": 1}])
    status, events, stderr = mistral(["-c", "/start cs " + CHARGED, "-c", "/raw"])
    eq(status, 0, "exit status: the retry succeeded")
    ev, exchanges = raw_of(events)
    eq([e["status"] for e in exchanges], [500, 200], "the failure, then the retry")
    check(json.loads(exchanges[0]["response_body"])["message"], "the 500's body: %s" % exchanges[0])
    contains(ev["text"], "exchange 1 of 2", "text: numbered")
    contains(ev["text"], "exchange 2 of 2", "text: numbered")


@test
def a_transfer_that_failed_says_why():
    fresh([{"fault": "reset", "after": 2, "match": {"method": "POST", "path": CONVERSATIONS}, "times": 1}])
    status, events, stderr = mistral(["-c", "/start cs " + CHARGED, "-c", "/raw"])
    eq(status, 1, "exit status: a stream that began is not sent again")
    ex = raw_of(events)[1][0]
    check(ex.get("error"), "the failure is recorded: %s" % ex)
    contains(ex["response_body"], "event: conversation.response.started", "what came before the reset")


@test
def the_key_is_scrubbed_even_where_the_user_typed_it():
    fresh()
    # The user's own text holds the key: its events do too, but the raw view does not.
    status, events, stderr = SERVER.run(["-c", "/start cs my key is %s, is that bad?" % SECRET, "-c", "/raw"],
                                        profile="support.json", key=SECRET)
    eq(status, 0, "exit status")
    ev, exchanges = raw_of(events)
    raw = json.dumps(ev)
    check(SECRET not in raw, "the key is in the raw event")
    eq(json.loads(exchanges[0]["request_body"])["inputs"][0]["content"], "my key is [redacted], is that bad?",
       "the key scrubbed from the request body")


@test
def without_a_run_the_focused_conversations_latest_run_is_shown():
    fresh()
    status, events, stderr = mistral(["-c", "/start cs " + CHARGED, "-c", "/start cs And the invoice?",
                                      "-c", "/raw", "-c", "/switch c1", "-c", "/raw"])
    eq(status, 0, "exit status")
    eq([e["run"] for e in of_type(events, "raw")], ["r2", "r1"], "c2's run, then c1's")


@test
def agent_syncs_are_shown_as_prepare():
    fresh()
    status, events, stderr = mistral(["-c", "/raw prepare"])
    eq(status, 0, "exit status")
    ev, exchanges = raw_of(events)
    check("run" not in ev, "not a run: %s" % ev)
    eq(exchanges[0]["method"] + " " + exchanges[0]["url"], "GET %s/v1/agents?page=0&page_size=100" % SERVER.url,
       "the first sync request lists the agents")
    created = [e for e in exchanges if e["method"] == "POST"]
    eq(len(created), 4, "then creates the four agents")


@test
def an_unknown_run_is_named_with_the_runs_there_are():
    fresh()
    status, events, stderr = mistral(["-c", "/start cs " + CHARGED, "-c", "/start cs Hello", "-c", "/raw r9"])
    eq(status, 1, "exit status")
    eq(error_message(events), "no run r9; runs so far: r1..r2", "error")
    status, events, stderr = mistral(["-c", "/raw r1"])
    eq(error_message(events), "no run r1; no run has started yet", "error before any run")
    status, events, stderr = mistral(["-c", "/raw"])
    eq(error_message(events), "no conversation yet: start one with /start AGENT TEXT", "error without a run")


@test
def an_offline_run_sent_no_http_request():
    status, events, stderr = run(["--backend", "offline", "-c", "/start cs " + CHARGED, "-c", "/raw"],
                                 profile="support.json")
    eq(status, 1, "exit status")
    eq(error_message(events), "run r1 ran on the offline backend, which sends no HTTP request", "error")
    contains(stderr, "which sends no HTTP request", "stderr says it too")


if __name__ == "__main__":
    lib.main_with_server(SERVER)
