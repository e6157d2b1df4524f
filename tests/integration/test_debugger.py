#!/usr/bin/env python3
"""The debugger in batch mode: step mode (/step, /next, /continue, /edit,
/skip, /abort) and breakpoints (/break handoff|function|tool|agent|error,
/breaks, /unbreak, /redirect), offline and against the fake Mistral server."""

import json
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import lib  # noqa: E402
from lib import FakeMistral, check, contains, eq, of_type, one, run, test, types  # noqa: E402

SERVER = FakeMistral()
CHARGED = "/start cs Why was I charged twice?"
ECB = "/start finance What was the ECB interest rate in 2023?"


def hits(events):
    return [(e["reason"], e["agent"]) for e in of_type(events, "breakpoint.hit")]


def replies(events):
    return [(e["agent"], e["content"]) for e in of_type(events, "message.output")]


def fresh():
    if SERVER.url is None and SERVER.start() is None:
        raise lib.Skip("no OpenAPI spec in ../shared: the fake Mistral server cannot run")
    SERVER.reset(script=lib.offline_script("support.json", "finance.json"))


def no_rejections():
    eq(SERVER.rejections(), [], "requests the fake server rejected as off-spec")


@test
def step_mode_stops_before_each_request_and_edit_changes_the_input():
    status, events, stderr = run(["-c", "/step on", "-c", CHARGED, "-c", "/edit I was charged three times",
                                  "-c", "/next", "-c", "/next"], profile="support.json")
    eq(status, 0, "exit status")
    eq(hits(events), [("step", "cs"), ("step", "billing")], "a stop before each agent's request")
    first = of_type(events, "breakpoint.hit")[0]
    eq([i["content"] for i in first["inputs"]], ["Why was I charged twice?"], "what cs is about to be sent")
    eq(first["model"], "mistral-medium-latest", "the model")
    check("completion_args" in first and "tools" in first, "its tools and completion args")
    second = of_type(events, "breakpoint.hit")[1]
    eq([c["content"] for c in second["context"]], ["I was charged three times"],
       "what billing will receive: the edited message")
    eq(one(events, "entry.edited")["text"], "I was charged three times", "entry.edited")
    contains(replies(events)[0][1], "I was charged three times", "billing answered the edited text")
    order = types(events)
    check(order.index("entry.edited") < order.index("agent.handoff"), "the edit came before the request")


@test
def continue_runs_to_the_end_and_other_runs_go_on():
    status, events, stderr = run(["-c", "/step on", "-c", CHARGED, "-c", "/continue"], profile="support.json")
    eq(status, 0, "exit status")
    eq(hits(events), [("step", "cs")], "no more stops after /continue")
    eq(replies(events)[0][0], "billing", "billing answered")


@test
def skip_and_abort_end_the_stopped_run():
    status, events, stderr = run(["--keep-going", "-c", "/step on", "-c", CHARGED, "-c", "/skip",
                                  "-c", "/start sales How much is Pro?", "-c", "/abort", "-c", "/next"],
                                 profile="support.json")
    eq([e["message"] for e in of_type(events, "run.cancelled")],
       ["the request was skipped at a breakpoint", "aborted at a breakpoint"], "both runs end")
    eq(replies(events), [], "nothing was sent")
    eq(one(events, "error")["message"], "no run is stopped at a breakpoint", "/next with nothing stopped")


@test
def handoff_breakpoint_shows_the_context_and_redirects():
    status, events, stderr = run(["-c", "/break handoff", "-c", CHARGED, "-c", "/redirect sales"],
                                 profile="support.json")
    eq(status, 0, "exit status")
    hit = one(events, "breakpoint.hit")
    eq((hit["reason"], hit["previous_agent"], hit["next_agent"], hit["spec"]), ("handoff", "cs", "billing", "handoff"),
       "the stop names the handoff")
    eq([c["content"] for c in hit["context"]], ["Why was I charged twice?"], "what billing would receive")
    redirect = [e for e in of_type(events, "agent.handoff") if e["execution"] == "user"]
    eq([(e["previous_agent"], e["next_agent"]) for e in redirect], [("billing", "sales")], "the user's choice")
    eq(replies(events)[0][0], "sales", "sales answered instead")


@test
def handoff_breakpoint_skip_keeps_the_first_agent():
    status, events, stderr = run(["-c", "/break handoff", "-c", CHARGED, "-c", "/skip"], profile="support.json")
    eq(status, 0, "exit status")
    eq(one(events, "run.done")["agent"], "cs", "the run ends with cs")


@test
def function_breakpoint_edits_the_arguments_or_denies_the_call():
    status, events, stderr = run(["-c", "/break function:get_interest_rate", "-c", ECB,
                                  "-c", "/edit {\"year\": \"2022\"}", "-c", "/next"], profile="finance.json")
    eq(status, 0, "exit status")
    hit = one(events, "breakpoint.hit")
    eq([c["name"] for c in hit["calls"]], ["get_interest_rate"], "the call is shown")
    eq(json.loads(hit["calls"][0]["arguments"]), {"year": "2023"}, "with its arguments")
    contains(one(events, "function.result")["result"], "2022", "the edited arguments ran")
    status, events, stderr = run(["-c", "/break function", "-c", ECB, "-c", "/skip"], profile="finance.json")
    eq(status, 0, "exit status")
    contains(one(events, "function.result")["result"], "denied", "a denied call goes back as denied")


@test
def agent_breakpoint_and_the_list():
    status, events, stderr = run(["-c", "/break agent:billing", "-c", "/break error", "-c", "/breaks",
                                  "-c", "/unbreak 2", "-c", "/breaks", "-c", CHARGED, "-c", "/next"],
                                 profile="support.json")
    eq(status, 0, "exit status")
    lists = of_type(events, "breakpoint.list")
    eq([b["spec"] for b in lists[0]["breakpoints"]], ["agent:billing", "error"], "listed")
    eq([b["spec"] for b in lists[1]["breakpoints"]], ["agent:billing"], "removed")
    eq(hits(events), [("step", "billing")], "stops before billing only")
    eq(one(events, "breakpoint.hit")["spec"], "agent:billing", "names the breakpoint")


@test
def debugger_commands_name_what_is_wrong():
    status, events, stderr = run(["--keep-going", "-c", "/break nowhere", "-c", "/break agent:nobody",
                                  "-c", "/break handoff:cs", "-c", "/unbreak 9", "-c", "/unbreak x",
                                  "-c", "/step maybe", "-c", "/edit x", "-c", "/redirect sales"],
                                 profile="support.json")
    eq(status, 1, "exit status")
    eq([e["message"] for e in of_type(events, "error")],
       ["\"nowhere\" is no breakpoint (expected handoff, function[:NAME], tool[:NAME], agent:NAME or error)",
        "agent:nobody: no agent named \"nobody\"",
        "a handoff breakpoint takes no name",
        "no breakpoint 9 (/breaks lists them)",
        "/unbreak: \"x\" is not a breakpoint number (/breaks lists them)",
        "/step: \"maybe\" is neither on nor off",
        "no run is stopped at a breakpoint",
        "no run is stopped at a breakpoint"], "one clear message each")


@test
def branches_form_a_tree_and_switch_moves_the_focus():
    status, events, stderr = run(["--keep-going", "-c", "hello", "-c", "/restart msg_0001 I was charged twice",
                                  "-c", "/restart msg_0003 refund please", "-c", "/switch c1",
                                  "-c", "/restart msg_0001 my password fails", "-c", "/switch c2",
                                  "-c", "and the invoice?", "-c", "/branches", "-c", "/switch c9"],
                                 profile="support.json")
    eq(status, 1, "exit status: /switch c9 fails")
    tree = [(b["conversation"], b["depth"], b.get("parent"), b.get("from_entry"), b["focused"])
            for b in one(events, "branch.list")["branches"]]
    eq(tree, [("c1", 0, None, None, False), ("c2", 1, "c1", "msg_0001", True), ("c3", 2, "c2", "msg_0003", False),
              ("c4", 1, "c1", "msg_0001", False)], "the tree, depth first")
    eq([e["conversation"] for e in of_type(events, "conversation.focused")], ["c1", "c2"], "focus moves")
    eq([e["conversation"] for e in of_type(events, "message.input") if e["content"] == "and the invoice?"], ["c2"],
       "plain text goes to the focused branch")
    eq(one(events, "error")["message"], "no conversation named \"c9\" (/branches lists them)", "unknown branch")


@test
def a_pattern_stopped_in_step_mode_lets_the_next_command_run():
    # With --listen the loop always has something to wait for: the batch
    # must still go on to /next while the pattern's run is stopped.
    path = os.path.join(lib.tmpdir("sock"), "deck.sock")
    status, events, stderr = run(["--listen", path, "-c", "/step on", "-c", "/pipeline writer,writer draft",
                                  "-c", "/continue", "-c", "/continue"], profile=lib.write_profile(
                                      {"agents": [{"name": "writer", "model": "m", "offline": [{"say": "ok"}]}]},
                                      "one.json"))
    eq(status, 0, "exit status")
    eq(hits(events), [("step", "writer"), ("step", "writer")], "a stop for each step")
    eq(one(events, "pattern.done")["status"], "done", "the pattern finished")


@test
def on_mistral_a_handoff_breakpoint_asks_for_client_handoffs():
    fresh()
    status, events, stderr = SERVER.run(["-c", "/break handoff", "-c", CHARGED, "-c", "/next"],
                                        profile="support.json")
    eq(status, 0, "exit status")
    starts = [r for r in SERVER.requests() if r["method"] == "POST" and r["path"] == "/v1/conversations"]
    eq(starts[0]["body"]["handoff_execution"], "client", "the server leaves the handoff to agentdeck")
    eq(one(events, "breakpoint.hit")["next_agent"], "billing", "stopped before billing")
    eq(replies(events)[0][0], "billing", "billing answered after /next")
    no_rejections()


@test
def on_mistral_a_denied_function_call_goes_back_as_denied():
    fresh()
    status, events, stderr = SERVER.run(["-c", "/break function", "-c", ECB, "-c", "/skip"], profile="finance.json")
    eq(status, 0, "exit status")
    appends = [r for r in SERVER.requests() if r["method"] == "POST" and r["path"].count("/") == 3]
    eq(appends[0]["body"]["inputs"][0]["type"], "function.result", "the denial goes back")
    contains(appends[0]["body"]["inputs"][0]["result"], "denied", "as a denial")
    no_rejections()


@test
def on_mistral_an_error_breakpoint_retries_on_next():
    fresh()
    SERVER.control("POST", "/_fake/faults", {"match": {"method": "POST", "path": "^/v1/conversations"},
                                             "times": 1, "fault": "status", "status": 500})
    status, events, stderr = SERVER.run(["--retries", "0", "-c", "/break error", "-c", CHARGED, "-c", "/next"],
                                        profile="support.json")
    eq(status, 0, "exit status")
    hit = one(events, "breakpoint.hit")
    eq(hit["reason"], "error", "stopped instead of failing")
    contains(hit["message"], "HTTP 500", "why")
    eq(of_type(events, "run.error"), [], "the run did not fail")
    eq(replies(events)[0][0], "billing", "the retry went through")
    no_rejections()


@test
def step_mode_against_the_server():
    fresh()
    status, events, stderr = SERVER.run(["-c", "/step on", "-c", CHARGED, "-c", "/edit I was charged three times",
                                         "-c", "/next", "-c", "/next"], profile="support.json")
    eq(status, 0, "exit status")
    eq(hits(events), [("step", "cs"), ("step", "billing")], "stops")
    first = [r for r in SERVER.requests() if r["method"] == "POST" and r["path"] == "/v1/conversations"][0]
    eq(first["body"]["inputs"][0]["content"], "I was charged three times", "the edited text went over the wire")
    no_rejections()


if __name__ == "__main__":
    try:
        lib.main()
    finally:
        SERVER.stop()
