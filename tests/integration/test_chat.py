#!/usr/bin/env python3
"""The chat backend (--backend chat) against the fake server's
/v1/chat/completions, which checks every request against the spec's
ChatCompletionRequest and refuses histories the service refuses: the same
events as offline, handoffs as transfer_to_AGENT calls, function calls that
ask first, the history kept on the client, the models probed at start-up,
built-in tools warned about, and faults that end in a retry or one clear
error."""

import json
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import lib  # noqa: E402
from lib import (FakeMistral, check, contains, eq, of_type, one, run, test, types, write_file,  # noqa: E402
                 write_profile)

SERVER = FakeMistral()
ECB_2023 = "What was the ECB interest rate in 2023?"
FINANCE_EVENTS = ["conversation.started", "message.input", "run.started", "agent.handoff", "function.call",
                  "function.result", "message.output", "run.done"]


def shipped(name):
    with open(lib.profile(name), encoding="utf-8") as f:
        return json.load(f)


def fresh(team, faults=None, whole=False):
    """Resets the server and gives it the offline rules of team (a dict),
    each agent known by its instructions, the system message it sends."""
    SERVER.reset(script=lib.offline_script_of(team), faults=faults)
    SERVER.control("POST", "/_fake/speakers",
                   {a["instructions"]: a["name"] for a in team["agents"] if a.get("instructions")})
    if whole:
        SERVER.control("POST", "/_fake/chat", {"tool_calls": "whole"})


_key_file = None


def key_file():
    global _key_file
    if _key_file is None:
        _key_file = write_file("key", FakeMistral.KEY + "\n", mode=0o600)
    return _key_file


def chat(args, profile, key=True, **kw):
    """Runs agentdeck with the chat backend on the fake server."""
    base = ["--backend", "chat", "--base-url", SERVER.url] + (["--api-key-file", key_file()] if key else [])
    return run(base + list(args), profile=profile, **kw)


def completions():
    """The bodies of the chat completions the server received, in order."""
    return [r["body"] for r in SERVER.requests("^/v1/chat/completions$")]


def no_rejections():
    eq(SERVER.rejections(), [], "requests the fake server rejected (off-spec, or a history it refuses)")


def finance_run(*args, **kw):
    fresh(shipped("finance.json"), **kw)
    return chat(list(args) + ["-c", "/start finance " + ECB_2023], profile="finance.json")


def check_finance(result):
    status, events, stderr = result
    eq(status, 0, "exit status")
    eq(stderr, "", "stderr")
    eq(types(events), FINANCE_EVENTS, "the same events as offline")
    handoff = one(events, "agent.handoff")
    eq((handoff["previous_agent"], handoff["next_agent"], handoff["execution"]), ("finance", "ecb", "client"),
       "the handoff, carried out by agentdeck")
    call, result_ = one(events, "function.call"), one(events, "function.result")
    eq((call["agent"], call["name"], json.loads(call["arguments"])), ("ecb", "get_interest_rate", {"year": "2023"}),
       "ecb's call")
    eq(result_["tool_call_id"], call["tool_call_id"], "the result answers the call")
    out = one(events, "message.output")
    eq((out["agent"], out["content"]), ("ecb", "The ECB main refinancing operations rate at the end of 2023 was 4.50%."),
       "ecb's answer")
    usage = one(events, "run.done")["usage"]
    check(usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0, "the server's usage: %s" % usage)
    no_rejections()


@test
def finance_with_a_handoff_and_a_function_call():
    check_finance(finance_run())
    bodies = completions()
    eq(len(bodies), 3, "three completions: finance hands off, ecb calls, ecb answers")
    first, second, third = bodies
    instructions = {a["name"]: a["instructions"] for a in shipped("finance.json")["agents"]}
    eq(first["messages"], [{"role": "system", "content": instructions["finance"]},
                           {"role": "user", "content": ECB_2023}], "finance's messages")
    eq([t["function"]["name"] for t in first["tools"]], ["transfer_to_ecb"], "finance's tools: its handoff")
    eq((first["model"], first["stream"]), ("mistral-medium-latest", True), "model and stream")
    eq(second["messages"][0], {"role": "system", "content": instructions["ecb"]}, "ecb's system message")
    eq([m["role"] for m in second["messages"]], ["system", "user", "assistant", "tool"],
       "the history carried to ecb, the handoff as a call and its result")
    eq(second["messages"][2]["tool_calls"][0]["function"]["name"], "transfer_to_ecb", "the transfer call")
    eq([t["function"]["name"] for t in second["tools"]], ["get_interest_rate"], "ecb's tools")
    eq([m["role"] for m in third["messages"]], ["system", "user", "assistant", "tool", "assistant", "tool"],
       "the function's result goes back")
    eq(third["messages"][-1]["name"], "get_interest_rate", "the tool message names the function")
    eq(len(SERVER.requests("^/v1/models$")), 1, "one probe of the models at start-up")


@test
def tool_calls_sent_whole_and_answers_taken_whole():
    check_finance(finance_run(whole=True))
    check_finance(finance_run("--no-stream"))
    eq([b["stream"] for b in completions()], [False] * 3, "--no-stream")


@test
def the_history_stays_on_the_client_across_messages():
    fresh(shipped("finance.json"))
    status, events, stderr = chat(["-c", "/start finance " + ECB_2023, "-c", "And in 2019?"],
                                  profile="finance.json")
    eq(status, 0, "exit status")
    outputs = of_type(events, "message.output")
    eq([o["content"] for o in outputs], ["The ECB main refinancing operations rate at the end of 2023 was 4.50%.",
                                         "The ECB main refinancing operations rate at the end of 2019 was 0.00%."],
       "both answers")
    last = completions()[-1]["messages"]
    eq([m["role"] for m in last], ["system", "user", "assistant", "tool", "assistant", "tool", "assistant", "user",
                                   "assistant", "tool"], "every earlier message is sent again")
    eq(last[7], {"role": "user", "content": "And in 2019?"}, "the new message")
    no_rejections()


@test
def a_server_that_is_down_is_one_clear_message():
    status, events, stderr = run(["--backend", "chat", "--base-url", "http://127.0.0.1:9", "-c",
                                  "/start finance hi"], profile="finance.json")
    eq(status, 1, "exit status")
    eq(types(events), ["error"], "events: one error, no run")
    contains(one(events, "error")["message"], "the chat backend is not ready: cannot reach "
             "http://127.0.0.1:9/v1/models: ", "the error")
    eq(len(stderr.splitlines()), 1, "one line on stderr: %r" % stderr)
    contains(stderr, "cannot reach http://127.0.0.1:9/v1/models", "stderr")


@test
def a_model_the_server_lacks_is_one_clear_message():
    fresh(shipped("finance.json"))
    SERVER.control("POST", "/_fake/models", ["llama3.2:latest", "qwen2.5:7b"])
    status, events, stderr = chat(["-c", "/start finance hi"], profile="finance.json")
    eq(status, 1, "exit status")
    eq(one(events, "error")["message"],
       'the chat backend is not ready: %s has no model "mistral-medium-latest" (agent finance; --model names '
       'another for every agent); it has: llama3.2:latest, qwen2.5:7b' % SERVER.url, "the error")
    # --model: one model for every agent; a name without a tag finds NAME:latest.
    status, events, stderr = chat(["--model", "llama3.2", "-c", "/start finance " + ECB_2023],
                                  profile="finance.json")
    eq(status, 0, "exit status with --model")
    eq({b["model"] for b in completions()}, {"llama3.2"}, "every request asks for --model")
    eq(types(events), FINANCE_EVENTS, "events with --model")
    status, events, stderr = chat(["--model", "nosuch", "-c", "/start finance hi"], profile="finance.json")
    eq(status, 1, "exit status")
    contains(one(events, "error")["message"], 'has no model "nosuch" (--model); it has: llama3.2:latest', "error")


@test
def a_base_url_ending_in_v1_is_the_same_server():
    fresh(shipped("finance.json"))
    status, events, stderr = run(["--backend", "chat", "--base-url", SERVER.url + "/v1/", "--api-key-file",
                                  key_file(), "-c", "/start finance " + ECB_2023], profile="finance.json")
    eq(status, 0, "exit status")
    eq(types(events), FINANCE_EVENTS, "events")


@test
def the_mistral_key_goes_to_mistral_only():
    fresh(shipped("finance.json"))
    status, events, stderr = chat(["-c", "/start finance hi"], profile="finance.json", key=False,
                                  env={"MISTRAL_API_KEY": FakeMistral.KEY})
    eq(status, 1, "exit status: the fake wants a key, and none was sent")
    contains(one(events, "error")["message"], "GET %s/v1/models failed: the API key was refused (401" % SERVER.url,
             "the error")
    check(all(r["auth"] == "missing" for r in SERVER.requests()), "no Authorization header was sent")


@test
def built_in_tools_are_warned_about_once_and_left_out():
    team = {"name": "web", "agents": [
        {"name": "searcher", "instructions": "You search the web.",
         "tools": [{"type": "web_search"}, {"type": "code_interpreter"}],
         "offline": [{"say": "I cannot search here."}]}]}
    fresh(team)
    status, events, stderr = chat(["-c", "/start searcher news?", "-c", "more?"], profile=write_profile(team))
    eq(status, 0, "exit status")
    warnings = of_type(events, "warning")
    eq([(w["agent"], w["message"]) for w in warnings],
       [("searcher", "agent searcher: the built-in tool web_search cannot run on the chat backend (it runs on "
                     "Mistral's servers); the agent goes without it"),
        ("searcher", "agent searcher: the built-in tool code_interpreter cannot run on the chat backend (it runs on "
                     "Mistral's servers); the agent goes without it")], "one warning per tool, at start-up")
    eq(types(events)[:2], ["warning", "warning"], "before anything runs")
    check(all("tools" not in b for b in completions()), "no tools sent: %s" % completions())
    eq(len(of_type(events, "run.done")), 2, "the agent runs without them")
    eq(len([l for l in stderr.splitlines() if "warning" in l]), 2, "stderr: %s" % stderr)
    no_rejections()


@test
def demonstrations_and_completion_args_go_with_the_request():
    team = {"name": "demo", "agents": [
        {"name": "poet", "instructions": "You write haiku.", "completion_args": {"temperature": 0.2, "max_tokens": 60},
         "demonstrations": [{"input": "the sea", "output": "waves fold into foam"}],
         "offline": [{"say": "moss on quiet stone"}]}]}
    fresh(team)
    status, events, stderr = chat(["-c", "/start poet a garden"], profile=write_profile(team))
    eq(status, 0, "exit status")
    body = completions()[0]
    eq(body["messages"], [{"role": "system", "content": "You write haiku."},
                          {"role": "user", "content": "the sea"},
                          {"role": "assistant", "content": "waves fold into foam"},
                          {"role": "user", "content": "a garden"}], "few-shot pairs after the system message")
    eq((body["temperature"], body["max_tokens"]), (0.2, 60), "completion args")
    eq(one(events, "message.output")["content"], "moss on quiet stone", "the answer")
    no_rejections()


def confirm_team():
    return {"name": "conf", "functions": {"get_rate": ["sh", "-c", "echo '{\"rate\": \"4.50%\"}'"]},
            "agents": [{"name": "ecb", "instructions": "You know rates.",
                        "tools": [{"type": "function", "function": {"name": "get_rate"}}],
                        "offline": [{"when": "denied", "say": "I was not allowed to look it up."},
                                    {"when": "rate\": \"(.*)\"", "say": "It was {1}."},
                                    {"call": {"name": "get_rate", "arguments": {"year": "2023"}}}]}]}


@test
def a_function_call_asks_first_and_a_denial_goes_to_the_model():
    team = confirm_team()
    path = write_profile(team)
    fresh(team)
    batch = write_file("deny.txt", "/start ecb the rate in 2023?\n/deny\n")
    status, events, stderr = chat(["--batch", batch], profile=path)
    eq(status, 0, "exit status")
    eq(one(events, "breakpoint.hit")["reason"], "confirmation", "the call waits")
    eq(one(events, "message.output")["content"], "I was not allowed to look it up.", "the answer without it")
    tool = completions()[-1]["messages"][-1]
    eq((tool["role"], tool["content"]), ("tool", "The user denied the call to get_rate."), "what the model got")
    fresh(team)
    batch = write_file("allow.txt", "/start ecb the rate in 2023?\n/allow\n")
    status, events, stderr = chat(["--batch", batch], profile=path)
    eq(status, 0, "exit status")
    eq(one(events, "message.output")["content"], "It was 4.50%.", "the answer with it")
    no_rejections()


@test
def the_debuggers_handoff_stop_works_on_chat():
    fresh(shipped("finance.json"))
    batch = write_file("debug.txt", "/break handoff\n/start finance %s\n/next\n" % ECB_2023)
    status, events, stderr = chat(["--batch", batch], profile="finance.json")
    eq(status, 0, "exit status")
    hit = one(events, "breakpoint.hit")
    eq((hit["reason"], hit["previous_agent"], hit["next_agent"]), ("handoff", "finance", "ecb"), "the stop")
    check(types(events).index("breakpoint.hit") < types(events).index("function.call"), "it stops before ecb runs")
    eq(one(events, "message.output")["agent"], "ecb", "then ecb answers")
    no_rejections()
    # /redirect sends the handoff elsewhere; the history stays one the server accepts.
    team = shipped("finance.json")
    team["agents"][0]["handoffs"] = ["ecb", "helper"]
    team["agents"].append({"name": "helper", "instructions": "You help.", "offline": [{"say": "Helper here."}]})
    team["functions"]["get_interest_rate"]["command"] = [lib.profile("finance/get_interest_rate.sh")]
    fresh(team)
    batch = write_file("redirect.txt", "/break handoff\n/start finance %s\n/redirect helper\n" % ECB_2023)
    status, events, stderr = chat(["--batch", batch], profile=write_profile(team))
    eq(status, 0, "exit status")
    eq([(h["next_agent"], h["execution"]) for h in of_type(events, "agent.handoff")],
       [("ecb", "client"), ("helper", "user")], "the handoffs")
    eq(one(events, "message.output")["content"], "Helper here.", "helper answers")
    no_rejections()


@test
def server_errors_are_retried_then_one_clear_error():
    fault = {"fault": "status", "status": 503, "match": {"method": "POST", "path": "^/v1/chat/completions$"}}
    fresh(shipped("finance.json"), faults=[dict(fault, times=1)])
    result = chat(["-c", "/start finance " + ECB_2023], profile="finance.json")
    eq(result.status, 0, "exit status after one retry")
    eq(len(of_type(result.events, "warning")), 1, "a warning for the retry")
    eq(len(of_type(result.events, "message.output")), 1, "one answer")
    fresh(shipped("finance.json"), faults=[dict(fault, times=None)])
    status, events, stderr = chat(["--retries", "1", "-c", "/start finance " + ECB_2023], profile="finance.json")
    eq(status, 1, "exit status when retries run out")
    contains(one(events, "run.error")["message"], "HTTP 503", "run.error")


@test
def a_cut_stream_fails_the_run_and_is_not_sent_again():
    fresh(shipped("finance.json"), faults=[{"fault": "truncate", "after": 1, "times": 1,
                                            "match": {"method": "POST", "path": "^/v1/chat/completions$"}}])
    status, events, stderr = chat(["-c", "/start finance " + ECB_2023], profile="finance.json")
    eq(status, 1, "exit status")
    contains(one(events, "run.error")["message"], "the stream ended before data: [DONE]", "run.error")
    eq(len(completions()), 1, "a request whose stream began is not sent again")


@test
def a_bad_request_says_what_the_server_said():
    fresh(shipped("finance.json"), faults=[{"fault": "status", "status": 400, "message": "Prompt too long",
                                            "match": {"method": "POST", "path": "^/v1/chat/completions$"}}])
    status, events, stderr = chat(["-c", "/start finance hi"], profile="finance.json")
    eq(status, 1, "exit status")
    eq(one(events, "run.error")["message"], "HTTP 400: Prompt too long", "run.error")


@test
def a_fan_out_runs_its_branches_at_once():
    team = {"name": "fan", "agents": [
        {"name": n, "instructions": "You are %s." % n, "offline": [{"say": "%s says {input}" % n}]}
        for n in ("north", "south", "east", "judge")]}
    team["agents"][3]["offline"] = [{"say": "judged"}]
    fresh(team, faults=[{"fault": "latency", "ms": 300, "times": None,
                         "match": {"method": "POST", "path": "^/v1/chat/completions$"}}])
    result = chat(["-c", "/fanout --into judge north,south,east go"], profile=write_profile(team))
    eq(result.status, 0, "exit status")
    outputs = of_type(result.events, "message.output")
    eq(sorted(o["content"] for o in outputs[:3]), ["east says go", "north says go", "south says go"],
       "each branch answers")
    eq(outputs[-1]["content"], "judged", "the fan-in")
    # Three branches of 300 ms each, then the fan-in: about 0.6 s, not 1.2 s.
    check(result.elapsed < (4 if lib.WRAPPER else 1.1) + 0.3 * 2, "took %.2f s" % result.elapsed)
    no_rejections()


@test
def the_whole_run_sent_nothing_off_spec():
    no_rejections()
    eq(SERVER.control("GET", "/_fake/violations"), [], "answers of the fake that broke the spec")


if __name__ == "__main__":
    if not SERVER.start():
        print("1..0 # SKIP the fake Mistral server cannot run here (no OpenAPI spec beside the repository)")
        sys.exit(0)
    try:
        lib.main()
    finally:
        SERVER.stop()
