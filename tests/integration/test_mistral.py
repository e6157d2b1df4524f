#!/usr/bin/env python3
"""The mistral backend against the fake Mistral server (tests/fakeapi), which
checks every request against the official OpenAPI spec: the same events as
offline, agents kept on the server, and every fault ending in a successful
retry or one clear error, with no entry lost or doubled."""

import json
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import lib  # noqa: E402
from lib import FakeMistral, check, contains, eq, of_type, offline_script, one, test, types  # noqa: E402

SERVER = FakeMistral()
SCRIPT = offline_script("support.json", "finance.json")
CHARGED_TWICE = "Why was I charged twice?"
ECB_2023 = "What was the ECB interest rate in 2023?"


def fresh(faults=None):
    SERVER.reset(script=SCRIPT, faults=faults)


def no_rejections():
    eq(SERVER.rejections(), [], "requests the fake server rejected as off-spec")


def kinds(events):
    """The event types, without mistral's own: the conversation.started that
    names a server conversation (each new one, a switch or a branch)."""
    return [e["type"] for e in events if not (e["type"] == "conversation.started" and "server_conversation" in e)]


@test
def support_handoff_on_the_server():
    fresh()
    status, events, stderr = SERVER.run(["-c", "/start cs " + CHARGED_TWICE], profile="support.json")
    eq(status, 0, "exit status")
    eq(stderr, "", "stderr")
    eq(kinds(events), ["conversation.started", "message.input", "run.started", "agent.handoff", "message.output",
                       "run.done"], "the same events as offline")
    server = [e for e in of_type(events, "conversation.started") if "server_conversation" in e]
    eq(len(server), 1, "the server conversation is named once")
    eq((server[0]["carried"], server[0]["span"]), (0, {"local": 0, "server": 0}), "it starts with nothing carried")
    check("server_parent" not in server[0], "the first server conversation replaces none")
    handoff = one(events, "agent.handoff")
    eq((handoff["previous_agent"], handoff["next_agent"], handoff["execution"]), ("cs", "billing", "server"),
       "handoff")
    out = one(events, "message.output")
    eq(out["agent"], "billing", "who answers")
    contains(out["content"], "duplicate charge", "billing's answer")
    check(out["entry_id"].startswith("msg_"), "server entry id: %s" % out["entry_id"])
    usage = one(events, "run.done")["usage"]
    check(usage["total_tokens"] > 0, "usage from the server: %s" % usage)
    no_rejections()


@test
def finance_function_call_runs_on_the_client():
    fresh()
    status, events, stderr = SERVER.run(["-c", "/start finance " + ECB_2023], profile="finance.json")
    eq(status, 0, "exit status")
    eq(kinds(events), ["conversation.started", "message.input", "run.started", "agent.handoff", "function.call",
                       "function.result", "message.output", "run.done"], "event types")
    call, result = one(events, "function.call"), one(events, "function.result")
    eq(call["name"], "get_interest_rate", "function")
    eq(json.loads(call["arguments"]), {"year": "2023"}, "arguments")
    eq(result["tool_call_id"], call["tool_call_id"], "the result answers the call")
    contains(one(events, "message.output")["content"], "4.50%", "ecb's answer")
    # The result went back to the same server conversation as a function.result entry.
    appends = [r for r in SERVER.requests() if r["method"] == "POST" and r["path"].count("/") == 3]
    eq(len(appends), 1, "one append")
    eq(appends[0]["body"]["inputs"][0]["type"], "function.result", "what was appended")
    no_rejections()


@test
def agents_are_reused_and_appends_stay_in_one_conversation():
    fresh()
    SERVER.run(["-c", "/agent list"], profile="support.json")
    created = [r for r in SERVER.requests() if r["method"] == "POST" and r["path"] == "/v1/agents"]
    eq(len(created), 4, "the first run creates the four agents")
    status, events, stderr = SERVER.run(["-c", "/start cs " + CHARGED_TWICE, "-c", "And the invoice?"],
                                        profile="support.json")
    eq(status, 0, "exit status")
    created = [r for r in SERVER.requests() if r["method"] == "POST" and r["path"] == "/v1/agents"]
    eq(len(created), 4, "the second run creates none")
    starts = [r for r in SERVER.requests() if r["method"] == "POST" and r["path"] == "/v1/conversations"]
    eq(len(starts), 1, "one server conversation for the two messages")
    eq(of_type(events, "message.output")[-1]["agent"], "billing", "billing keeps the conversation")
    no_rejections()


def check_retried(fault, expect_warning):
    fresh([dict(fault, match={"method": "POST", "path": "^/v1/conversations$"}, times=1)])
    status, events, stderr = SERVER.run(["-c", "/start cs " + CHARGED_TWICE], profile="support.json")
    eq(status, 0, "exit status")
    eq(len(of_type(events, "message.output")), 1, "one answer, not two")
    warnings = of_type(events, "warning")
    eq(len(warnings), 1, "one warning for the retry")
    contains(warnings[0]["message"], expect_warning, "warning")
    starts = [r for r in SERVER.requests() if r["method"] == "POST" and r["path"] == "/v1/conversations"]
    eq(len(starts), 2, "sent twice: the failure, then the retry")
    no_rejections()


@test
def rate_limited_with_retry_after_then_retried():
    check_retried({"fault": "status", "status": 429, "retry_after": "1"}, "retrying in 1.0 s")


@test
def server_errors_are_retried():
    check_retried({"fault": "status", "status": 500}, "HTTP 500")
    check_retried({"fault": "status", "status": 503}, "HTTP 503")


@test
def retries_run_out_into_one_clear_error():
    fresh([{"fault": "status", "status": 503, "match": {"method": "POST", "path": "^/v1/conversations$"},
            "times": None}])
    status, events, stderr = SERVER.run(["--retries", "2", "-c", "/start cs " + CHARGED_TWICE],
                                        profile="support.json")
    eq(status, 1, "exit status")
    err = one(events, "run.error")
    contains(err["message"], "HTTP 503", "run.error")
    eq(len(of_type(events, "warning")), 2, "a warning per retry")
    eq(len([l for l in stderr.splitlines() if "failed" in l]), 1, "one line on stderr for the failure")


@test
def a_refused_key_is_said_plainly():
    fresh()
    status, events, stderr = SERVER.run(["-c", "/agent list"], profile="support.json", key="wrong-key")
    eq(status, 1, "exit status")
    contains(stderr, "the API key was refused (401", "stderr")
    check("wrong-key" not in stderr and all("wrong-key" not in json.dumps(e) for e in events),
          "the key is never shown")


def check_stream_fault(fault, expect):
    fresh([dict(fault, match={"method": "POST", "path": "^/v1/conversations$"}, times=1)])
    status, events, stderr = SERVER.run(["-c", "/start cs " + CHARGED_TWICE], profile="support.json")
    eq(status, 1, "exit status")
    contains(one(events, "run.error")["message"], expect, "run.error")
    starts = [r for r in SERVER.requests() if r["method"] == "POST" and r["path"] == "/v1/conversations"]
    eq(len(starts), 1, "a POST whose stream began is never sent again")
    ids = [e["entry_id"] for e in events if "entry_id" in e]
    eq(len(ids), len(set(ids)), "no entry twice")
    return events


@test
def a_stream_cut_midway_keeps_what_arrived():
    events = check_stream_fault({"fault": "reset", "after": 3}, "the stream was cut off")
    check(one(events, "agent.handoff"), "the handoff that arrived is kept")


@test
def a_truncated_stream_is_an_error():
    check_stream_fault({"fault": "truncate", "after": 2}, "truncated")


@test
def malformed_json_in_the_stream_is_an_error():
    check_stream_fault({"fault": "malformed", "after": 1}, "not JSON")


@test
def another_agent_takes_the_conversation_on_in_a_new_server_conversation():
    fresh()
    status, events, stderr = SERVER.run(["-c", "hello", "-c", "@sales How much is Pro?"], profile="support.json")
    eq(status, 0, "exit status")
    started = [e for e in of_type(events, "conversation.started") if "server_parent" in e]
    eq(len(started), 1, "one conversation.started for the switch")
    conversations = [r for r in SERVER.requests() if r["method"] == "POST" and r["path"] == "/v1/conversations"]
    eq(len(conversations), 2, "two server conversations")
    eq(started[0]["agent"], "sales", "the agent taking it on")
    check(started[0]["server_parent"] != started[0]["server_conversation"], "names the one it replaces")
    eq(started[0]["carried"], 2, "carried: the user's message and cs's answer")
    eq({e["conversation"] for e in events if "conversation" in e}, {"c1"}, "to the user it stays one conversation")
    second = [r for r in SERVER.requests() if r["method"] == "POST" and r["path"] == "/v1/conversations"][1]
    eq([(i["role"], i["content"]) for i in second["body"]["inputs"]],
       [("user", "hello"), ("assistant", of_type(events, "message.output")[0]["content"]),
        ("user", "How much is Pro?")],
       "the inputs carry the earlier entries")
    no_rejections()


@test
def restart_branches_the_server_conversation():
    fresh()
    status, events, stderr = SERVER.run(["-c", "hello", "-c", "what can you do?", "-c", "/history"],
                                        profile="support.json")
    eq(status, 0, "exit status")
    first = of_type(events, "message.input")[0]["entry_id"]
    status, events, stderr = SERVER.run(["-c", "hello", "-c", "what can you do?",
                                         "-c", "/restart %s I was charged twice" % first,
                                         "-c", "/history"], profile="support.json")
    eq(status, 0, "exit status")
    eq(stderr, "", "stderr")
    restarts = [r for r in SERVER.requests() if r["path"].endswith("/restart")]
    eq(len(restarts), 1, "one restart request")
    body = restarts[0]["body"]
    source = [e for e in of_type(events, "run.done")][0]
    history = [r for r in SERVER.requests() if r["method"] == "GET" and r["path"].endswith("/history")]
    eq(len(history), 1, "the source's history was read to find the entry's server id")
    check(body["from_entry_id"].startswith("msg_"), "a server entry id: %s" % body["from_entry_id"])
    eq([i["content"] for i in body["inputs"]], ["I was charged twice"], "only the new input is sent")
    server = [e for e in of_type(events, "conversation.started") if "server_parent" in e]
    eq(len(server), 1, "the branch's server conversation is announced")
    eq(server[0]["carried"], 1, "the server keeps the entries up to the first message")
    check(server[0]["server_parent"] in restarts[0]["path"], "its parent is the restarted one")
    out = of_type(events, "message.output")[-1]
    eq(out["agent"], "billing", "the branch goes on: cs hands off to billing")
    branch = of_type(events, "conversation.history")[-1]
    eq([e["type"] for e in branch["entries"]][:2], ["message.input", "message.input"],
       "the branch: the first message, then the new one")
    eq(source["conversation"], "c1", "the source conversation")
    no_rejections()


@test
def restart_without_an_append_carries_the_entries():
    fresh()
    status, events, stderr = SERVER.run(["-c", "hello", "-c", "/history"], profile="support.json")
    first = of_type(events, "message.input")[0]["entry_id"]
    status, events, stderr = SERVER.run(["-c", "hello", "-c", "/restart %s I was charged twice" % first],
                                        profile="support.json")
    eq(status, 0, "exit status")
    eq([r for r in SERVER.requests() if r["path"].endswith("/restart")], [],
       "Mistral restarts only conversations appended to: no restart request")
    starts = [r for r in SERVER.requests() if r["method"] == "POST" and r["path"] == "/v1/conversations"]
    eq([i["content"] for i in starts[-1]["body"]["inputs"]], ["hello", "I was charged twice"],
       "a new server conversation carries the entries up to the branch point")
    eq(of_type(events, "message.output")[-1]["agent"], "billing", "the branch is answered")
    no_rejections()


@test
def conversation_commands_ask_the_server():
    fresh()
    status, events, stderr = SERVER.run(["-c", "hello", "-c", "/start sales How much is Pro?",
                                         "-c", "/conversation list", "-c", "/conversation show c1",
                                         "-c", "/conversation history c1", "-c", "/conversation messages",
                                         "-c", "/conversation delete c1", "-c", "/conversation list"],
                                        profile="support.json")
    eq(status, 0, "exit status")
    eq(stderr, "", "stderr")
    remote = {e["conversation"]: e for e in of_type(events, "run.done")}
    listed = of_type(events, "conversation.list")
    eq(sorted(c["conversation"] for c in listed[0]["conversations"]), ["c1", "c2"],
       "the server's conversations, named as ours")
    eq({c["agent"] for c in listed[0]["conversations"]}, {"cs", "sales"}, "agents by name")
    shown = one(events, "conversation.show")
    eq((shown["source"], shown["conversation"], shown["agent"]), ("server", "c1", "cs"), "show")
    eq(shown["server"]["id"], shown["remote_id"], "the server's own object")
    history = one(events, "conversation.history")
    eq([e["type"] for e in history["entries"]], ["message.input", "message.output"], "the server's entries")
    eq(history["conversation"], "c1", "history of c1")
    messages = one(events, "conversation.messages")
    eq(messages["conversation"], "c2", "messages of the focused conversation")
    eq(len(messages["messages"]), 2, "two messages")
    deleted = one(events, "conversation.deleted")
    eq(deleted["remote_id"], shown["remote_id"], "deleted on the server")
    deletes = [r for r in SERVER.requests() if r["method"] == "DELETE"]
    eq([r["path"] for r in deletes], ["/v1/conversations/" + shown["remote_id"]], "one DELETE")
    eq([c["conversation"] for c in listed[1]["conversations"]], ["c2"], "gone from the list")
    check(remote, "runs were done")
    no_rejections()


@test
def conversation_commands_fail_clearly():
    fresh()
    status, events, stderr = SERVER.run(["-c", "/conversation show conv_nope"], profile="support.json")
    eq(status, 1, "exit status")
    contains(one(events, "error")["message"], "could not get conversation conv_nope: HTTP 404", "the error")
    status, events, stderr = SERVER.run(["-c", "/conversation history"], profile="support.json")
    eq(status, 1, "exit status")
    contains(one(events, "error")["message"], "no conversation yet", "the error")
    no_rejections()


@test
def every_command_gives_the_same_kinds_of_event_as_offline():
    script = ["/help start", "/agent list", "/agent show cs", "/start cs hello", "I was charged twice",
              "@sales How much is Pro?", "/history", "/restart msg_0001 my password does not work",
              "/agent create helper --model mistral-small-latest --handoff cs", "/agent update helper --temperature 0.3",
              "/start helper hi", "/agent delete helper", "/allow", "/conversation list", "/quit", "/agent list"]
    args = ["--keep-going"] + [a for line in script for a in ("-c", line)]
    fresh()
    status, remote, stderr = SERVER.run(args, profile="support.json")
    eq(status, 1, "exit status (/allow with nothing waiting fails)")
    offline = lib.run(["--backend", "offline"] + args, profile="support.json")
    eq(offline.status, 1, "offline exit status")
    eq(kinds(remote), kinds(offline.events), "the same kinds of event, in the same order")
    check(any("server_conversation" in e for e in remote), "the switch to sales made a server conversation")
    eq(one(remote, "error")["message"], "no function call waits for confirmation", "the one failed command")
    no_rejections()


@test
def a_text_marker_handoff_gives_the_next_agent_the_customer_message():
    fresh()
    status, events, stderr = SERVER.run(["-c", "/start sales The desktop app crashes every time I export a report"],
                                        profile="support.json")
    eq(status, 0, "exit status")
    handoff = one(events, "agent.handoff")
    eq((handoff["previous_agent"], handoff["next_agent"], handoff["execution"]), ("sales", "technical", "marker"),
       "the marker hands off")
    second = [r for r in SERVER.requests() if r["method"] == "POST" and r["path"] == "/v1/conversations"][1]
    eq(second["body"]["inputs"][-1]["role"], "user", "the new agent answers the customer, not the handoff line")
    contains(of_type(events, "message.output")[-1]["content"], "Sorry that it is failing", "technical's answer")
    no_rejections()


@test
def client_handoffs_are_carried_out_by_agentdeck():
    fresh()
    status, events, stderr = SERVER.run(["--handoff-execution", "client", "-c", "/start cs " + CHARGED_TWICE],
                                        profile="support.json")
    eq(status, 0, "exit status")
    eq(one(events, "agent.handoff")["execution"], "client", "execution")
    out = one(events, "message.output")
    eq(out["agent"], "billing", "billing answers")
    contains(out["content"], "duplicate charge", "billing's answer to the user's question")
    starts = [r for r in SERVER.requests() if r["method"] == "POST" and r["path"] == "/v1/conversations"]
    eq([r["body"]["handoff_execution"] for r in starts], ["client", "client"], "both requests ask for client handoffs")
    eq(starts[1]["body"]["inputs"][-1]["content"], CHARGED_TWICE, "billing is given the question")
    eq(one(events, "run.done")["turns"], 2, "two turns: cs, then billing")
    no_rejections()


@test
def built_in_tool_executions_become_events():
    fresh()
    SERVER.reset(script={"searcher": [{"tool": {"name": "web_search", "arguments": {"query": "euro 2024"},
                                                "info": {"results": 3}}, "say": "Spain won."}]})
    path = lib.write_profile({"name": "tools", "agents": [{"name": "searcher", "tools": [{"type": "web_search"}]}]})
    status, events, stderr = SERVER.run(["-c", "/start searcher Who won the Euro 2024?"], profile=path)
    eq(status, 0, "exit status")
    eq(kinds(events)[3:5], ["tool.execution", "message.output"], "the tool ran on the server, then the reply")
    tool = one(events, "tool.execution")
    eq(tool["name"], "web_search", "tool")
    eq(tool["info"], {"results": 3}, "info")
    no_rejections()


@test
def without_streaming_the_events_are_the_same():
    fresh()
    streamed = SERVER.run(["-c", "/start finance " + ECB_2023], profile="finance.json")
    fresh()
    whole = SERVER.run(["--no-stream", "-c", "/start finance " + ECB_2023], profile="finance.json")
    eq(whole.status, 0, "exit status")
    eq(types(whole.events), types(streamed.events), "event types")
    eq(one(whole.events, "message.output")["content"], one(streamed.events, "message.output")["content"],
       "the answer")
    eq([r["body"].get("stream") for r in SERVER.requests() if r["path"].startswith("/v1/conversations")],
       [False, False], "both requests ask for whole answers")
    no_rejections()


@test
def agent_commands_act_on_the_server():
    fresh()
    status, events, stderr = SERVER.run([
        "-c", "/agent create helper --model mistral-small-latest --description 'Helps.' --handoff billing",
        "-c", "/agent update helper --temperature 0.2",
        "-c", "@helper hello",
        "-c", "/agent delete helper",
    ], profile="support.json")
    eq(status, 0, "exit status")
    eq(stderr, "", "stderr")
    calls = [(r["method"], r["path"]) for r in SERVER.requests() if r["path"].startswith("/v1/agents")]
    created = [r for r in SERVER.requests() if r["method"] == "POST" and r["path"] == "/v1/agents"]
    eq([r["body"]["name"] for r in created], ["cs", "technical", "billing", "sales", "helper"], "agents created")
    eq(created[-1]["body"]["model"], "mistral-small-latest", "helper's model")
    patches = [r for r in SERVER.requests() if r["method"] == "PATCH"]
    check(any(r["body"].get("completion_args") == {"temperature": 0.2} for r in patches),
          "the update reached the server: %s" % [r["body"] for r in patches])
    deletes = [p for m, p in calls if m == "DELETE"]
    eq(len(deletes), 1, "one DELETE")
    eq(one(events, "message.output")["agent"], "helper", "the new agent answered")
    no_rejections()


CONFIRMED = {
    "name": "conf",
    "functions": {"get_rate": ["sh", "-c", "echo '{\"rate\": \"4.50%\"}'"]},
    "agents": [{"name": "ecb", "tools": [
        {"type": "function", "function": {"name": "get_rate"}},
        {"type": "web_search", "tool_configuration": {"requires_confirmation": ["get_rate"]}}]}],
}
CONFIRMED_SCRIPT = {"ecb": [{"when": "rate", "say": "It was {input}."},
                            {"call": {"name": "get_rate", "arguments": {"year": "2023"}},
                             "denied": "I was not allowed to look it up."}]}


def run_confirmed(answer):
    fresh()
    SERVER.reset(script=CONFIRMED_SCRIPT)
    path = lib.write_profile(CONFIRMED)
    return SERVER.run(["-c", "/start ecb What was it in 2023?", "-c", answer], profile=path)


@test
def a_call_that_needs_confirmation_waits_for_allow():
    status, events, stderr = run_confirmed("/allow")
    eq(status, 0, "exit status")
    hit = one(events, "breakpoint.hit")
    eq((hit["reason"], hit["name"]), ("confirmation", "get_rate"), "the stop says why")
    calls = of_type(events, "function.call")
    eq([c.get("confirmation_status") for c in calls], ["pending", "allowed"], "pending, then allowed")
    eq(one(events, "function.result")["tool_call_id"], hit["tool_call_id"], "the allowed call ran")
    contains(one(events, "message.output")["content"], "4.50%", "the answer uses it")
    confirmations = [r["body"]["tool_confirmations"] for r in SERVER.requests() if "tool_confirmations" in (r["body"] or {})]
    eq(confirmations, [[{"tool_call_id": hit["tool_call_id"], "confirmation": "allow"}]], "the answer sent")
    no_rejections()


@test
def a_denied_call_goes_back_to_the_model_as_denied():
    status, events, stderr = run_confirmed("/deny")
    eq(status, 0, "exit status")
    eq(of_type(events, "function.result"), [], "nothing ran")
    eq(one(events, "message.output")["content"], "I was not allowed to look it up.", "the model answers without it")
    no_rejections()


@test
def a_call_left_waiting_fails_the_batch():
    fresh()
    SERVER.reset(script=CONFIRMED_SCRIPT)
    status, events, stderr = SERVER.run(["-c", "/start ecb What was it in 2023?"],
                                        profile=lib.write_profile(CONFIRMED))
    eq(status, 1, "exit status")
    contains(one(events, "run.cancelled")["message"], "the batch ended while the run waited (for /allow or /deny", "run.cancelled")


@test
def a_busy_conversation_409_waits_and_retries():
    check_retried({"fault": "status", "status": 409}, "HTTP 409")


@test
def a_stalled_stream_fails_after_the_stall_timeout():
    fresh([{"fault": "stall", "seconds": 4, "after": 1, "times": 1,
            "match": {"method": "POST", "path": "^/v1/conversations$"}}])
    status, events, stderr = SERVER.run(["--stall-timeout", "1", "-c", "/start cs " + CHARGED_TWICE],
                                        profile="support.json")
    eq(status, 1, "exit status")
    contains(one(events, "run.error")["message"], "stalled", "run.error")
    starts = [r for r in SERVER.requests() if r["method"] == "POST" and r["path"] == "/v1/conversations"]
    eq(len(starts), 1, "not sent again: its stream had begun")


@test
def the_whole_run_sent_nothing_off_spec():
    no_rejections()


if __name__ == "__main__":
    lib.main_with_server(SERVER)
