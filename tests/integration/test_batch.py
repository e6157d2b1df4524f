#!/usr/bin/env python3
"""Batch mode, what works: the real binary, its events on stdout, its journal.

Run from the build folder:  AGENTDECK=$PWD/agentdeck srcdir=. python3 tests/integration/test_batch.py
"""

import json
import os
import re
import signal
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import lib  # noqa: E402
from lib import (check, contains, eq, journals, of_type, one, run, run_text, test, types,  # noqa: E402
                 write_file, write_profile)

CHARGED_TWICE = "Why was I charged twice?"
ECB_2023 = "What was the ECB interest rate in 2023?"


def shipped(name):
    with open(lib.profile(name), encoding="utf-8") as f:
        return json.load(f)


def reply_of(profile_name, agent, when_part):
    """The "say" of the offline rule of agent whose "when" contains when_part:
    what the offline backend answers, taken from the shipped profile so that
    the tests say exactly what users see."""
    for a in shipped(profile_name)["agents"]:
        if a["name"] == agent:
            for rule in a.get("offline", []):
                if when_part in rule.get("when", "") and "say" in rule:
                    return rule["say"]
    raise lib.Failure("no rule of %s in %s has a when with %r" % (agent, profile_name, when_part))


def fallback_of(profile_name, agent, text):
    """What agent's catch-all rule (no "when") answers to text."""
    for a in shipped(profile_name)["agents"]:
        if a["name"] == agent:
            for rule in a.get("offline", []):
                if "when" not in rule and "say" in rule:
                    return rule["say"].replace("{input}", text).replace("{agent}", agent)
    raise lib.Failure("%s in %s has no catch-all rule" % (agent, profile_name))


def function_def(profile_name, name):
    return shipped(profile_name)["functions"][name]


def check_entry_event(ev, type_, conversation, agent, run_id=None):
    """An entry event: its type, conversation, agent, a non-empty entry_id and run."""
    eq(ev["type"], type_, "event type")
    eq(ev.get("conversation"), conversation, "%s conversation" % type_)
    eq(ev.get("agent"), agent, "%s agent" % type_)
    check(isinstance(ev.get("entry_id"), str) and ev["entry_id"],
          "%s: entry_id is not a non-empty string: %s" % (type_, json.dumps(ev)))
    if run_id is not None:
        eq(ev.get("run"), run_id, "%s run" % type_)


def check_usage(ev):
    usage = ev.get("usage")
    check(isinstance(usage, dict), "%s has no usage object: %s" % (ev["type"], json.dumps(ev)))
    for key in ("prompt_tokens", "completion_tokens", "total_tokens"):
        check(isinstance(usage.get(key), int) and usage[key] >= 0,
              "%s usage.%s is not an integer >= 0: %s" % (ev["type"], key, json.dumps(usage)))
    eq(sorted(usage), ["completion_tokens", "prompt_tokens", "total_tokens"], "usage keys")
    eq(usage["total_tokens"], usage["prompt_tokens"] + usage["completion_tokens"], "usage.total_tokens")
    check(usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0,
          "usage counts no tokens: %s" % json.dumps(usage))
    check(isinstance(ev.get("latency_ms"), int) and ev["latency_ms"] >= 0,
          "latency_ms is not an integer >= 0: %s" % json.dumps(ev))


def start_support(*commands, opts=(), **kw):
    """Runs the support profile: /start cs Why was I charged twice?, then
    commands (each a -c), with the options opts."""
    args = list(opts) + ["-c", "/start cs " + CHARGED_TWICE]
    for c in commands:
        args += ["-c", c]
    return run(args, profile="support.json", **kw)


# ---- (1) a support conversation ------------------------------------------------


@test
def support_handoff_to_billing_events_in_order():
    status, events, stderr = start_support()
    eq(status, 0, "exit status")
    eq(stderr, "", "stderr")
    eq(types(events), ["conversation.started", "message.input", "run.started", "agent.handoff", "message.output",
                       "run.done"], "event types")
    started, inp, run_started, handoff, out, done = events

    eq(started, {"seq": 1, "ts": started["ts"], "type": "conversation.started", "conversation": "c1", "agent": "cs"},
       "conversation.started")
    eq(inp, {"seq": 2, "ts": inp["ts"], "type": "message.input", "conversation": "c1", "agent": "cs",
             "entry_id": "msg_0001", "role": "user", "content": CHARGED_TWICE}, "message.input (it has no run)")
    eq(run_started, {"seq": 3, "ts": run_started["ts"], "type": "run.started", "conversation": "c1", "agent": "cs",
                     "run": "r1"}, "run.started")
    check_entry_event(handoff, "agent.handoff", "c1", "cs", "r1")
    eq(handoff.get("previous_agent"), "cs", "agent.handoff previous_agent")
    eq(handoff.get("next_agent"), "billing", "agent.handoff next_agent")
    eq(handoff.get("execution"), "client", "agent.handoff execution (the offline backend's handoffs)")
    eq(handoff["entry_id"], "handoff_0002", "agent.handoff entry_id")
    check_entry_event(out, "message.output", "c1", "billing", "r1")
    eq(out["entry_id"], "msg_0003", "message.output entry_id")
    eq(out.get("content"), reply_of("support.json", "billing", "twice"), "message.output content")
    eq(done.get("conversation"), "c1", "run.done conversation")
    eq(done.get("agent"), "billing", "run.done agent (the agent that answered)")
    eq(done.get("run"), "r1", "run.done run")
    eq(done.get("turns"), 2, "run.done turns")
    check("message" not in done, "run.done has a message: %s" % json.dumps(done))
    check_usage(done)

    ids = [e["entry_id"] for e in events if "entry_id" in e]
    eq(len(set(ids)), len(ids), "entry ids are unique")


@test
def plain_text_first_starts_a_conversation_with_the_first_agent():
    status, events, stderr = run(["-c", CHARGED_TWICE], profile="support.json")
    eq(status, 0, "exit status")
    eq(one(events, "conversation.started")["agent"], "cs", "the profile's first agent takes it")
    eq(one(events, "agent.handoff")["next_agent"], "billing", "handoff")
    eq(one(events, "message.output")["agent"], "billing", "who answers")


@test
def at_agent_first_starts_a_conversation_with_that_agent():
    status, events, stderr = run(["-c", "@billing I was charged twice"], profile="support.json")
    eq(status, 0, "exit status")
    eq(one(events, "conversation.started")["agent"], "billing", "conversation.started agent")
    eq(one(events, "message.input")["content"], "I was charged twice", "message.input content")


@test
def a_hash_in_a_c_command_is_text_not_a_comment():
    status, events, stderr = run(["-c", "# not a comment"], profile="support.json")
    eq(status, 0, "exit status")
    eq(one(events, "message.input")["content"], "# not a comment", "message.input content")


@test
def every_event_has_consecutive_seq_and_utc_ts():
    # run() already fails on a line without seq/ts/type or a seq that does not
    # count 1, 2, 3...; here across several commands and runs.
    status, events, stderr = start_support("/append Can I get an invoice?", "/agent list", "/history")
    eq(status, 0, "exit status")
    eq([e["seq"] for e in events], list(range(1, len(events) + 1)), "seq")
    for e in events:
        check(e["ts"].endswith("Z") and "T" in e["ts"], "ts is not RFC 3339 UTC: %s" % e["ts"])
    eq(list(events[0])[:3], ["seq", "ts", "type"], "the first keys of an event")


@test
def run_writes_nothing_into_the_working_folder():
    result = start_support()
    eq(result.status, 0, "exit status")
    eq(os.listdir(result.cwd), [], "files left in the working folder")


# ---- (2) the journal -------------------------------------------------------------


@test
def journal_holds_the_same_lines_as_stdout():
    result = start_support("/append Can I get an invoice?")
    eq(result.status, 0, "exit status")
    files = journals(result.state_home)
    eq(len(files), 1, "journals under $XDG_STATE_HOME/agentdeck/sessions/<id>/events.jsonl")
    with open(files[0], encoding="utf-8") as f:
        journal = f.read()
    eq(journal.splitlines(), result.stdout.splitlines(), "journal lines")
    eq(journal, result.stdout, "journal text")
    check(len(result.events) >= 10, "too few events to compare: %d" % len(result.events))
    session_dir = os.path.dirname(files[0])
    check(re.match(r"^\d{8}T\d{6}Z-\d+$", os.path.basename(session_dir)),
          "session id is not UTC time and pid: %s" % os.path.basename(session_dir))
    eq(oct(os.stat(session_dir).st_mode & 0o777), oct(0o700), "mode of the session folder")


@test
def journal_goes_under_home_when_xdg_state_home_is_relative():
    home = lib.tmpdir("home")
    result = run(["-c", "/agent list"], profile="support.json", env={"XDG_STATE_HOME": "relative/state", "HOME": home})
    eq(result.status, 0, "exit status")
    files = journals(os.path.join(home, ".local", "state"))
    eq(len(files), 1, "journals under $HOME/.local/state/agentdeck/sessions")
    with open(files[0], encoding="utf-8") as f:
        eq(f.read(), result.stdout, "journal text")
    eq(os.listdir(result.cwd), [], "files in the working folder (nothing under relative/state)")


@test
def journal_records_errors_too():
    result = run(["-c", "/nosuch"], profile="support.json")
    eq(result.status, 1, "exit status")
    files = journals(result.state_home)
    eq(len(files), 1, "journals")
    with open(files[0], encoding="utf-8") as f:
        eq(f.read(), result.stdout, "journal text")


@test
def no_journal_with_no_journal_option():
    result = start_support(opts=["--no-journal"])
    eq(result.status, 0, "exit status")
    eq(result.stderr, "", "stderr")
    eq(journals(result.state_home), [], "journals with --no-journal")
    eq(types(result.events)[-1], "run.done", "last event")


# ---- (3) finance: a function call ------------------------------------------------


@test
def finance_handoff_then_function_call_and_result():
    status, events, stderr = run(["-c", "/start finance " + ECB_2023], profile="finance.json")
    eq(status, 0, "exit status")
    eq(stderr, "", "stderr")
    eq(types(events), ["conversation.started", "message.input", "run.started", "agent.handoff", "function.call",
                       "function.result", "message.output", "run.done"], "event types")
    handoff, call, result, out, done = events[3:]

    check_entry_event(handoff, "agent.handoff", "c1", "finance", "r1")
    eq((handoff.get("previous_agent"), handoff.get("next_agent")), ("finance", "ecb"), "handoff agents")

    check_entry_event(call, "function.call", "c1", "ecb", "r1")
    eq(call.get("name"), "get_interest_rate", "function.call name")
    check(isinstance(call.get("arguments"), str), "function.call arguments is not a JSON string: %s" % json.dumps(call))
    eq(json.loads(call["arguments"]), {"year": "2023"}, "function.call arguments, parsed")
    check(isinstance(call.get("tool_call_id"), str) and re.match(r"^of[0-9]{7}$", call["tool_call_id"]),
          "function.call tool_call_id is not of and seven digits: %s" % json.dumps(call))
    eq(call["entry_id"], "fc_0003", "function.call entry_id")

    check_entry_event(result, "function.result", "c1", "ecb", "r1")
    eq(result.get("tool_call_id"), call["tool_call_id"], "function.result tool_call_id")
    contains(result.get("result"), "4.50%", "function.result result")
    eq(json.loads(result["result"]),
       {"year": "2023", "rate": "4.50%", "source": "ECB main refinancing operations rate at year end"},
       "function.result result, parsed")

    check_entry_event(out, "message.output", "c1", "ecb", "r1")
    eq(out.get("content"), "The ECB main refinancing operations rate at the end of 2023 was 4.50%.",
       "message.output content")
    eq((done.get("agent"), done.get("turns")), ("ecb", 3), "run.done agent and turns")
    check_usage(done)
    ids = [call["entry_id"], result["entry_id"], out["entry_id"]]
    eq(len(set(ids)), 3, "distinct entry ids")


@test
def finance_year_without_a_rate_is_an_answer_not_an_error():
    status, events, stderr = run(["-c", "/start finance What was the ECB rate in 1999?"], profile="finance.json")
    eq(status, 0, "exit status")
    eq(stderr, "", "stderr")
    eq(of_type(events, "error"), [], "error events")
    result = one(events, "function.result")
    eq(json.loads(result["result"]).get("error", "")[:22], "no ECB rate for 1999: ", "the function's error field")
    contains(one(events, "message.output")["content"], "I could not get that rate: no ECB rate for 1999",
             "message.output content")


# ---- (4) --batch FILE and --batch - ----------------------------------------------

BATCH = """# A support session, in a file.

/start cs Why was I charged twice?
\x20\x20\x20
   # an indented comment, then a blank line

\t/append Can I get an invoice?
/agent list
"""

BATCH_TYPES = ["conversation.started", "message.input", "run.started", "agent.handoff", "message.output", "run.done",
               "message.input", "run.started", "message.output", "run.done", "agent.list"]


def check_batch_events(status, events, stderr):
    eq(status, 0, "exit status")
    eq(stderr, "", "stderr")
    eq(types(events), BATCH_TYPES, "event types")
    inputs = of_type(events, "message.input")
    eq([e["content"] for e in inputs], [CHARGED_TWICE, "Can I get an invoice?"], "message.input contents")
    outputs = of_type(events, "message.output")
    eq([(e["agent"], e["content"]) for e in outputs],
       [("billing", reply_of("support.json", "billing", "twice")),
        ("billing", reply_of("support.json", "billing", "invoice"))], "message.output agents and contents")
    eq([e["run"] for e in of_type(events, "run.done")], ["r1", "r2"], "run ids")
    eq([a["name"] for a in one(events, "agent.list")["agents"]], ["cs", "technical", "billing", "sales"],
       "agent.list names")


@test
def batch_file_with_comments_and_blank_lines():
    path = write_file("session.txt", BATCH)
    check_batch_events(*run(["--batch", path], profile="support.json"))


@test
def batch_stdin_with_comments_and_blank_lines():
    check_batch_events(*run(["--batch", "-"], profile="support.json", stdin=BATCH))


@test
def batch_file_with_crlf_line_ends():
    path = write_file("session.txt", BATCH.replace("\n", "\r\n"))
    check_batch_events(*run(["--batch", path], profile="support.json"))


@test
def batch_profile_as_first_argument():
    path = write_file("session.txt", BATCH)
    check_batch_events(*run([lib.profile("support.json"), "--batch", path]))


@test
def quit_ends_the_batch_with_status_0():
    status, events, stderr = run(["--batch", "-"], profile="support.json",
                                 stdin="/agent list\n/quit\n/start cs " + CHARGED_TWICE + "\n")
    eq(status, 0, "exit status")
    eq(stderr, "", "stderr")
    eq(types(events), ["agent.list"], "event types (nothing after /quit)")


# How long a test waits for an event that should come at once: generous, and
# more so under a wrapper such as valgrind (~20x slower, and slow to start).
PROMPT = 5 if not lib.WRAPPER else 60


@test
def batch_stdin_runs_each_line_as_it_arrives():
    # A program that drives agentdeck through a pipe reads each command's
    # events before it writes the next command: nothing may wait for the end
    # of stdin.
    proc, state_home = lib.spawn(["--batch", "-"], profile=lib.profile("support.json"), stdin="pipe")
    lines = []
    try:
        proc.stdin.write(("/start cs %s\n" % CHARGED_TWICE).encode("utf-8"))
        proc.stdin.flush()
        lines += lib.read_until(proc, b'"seq":1,', timeout=PROMPT)
        eq(json.loads(lines[0])["type"], "conversation.started", "the first event, with stdin still open")
        lines += lib.read_until(proc, b'"run.done"', timeout=PROMPT)
        proc.stdin.write(b"/agent list\n")
        proc.stdin.flush()
        lines += lib.read_until(proc, b'"agent.list"', timeout=PROMPT)
        proc.stdin.close()
        out, err = lib.finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    events = lib.parse_events(b"".join(lines).decode("utf-8") + out.decode("utf-8"))
    eq(proc.returncode, 0, "exit status once stdin is closed")
    eq(err.decode("utf-8", "replace"), "", "stderr")
    eq(out, b"", "stdout after the last command's events")
    eq(types(events), ["conversation.started", "message.input", "run.started", "agent.handoff", "message.output",
                       "run.done", "agent.list"], "event types")
    eq(one(events, "message.output")["content"], reply_of("support.json", "billing", "twice"),
       "message.output content")


# Ending takes a moment, more under valgrind (its leak check at exit).
TERM_WAIT = 5 if not lib.WRAPPER else 20


@test
def sigterm_while_batch_stdin_waits_for_a_line():
    # doc/commands.md: SIGTERM stops the batch with status 130, also when
    # agentdeck is idle, waiting for the next command on a pipe.
    proc, state_home = lib.spawn(["--batch", "-"], profile=lib.profile("support.json"), stdin="pipe")
    try:
        proc.stdin.write(b"/agent list\n")
        proc.stdin.flush()
        lines = lib.read_until(proc, b'"agent.list"', timeout=PROMPT)
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=TERM_WAIT)
        except subprocess.TimeoutExpired:
            pass
        ended = proc.poll() is not None
        proc.stdin.close()
        out, err = lib.finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    check(ended, "agentdeck was still running %g s after SIGTERM (ended with status %s once stdin closed)" %
          (TERM_WAIT, proc.returncode))
    eq(proc.returncode, 130, "exit status")
    eq(types(lib.parse_events(b"".join(lines).decode("utf-8") + out.decode("utf-8"))), ["agent.list"],
       "event types")


@test
def empty_batch_does_nothing():
    status, events, stderr = run(["--batch", "-"], profile="support.json", stdin="# only a comment\n\n")
    eq((status, events, stderr), (0, [], ""), "status, events, stderr")


@test
def several_c_options_run_in_order():
    status, events, stderr = run(["-c", "/agent show billing", "-c", "/agent show sales", "-c", "/agent show cs"],
                                 profile="support.json")
    eq(status, 0, "exit status")
    eq([(e["type"], e["agent"]) for e in events],
       [("agent.show", "billing"), ("agent.show", "sales"), ("agent.show", "cs")], "events")


@test
def conversation_commands_answer_from_the_session_offline():
    status, events, stderr = run(["-c", "hello", "-c", "/start sales How much is Pro?",
                                  "-c", "/conversation list", "-c", "/conversation show c1",
                                  "-c", "/conversation messages", "-c", "/conversation history c1",
                                  "-c", "/conversation delete c1", "-c", "/conversation list"], profile="support.json")
    eq(status, 0, "exit status")
    eq(stderr, "", "stderr")
    listed = of_type(events, "conversation.list")
    eq([(c["conversation"], c["agent"], c["entries"]) for c in listed[0]["conversations"]],
       [("c1", "cs", 2), ("c2", "sales", 2)], "the session's conversations")
    eq(listed[0]["source"], "local", "source")
    eq(one(events, "conversation.show")["conversation"], "c1", "show")
    eq([m["type"] for m in one(events, "conversation.messages")["messages"]], ["message.input", "message.output"],
       "messages of the focused conversation")
    eq(one(events, "conversation.messages")["conversation"], "c2", "the focused one is c2")
    eq(one(events, "conversation.deleted")["conversation"], "c1", "deleted")
    eq([c["conversation"] for c in listed[1]["conversations"]], ["c2"], "c1 is gone")


@test
def conversation_commands_name_what_is_wrong():
    status, events, stderr = run(["--keep-going", "-c", "/conversation show c7", "-c", "/conversation delete",
                                  "-c", "/conversation frob"], profile="support.json")
    eq(status, 1, "exit status")
    eq([e["message"] for e in of_type(events, "error")],
       ["no conversation named \"c7\" (/conversation list shows them)",
        "/conversation delete: missing argument (usage: /conversation delete CONVERSATION)",
        "/conversation: unknown subcommand \"frob\" (expected one of list, show, history, messages, delete)"],
       "one clear message each")


# ---- (5) agents ------------------------------------------------------------------


@test
def agent_create_show_list_update_delete():
    fn = function_def("finance.json", "get_interest_rate")
    status, events, stderr = run([
        "-c", "/agent create helper --model mistral-small-latest --description \"Helps out\" "
              "--instructions=\"Be brief.\" --tool web_search --tool function:get_interest_rate --handoff ecb "
              "--temperature 0.5 --max-tokens 200",
        "-c", "/agent show helper",
        "-c", "/agent list",
        "-c", "/agent update helper --model mistral-large-latest --handoff finance",
        "-c", "/agent show helper",
        "-c", "/agent update helper --tool code_interpreter --temperature 0",
        "-c", "/agent delete helper",
        "-c", "/agent list",
    ], profile="finance.json")
    eq(status, 0, "exit status")
    eq(stderr, "", "stderr")
    eq(types(events), ["agent.created", "agent.show", "agent.list", "agent.updated", "agent.show", "agent.updated",
                       "agent.deleted", "agent.list"], "event types")
    created, shown, listed, updated, shown2, updated2, deleted, listed2 = events

    expected = {
        "name": "helper",
        "model": "mistral-small-latest",
        "description": "Helps out",
        "instructions": "Be brief.",
        "tools": [{"type": "web_search"},
                  {"type": "function", "function": {"name": "get_interest_rate", "description": fn["description"],
                                                    "parameters": fn["parameters"]}}],
        "completion_args": {"temperature": 0.5, "max_tokens": 200},
        "handoffs": ["ecb"],
    }
    eq(created.get("agent"), "helper", "agent.created agent")
    eq(created.get("definition"), expected, "agent.created definition")
    eq(shown.get("agent"), "helper", "agent.show agent")
    eq(shown.get("definition"), expected, "agent.show definition")

    eq([a["name"] for a in listed["agents"]], ["finance", "ecb", "helper"], "agent.list names")
    eq(listed["agents"][2], {"name": "helper", "model": "mistral-small-latest", "description": "Helps out",
                             "handoffs": ["ecb"], "tools": 2}, "agent.list entry of helper")
    eq(listed["agents"][1]["tools"], 1, "agent.list tools of ecb")

    after = dict(expected, model="mistral-large-latest", handoffs=["finance"])
    eq(updated.get("definition"), after, "agent.updated definition")
    eq(shown2.get("definition"), after, "agent.show definition after the update")
    after2 = dict(after, tools=[{"type": "code_interpreter"}], completion_args={"temperature": 0, "max_tokens": 200})
    eq(updated2.get("definition"), after2, "definition after --tool (replaces the list) and --temperature")

    eq({k: v for k, v in deleted.items() if k not in ("seq", "ts")}, {"type": "agent.deleted", "agent": "helper"},
       "agent.deleted")
    eq([a["name"] for a in listed2["agents"]], ["finance", "ecb"], "agent.list names after the delete")


@test
def agent_show_of_a_profile_agent():
    names = [a["name"] for a in shipped("support.json")["agents"]]
    args = []
    for n in names:
        args += ["-c", "/agent show " + n]
    status, events, stderr = run(args, profile="support.json")
    eq(status, 0, "exit status")
    eq(len(events), len(names), "agent.show events")
    for a, ev in zip(shipped("support.json")["agents"], events):
        expected = {"name": a["name"], "model": a.get("model", "mistral-medium-latest"), "tools": a.get("tools", []),
                    "completion_args": a.get("completion_args", {}), "handoffs": a.get("handoffs", [])}
        for key in ("description", "instructions", "max_turns", "metadata", "guardrails"):
            if key in a:
                expected[key] = a[key]
        if a.get("demonstrations"):
            expected["demonstrations"] = a["demonstrations"]
        if a.get("offline"):
            expected["offline_rules"] = len(a["offline"])
        eq(ev.get("agent"), a["name"], "agent.show agent")
        eq(ev.get("definition"), expected, "agent.show definition of %s" % a["name"])


@test
def created_agent_answers_with_the_offline_fallback():
    status, events, stderr = run(["-c", "/agent create newbie", "-c", "/start newbie hello there"],
                                 profile="support.json")
    eq(status, 0, "exit status")
    eq(stderr, "", "stderr")
    eq(one(events, "agent.created")["definition"],
       {"name": "newbie", "model": "mistral-medium-latest", "tools": [], "completion_args": {}, "handoffs": []},
       "definition with the defaults")
    out = one(events, "message.output")
    eq((out["agent"], out["content"]), ("newbie", "[newbie, offline: no rule matched] You said: \"hello there\""),
       "message.output")
    eq(types(events)[-1], "run.done", "last event")
    status, events, stderr = run(["-c", "/agent create newbie", "-c", "/agent list"])
    eq(events[-1]["agents"], [{"name": "newbie", "model": "mistral-medium-latest", "handoffs": [], "tools": 0}],
       "agent.list entry without a description")


@test
def agent_commands_without_a_profile():
    status, events, stderr = run(["-c", "/agent list", "-c", "/agent create solo --description 'On my own'",
                                  "-c", "/agent list"])
    eq(status, 0, "exit status")
    eq(events[0].get("agents"), [], "agent.list of an empty team")
    eq(events[2].get("agents"), [{"name": "solo", "model": "mistral-medium-latest", "description": "On my own",
                                  "handoffs": [], "tools": 0}], "agent.list after the create")


# ---- (6) quoting -------------------------------------------------------------------


@test
def quoting_double_single_and_backslash():
    status, events, stderr = run([
        "-c", r"""/agent create q --description "He said \"hi\"\tthen\nleft \\o/" """
              r"""--instructions 'single \n "stays" literal' --model mix"ed-"'mo del'""",
        "-c", r'/start cs "Why   was I"   charged\ twice?',
    ], profile="support.json")
    eq(status, 0, "exit status")
    eq(stderr, "", "stderr")
    d = one(events, "agent.created")["definition"]
    eq(d.get("description"), 'He said "hi"\tthen\nleft \\o/', "description (\"...\" with \\\" \\t \\n \\\\)")
    eq(d.get("instructions"), 'single \\n "stays" literal', "instructions ('...' takes everything literally)")
    eq(d.get("model"), "mixed-mo del", "model (quotes joined inside one word)")
    eq(one(events, "message.input")["content"], r'"Why   was I"   charged\ twice?',
       "message.input content (TEXT... is the rest of the line as typed)")
    eq(one(events, "message.output")["agent"], "billing", "the text still routes to billing")


@test
def unicode_text_round_trips():
    text = "Pourquoi ai-je été facturé deux fois ? 5 € — 二重請求 🙂"
    status, events, stderr = run(["-c", "/start cs " + text, "-c", "/append « merci »"], profile="support.json")
    eq(status, 0, "exit status")
    eq([e["content"] for e in of_type(events, "message.input")], [text, "« merci »"], "message.input contents")
    eq(one(events, "conversation.started")["agent"], "cs", "agent")


# The table of "Words and quoting" in doc/commands.md: what you type, the word.
QUOTING = [
    ('"two  words"', "two  words"),
    (r'"say \"hi\""', 'say "hi"'),
    (r'"C:\\temp"', "C:\\temp"),
    (r'"line 1\nline 2"', "line 1\nline 2"),
    (r'"tab\there"', "tab\there"),
    (r'"\q"', "q"),
    ("'raw \\n \"text\"'", 'raw \\n "text"'),
    (r"it\'s", "it's"),
    (r"a\ b", "a b"),
    (r"\n", "n"),
    ('pre"fix and"post', "prefix andpost"),
    ('""', ""),
    ("--dashes", "--dashes"),
]


@test
def quoting_table_of_the_manual():
    args = []
    for i, (typed, _) in enumerate(QUOTING):
        args += ["-c", "/agent create q%d --description %s" % (i, typed)]
    status, events, stderr = run(args, profile="support.json")
    eq(status, 0, "exit status")
    eq(stderr, "", "stderr")
    eq(len(events), len(QUOTING), "agent.created events")
    for (typed, word), ev in zip(QUOTING, events):
        eq(ev["definition"].get("description"), word, "the word for %s" % typed)


@test
def flags_before_and_after_the_name():
    status, events, stderr = run([
        "-c", "/agent create --model m1 --description=x=y early",
        "-c", "/agent create late --instructions --not-a-flag",
        "-c", "/start cs --verbose please, " + CHARGED_TWICE,
        "-c", "/agent update early --description \"\"",
    ], profile="support.json")
    eq(status, 0, "exit status")
    eq(stderr, "", "stderr")
    eq(types(events), ["agent.created"] * 2 + ["conversation.started", "message.input", "run.started",
                                               "agent.handoff", "message.output", "run.done", "agent.updated"],
       "event types")
    eq((events[0]["agent"], events[0]["definition"]["model"], events[0]["definition"]["description"]),
       ("early", "m1", "x=y"), "flags before the name, --NAME=VALUE")
    eq(events[1]["definition"].get("instructions"), "--not-a-flag", "a value that starts with --")
    eq(one(events, "message.input")["content"], "--verbose please, " + CHARGED_TWICE,
       "/start takes no flags: --verbose is text")
    eq(events[-1]["definition"].get("description"), "", "--description \"\" sets it empty")


@test
def quoted_agent_name_and_text_as_typed():
    status, events, stderr = run(["-c", "/start \"cs\"   What's \"wrong\"  with '" + CHARGED_TWICE + "'"],
                                 profile="support.json")
    eq(status, 0, "exit status")
    eq(one(events, "conversation.started")["agent"], "cs", "agent (a quoted word before the text)")
    eq(one(events, "message.input")["content"], "What's \"wrong\"  with '" + CHARGED_TWICE + "'",
       "content: the rest of the line as typed, apostrophe and quotes included")


# ---- (7) /append, plain text, @AGENT -------------------------------------------


@test
def append_plain_text_and_at_agent():
    status, events, stderr = start_support(
        "/append I need an invoice",
        "Is my \"refund\" done?",
        "@sales   what does the pro plan cost?",
        "/append and for 10 users?",
        "# not a comment in -c",
        "@billing it's the \"second\"  charge\\",
    )
    eq(status, 0, "exit status")
    eq(stderr, "", "stderr")
    eq(len(of_type(events, "conversation.started")), 1, "conversation.started events (all in one conversation)")
    check(all(e.get("conversation") == "c1" for e in events), "an event outside c1")
    inputs = of_type(events, "message.input")
    eq([(e["agent"], e["content"]) for e in inputs],
       [("cs", CHARGED_TWICE), ("billing", "I need an invoice"), ("billing", "Is my \"refund\" done?"),
        ("sales", "what does the pro plan cost?"), ("sales", "and for 10 users?"),
        ("sales", "# not a comment in -c"), ("billing", "it's the \"second\"  charge\\")],
       "message.input agents and contents (plain text as typed; @sales switches the agent)")
    outputs = of_type(events, "message.output")
    eq([(e["agent"], e["content"]) for e in outputs],
       [("billing", reply_of("support.json", "billing", "twice")),
        ("billing", reply_of("support.json", "billing", "invoice")),
        ("billing", reply_of("support.json", "billing", "refund")),
        ("sales", reply_of("support.json", "sales", "price")),
        ("sales", reply_of("support.json", "sales", "users")),
        ("sales", fallback_of("support.json", "sales", "# not a comment in -c")),
        ("billing", fallback_of("support.json", "billing", "it's the \"second\"  charge\\"))],
       "message.output agents and contents")
    eq([e["agent"] for e in of_type(events, "run.started")],
       ["cs", "billing", "billing", "sales", "sales", "sales", "billing"], "run.started agents")
    eq([e["run"] for e in of_type(events, "run.done")], ["r1", "r2", "r3", "r4", "r5", "r6", "r7"], "run ids")


# ---- (8) /history -----------------------------------------------------------------


@test
def history_lists_the_entries():
    status, events, stderr = start_support("/history", "/start cs I cannot log in", "/history c1", "/history")
    eq(status, 0, "exit status")
    eq(stderr, "", "stderr")
    histories = of_type(events, "conversation.history")
    eq(len(histories), 3, "conversation.history events")
    first_entries = [e for e in events if "entry_id" in e and e["conversation"] == "c1"]

    h = histories[0]
    eq((h.get("conversation"), h.get("agent")), ("c1", "billing"), "history conversation and agent")
    check("parent" not in h, "a history without a parent has one: %s" % json.dumps(h))
    eq([e.get("type") for e in h["entries"]], ["message.input", "agent.handoff", "message.output"], "entry types")
    eq([e.get("entry_id") for e in h["entries"]], [e["entry_id"] for e in first_entries], "entry ids")
    eq([e.get("agent") for e in h["entries"]], ["cs", "cs", "billing"], "entry agents")
    eq(h["entries"][0].get("content"), CHARGED_TWICE, "entry content")
    eq(h["entries"][0].get("role"), "user", "entry role")
    eq((h["entries"][1].get("previous_agent"), h["entries"][1].get("next_agent")), ("cs", "billing"), "handoff entry")
    eq(h["entries"][2].get("content"), reply_of("support.json", "billing", "twice"), "output entry content")

    eq(histories[1], dict(h, seq=histories[1]["seq"], ts=histories[1]["ts"]), "/history c1 from c2")
    eq((histories[2]["conversation"], histories[2]["agent"]), ("c2", "technical"), "/history of the focused c2")
    eq([e["type"] for e in histories[2]["entries"]], ["message.input", "agent.handoff", "message.output"],
       "entry types of c2")


# ---- (9) /restart ---------------------------------------------------------------


@test
def restart_from_a_handoff_branches_a_conversation():
    status, events, stderr = start_support()
    handoff_id = one(events, "agent.handoff")["entry_id"]
    input_id = one(events, "message.input")["entry_id"]
    status, events, stderr = start_support("/restart %s Can I get an invoice?" % handoff_id, "/history")
    eq(status, 0, "exit status")
    eq(stderr, "", "stderr")
    started = of_type(events, "conversation.started")
    eq(len(started), 2, "conversation.started events")
    eq({k: v for k, v in started[1].items() if k not in ("seq", "ts")},
       {"type": "conversation.started", "conversation": "c2", "agent": "billing", "parent": "c1",
        "from_entry": handoff_id, "carried": 2}, "conversation.started of the branch")
    after = events[events.index(started[1]) + 1:]
    eq(types(after), ["message.input", "run.started", "message.output", "run.done", "conversation.history"],
       "events of the branch")
    check_entry_event(after[0], "message.input", "c2", "billing")
    eq(after[0]["content"], "Can I get an invoice?", "message.input content")
    check_entry_event(after[2], "message.output", "c2", "billing", "r2")
    eq(after[2]["content"], reply_of("support.json", "billing", "invoice"), "message.output content")
    h = after[4]
    eq((h["conversation"], h["agent"], h.get("parent")), ("c2", "billing", "c1"), "history of the branch")
    eq([e["entry_id"] for e in h["entries"]], [input_id, handoff_id, after[0]["entry_id"], after[2]["entry_id"]],
       "entries of the branch: the carried ones, then the new ones")


@test
def restart_from_the_first_message_goes_back_to_cs():
    status, events, stderr = start_support()
    input_id = one(events, "message.input")["entry_id"]
    status, events, stderr = start_support("/restart %s I cannot log in" % input_id)
    eq(status, 0, "exit status")
    branch = of_type(events, "conversation.started")[1]
    eq((branch.get("parent"), branch.get("from_entry"), branch.get("carried"), branch.get("agent")),
       ("c1", input_id, 1, "cs"), "parent, from_entry, carried, agent")
    handoffs = [e for e in of_type(events, "agent.handoff") if e["conversation"] == "c2"]
    eq([(e["previous_agent"], e["next_agent"]) for e in handoffs], [("cs", "technical")], "handoffs in c2")
    out = [e for e in of_type(events, "message.output") if e["conversation"] == "c2"]
    eq([(e["agent"], e["content"]) for e in out], [("technical", reply_of("support.json", "technical", "password"))],
       "answer in c2")


# ---- (10) deltas -----------------------------------------------------------------


def check_deltas(rate, min_deltas):
    args = ["--deltas", "--offline-rate", str(rate)]
    status, events, stderr = start_support(opts=args)
    eq(status, 0, "exit status")
    eq(stderr, "", "stderr")
    out = one(events, "message.output")
    deltas = of_type(events, "message.output.delta")
    check(len(deltas) >= min_deltas, "expected at least %d delta(s), got %d" % (min_deltas, len(deltas)))
    eq("".join(d["content"] for d in deltas), out["content"], "the deltas put together")
    for d in deltas:
        eq((d.get("conversation"), d.get("agent"), d.get("run"), d.get("entry_id")),
           (out["conversation"], out["agent"], out["run"], out["entry_id"]), "delta conversation, agent, run, entry_id")
        check(d["seq"] < out["seq"], "a delta comes after its message.output")
    eq(types(events), ["conversation.started", "message.input", "run.started", "agent.handoff"] +
       ["message.output.delta"] * len(deltas) + ["message.output", "run.done"], "event types")
    return deltas


@test
def deltas_at_once_with_rate_0():
    deltas = check_deltas(0, 1)
    eq(len(deltas), 1, "deltas at --offline-rate 0 (the whole reply at once)")


@test
def deltas_word_by_word_with_rate_200():
    deltas = check_deltas(200, 10)
    reply = reply_of("support.json", "billing", "twice")
    eq(len(deltas), len(reply.split()), "deltas at 200 words a second (one a word)")


@test
def no_deltas_without_the_option():
    status, events, stderr = start_support(opts=["--offline-rate", "200"])
    eq(status, 0, "exit status")
    eq(of_type(events, "message.output.delta"), [], "delta events without --deltas")


# ---- (11) max_turns ------------------------------------------------------------

PING_PONG = {
    "name": "ping-pong",
    "max_turns": 4,
    "agents": [
        {"name": "ping", "handoffs": ["pong"], "offline": [{"handoff": "pong"}]},
        {"name": "pong", "handoffs": ["ping"], "offline": [{"handoff": "ping"}]},
    ],
}


@test
def endless_handoffs_stop_at_max_turns():
    path = write_profile(PING_PONG)
    status, events, stderr = run(["-c", "/start ping hello", "-c", "/agent list"], profile=path)
    eq(status, 1, "exit status")
    eq(types(events), ["conversation.started", "message.input", "run.started"] + ["agent.handoff"] * 4 +
       ["run.error"], "event types (and /agent list not run)")
    eq([(e["previous_agent"], e["next_agent"]) for e in of_type(events, "agent.handoff")],
       [("ping", "pong"), ("pong", "ping")] * 2, "handoffs")
    err = events[-1]
    eq((err.get("conversation"), err.get("run"), err.get("turns")), ("c1", "r1", 4),
       "run.error conversation, run, turns")
    eq((err.get("agent"), err.get("message")), ("ping", "max_turns (4) reached before ping gave a final answer"),
       "run.error agent and message")
    check_usage(err)
    eq(stderr.splitlines(),
       ["agentdeck: run r1 of ping in c1 failed: max_turns (4) reached before ping gave a final answer"],
       "stderr lines")


@test
def agent_max_turns_overrides_the_team():
    profile = json.loads(json.dumps(PING_PONG))
    profile["agents"][0]["max_turns"] = 2
    status, events, stderr = run(["-c", "/start ping hello"], profile=write_profile(profile))
    eq(status, 1, "exit status")
    eq(len(of_type(events, "agent.handoff")), 2, "handoffs")
    contains(one(events, "run.error").get("message"), "max_turns (2) reached", "run.error message")


# ---- (12) failing functions ----------------------------------------------------


def tool_profile(command, timeout=None):
    fn = {"command": command, "auto": True}
    if timeout is not None:
        fn["timeout"] = timeout
    return write_profile({
        "agents": [{
            "name": "tooler",
            "tools": [{"type": "function", "function": {"name": "lookup"}}],
            "offline": [
                {"when": "^look", "call": {"name": "lookup", "arguments": {"q": "x"}}},
                {"say": "Final answer after: {input}"},
            ],
        }],
        "functions": {"lookup": fn},
    })


# A failed function must not hold the run up: with the 1 s timeout, a command
# that sleeps 5 s is over well before 5 s (more leeway under a wrapper such as
# valgrind, still well under the 30 s that run() allows).
FAST = 4.5 if not lib.WRAPPER else 20


def check_failed_function(command, timeout, message_parts):
    path = tool_profile(command, timeout)
    result = run(["-c", "/start tooler look it up"], profile=path)
    status, events, stderr = result
    check(result.elapsed < FAST, "took %.1f s, expected under %g s" % (result.elapsed, FAST))
    eq(types(events), ["conversation.started", "message.input", "run.started", "function.call", "error",
                       "function.result", "message.output", "run.done"], "event types")
    call, error, fresult, out, done = events[3:]
    eq(call.get("name"), "lookup", "function.call name")
    eq(json.loads(call["arguments"]), {"q": "x"}, "function.call arguments")
    eq(error.get("function"), "lookup", "error function")
    eq(error.get("tool_call_id"), call["tool_call_id"], "error tool_call_id")
    eq((error.get("conversation"), error.get("agent"), error.get("run")), ("c1", "tooler", "r1"), "error context")
    for part in message_parts:
        contains(error.get("message"), part, "error message")
    check_entry_event(fresult, "function.result", "c1", "tooler", "r1")
    eq(fresult.get("tool_call_id"), call["tool_call_id"], "function.result tool_call_id")
    eq(fresult.get("result"), "error: " + error["message"], "function.result result")
    eq(out.get("content"), "Final answer after: " + fresult["result"],
       "message.output (the catch-all rule sees the failure)")
    eq(done.get("agent"), "tooler", "run.done agent")
    eq(status, 0, "exit status (the run ended with run.done)")
    eq(stderr.splitlines(), ["agentdeck: function lookup failed: " + error["message"]], "stderr lines")
    return result.elapsed


@test
def function_timeout_is_an_error_result():
    elapsed = check_failed_function(["sleep", "5"], 1, ["lookup", "timed out after 1 s"])
    check(elapsed >= 0.9, "the 1 s timeout struck after %.2f s" % elapsed)


@test
def function_nonzero_exit_is_an_error_result():
    check_failed_function(["sh", "-c", "echo 'no such record' >&2; exit 3"], None,
                          ["lookup", "status 3", "no such record"])


@test
def function_missing_command_is_an_error_result():
    check_failed_function(["./no-such-command.sh"], None, ["lookup", "no-such-command.sh"])


@test
def function_reads_its_arguments_on_stdin():
    path = tool_profile(["sh", "-c", "cat; echo"], 5)
    status, events, stderr = run(["-c", "/start tooler look it up"], profile=path)
    eq(status, 0, "exit status")
    eq(stderr, "", "stderr")
    eq(json.loads(one(events, "function.result")["result"]), {"q": "x"}, "what the function read")


def pid_file_function(timeout):
    """A profile whose function writes its pid to a file, then sleeps 30 s."""
    pid_path = os.path.join(lib.tmpdir("pid"), "function.pid")
    path = tool_profile(["sh", "-c", 'echo $$ > "$1"; exec sleep 30', "sh", pid_path], timeout)
    return path, pid_path


def read_pid(pid_path):
    with open(pid_path) as f:
        return int(f.read().strip())


def kill_pid_file(pid_path):
    """Kills the function of pid_path if it still runs (after a failed test)."""
    try:
        pid = read_pid(pid_path)
        if lib.pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
    except (OSError, ValueError):
        pass


@test
def timed_out_function_process_is_killed():
    path, pid_path = pid_file_function(1)
    result = run(["-c", "/start tooler look it up"], profile=path)
    check(result.elapsed < FAST, "took %.1f s, expected under %g s" % (result.elapsed, FAST))
    eq(types(result.events)[-1], "run.done", "last event")
    check(os.path.exists(pid_path), "the function never ran")
    gone = lib.wait_gone(read_pid(pid_path))
    kill_pid_file(pid_path)
    check(gone, "the timed-out function (sleep 30) is still running")


def interrupt(signo, message):
    path, pid_path = pid_file_function(20)
    proc, state_home = lib.spawn(["-c", "/agent list", "-c", "/start tooler look it up", "-c", "/agent list"],
                                 profile=path)
    try:
        # Wait until the function runs, then interrupt.
        lines = lib.read_until(proc, b'"function.call"')
        deadline = time.monotonic() + 10
        while not os.path.exists(pid_path) and time.monotonic() < deadline:
            time.sleep(0.02)
        proc.send_signal(signo)
        out, err = lib.finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        gone = lib.wait_gone(read_pid(pid_path)) if os.path.exists(pid_path) else True
        if not gone:
            kill_pid_file(pid_path)
    stdout = b"".join(lines).decode("utf-8") + out.decode("utf-8")
    events = lib.parse_events(stdout)
    eq(proc.returncode, 130, "exit status")
    eq(types(events), ["agent.list", "conversation.started", "message.input", "run.started", "function.call",
                       "run.cancelled"], "event types (no later command)")
    cancelled = events[-1]
    eq((cancelled.get("conversation"), cancelled.get("agent"), cancelled.get("run"), cancelled.get("message")),
       ("c1", "tooler", "r1", message), "run.cancelled")
    eq(err.decode("utf-8", "replace").splitlines(), ["agentdeck: run r1 of tooler in c1 cancelled: " + message],
       "stderr lines")
    check_usage(cancelled)
    check(os.path.exists(pid_path), "the function never ran")
    check(gone, "the function (sleep 30) is still running after the interrupt")
    with open(journals(state_home)[0], encoding="utf-8") as f:
        eq(f.read(), stdout, "journal text")


@test
def sigint_while_a_reply_streams_drops_the_reply():
    proc, state_home = lib.spawn(["--deltas", "--offline-rate", "5", "-c", "/start cs " + CHARGED_TWICE],
                                 profile=lib.profile("support.json"))
    try:
        lines = lib.read_until(proc, b'"message.output.delta"')
        proc.send_signal(signal.SIGINT)
        out, err = lib.finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    events = lib.parse_events(b"".join(lines).decode("utf-8") + out.decode("utf-8"))
    eq(proc.returncode, 130, "exit status")
    check(of_type(events, "message.output.delta"), "no delta before the interrupt")
    eq(of_type(events, "message.output"), [], "message.output of the interrupted reply")
    eq(types(events)[-1], "run.cancelled", "last event")
    eq((events[-1]["agent"], events[-1]["message"]), ("billing", "interrupted (SIGINT)"), "run.cancelled")
    eq(err.decode("utf-8", "replace").splitlines(),
       ["agentdeck: run r1 of billing in c1 cancelled: interrupted (SIGINT)"], "stderr lines")


@test
def sigkill_leaves_every_event_in_the_journal():
    path, pid_path = pid_file_function(20)
    proc, state_home = lib.spawn(["-c", "/start tooler look it up"], profile=path)
    try:
        lines = lib.read_until(proc, b'"function.call"')
        deadline = time.monotonic() + 10
        while not os.path.exists(pid_path) and time.monotonic() < deadline:
            time.sleep(0.02)
        proc.kill()
        out, err = lib.finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        kill_pid_file(pid_path)  # the function, orphaned by the kill
    stdout = b"".join(lines).decode("utf-8") + out.decode("utf-8")
    eq(types(lib.parse_events(stdout))[-1], "function.call", "last event before the kill")
    files = journals(state_home)
    eq(len(files), 1, "journals")
    with open(files[0], encoding="utf-8") as f:
        eq(f.read(), stdout, "journal text (flushed after every event)")


@test
def sigint_cancels_the_run_with_status_130():
    interrupt(signal.SIGINT, "interrupted (SIGINT)")


@test
def sigterm_cancels_the_run_with_status_130():
    interrupt(signal.SIGTERM, "terminated (SIGTERM)")


def function_profile(functions, rules):
    """A profile with one agent t whose function tools are functions (name ->
    definition; an object is marked auto) and whose offline rules are rules,
    then a catch-all."""
    functions = {n: dict(f, auto=True) if isinstance(f, dict) else f for n, f in functions.items()}
    return write_profile({
        "agents": [{"name": "t",
                    "tools": [{"type": "function", "function": {"name": n}} for n in functions],
                    "offline": rules + [{"say": "got {input}"}]}],
        "functions": functions,
    })


@test
def function_as_a_bare_argv_and_final_newlines_dropped():
    path = function_profile({"today": ["printf", "2026-01-01\\n\\n"]},
                            [{"when": "^date", "call": {"name": "today"}}])
    status, events, stderr = run(["--yes", "-c", "/start t date please"], profile=path)
    eq(status, 0, "exit status")
    eq(stderr, "", "stderr")
    eq(one(events, "function.result")["result"], "2026-01-01", "function.result result")
    eq(one(events, "message.output")["content"], "got 2026-01-01", "message.output content")


@test
def function_output_over_1_mib_is_cut_off():
    path = function_profile({"big": ["sh", "-c", "head -c 2000000 /dev/zero | tr '\\0' x"]},
                            [{"when": "^big", "call": {"name": "big"}}])
    status, events, stderr = run(["--yes", "-c", "/start t big"], profile=path)
    eq(status, 0, "exit status")
    eq(stderr, "", "stderr")
    result = one(events, "function.result")["result"]
    eq(result, "x" * 1048576 + "\n[output cut off at 1048576 bytes]", "function.result result")


@test
def function_that_leaves_a_background_child_is_not_waited_for():
    path = function_profile({"bg": {"command": ["sh", "-c", "sleep 20 & echo started"], "timeout": 25}},
                            [{"when": "^bg", "call": {"name": "bg"}}])
    result = run(["-c", "/start t bg"], profile=path)
    eq(result.status, 0, "exit status")
    check(result.elapsed < FAST, "took %.1f s, expected under %g s" % (result.elapsed, FAST))
    eq(one(result.events, "function.result")["result"], "started", "function.result result")


@test
def function_that_closes_its_stdin_early_is_waited_for_without_spinning():
    # About 200 KB of arguments, more than a pipe holds: agentdeck still has
    # some to write when the function closes its stdin, then the function
    # takes 1 s. agentdeck must wait for it, not busy-loop on the dead pipe.
    text = "big " + "0123456789" * 20000
    path = write_profile({
        "agents": [{"name": "t", "tools": [{"type": "function", "function": {"name": "slow"}}],
                    "offline": [{"when": "^big ", "call": {"name": "slow", "arguments": {"q": "{input}"}}},
                                {"say": "got {input}"}]}],
        "functions": {"slow": {"command": ["sh", "-c", "exec 0<&-; sleep 1; echo done"], "timeout": 25,
                               "auto": True}},
    })
    batch = write_file("session.txt", "/start t %s\n" % text)
    result = run(["--batch", batch], profile=path)
    status, events, stderr = result
    eq(status, 0, "exit status")
    eq(stderr, "", "stderr")
    eq(types(events), ["conversation.started", "message.input", "run.started", "function.call", "function.result",
                       "message.output", "run.done"], "event types")
    check(len(one(events, "function.call")["arguments"]) > 200000,
          "function.call arguments are only %d bytes" % len(one(events, "function.call")["arguments"]))
    eq(json.loads(one(events, "function.call")["arguments"]), {"q": text}, "function.call arguments, parsed")
    eq(one(events, "function.result")["result"], "done", "function.result result")
    eq(one(events, "message.output")["content"], "got done", "message.output content")
    check(result.elapsed >= 0.9, "the run ended after %.2f s, before the function's sleep 1" % result.elapsed)
    # Waiting costs next to nothing (a few ms); a loop that spins burns the
    # whole second. Not under a wrapper: valgrind alone takes more than that.
    if not lib.WRAPPER:
        check(result.cpu < 0.5, "agentdeck used %.2f s of CPU in %.2f s, waiting for a function" %
              (result.cpu, result.elapsed))


def fd_table(listing):
    """{fd: what it is} from the lines of `ls -l /proc/PID/fd`: pipes as
    "pipe" (their numbers differ from run to run), /proc/PID/... (what ls
    itself opened, when sh execs it) without the pid."""
    table = {}
    for line in listing.splitlines():
        m = re.match(r"^l\S+ .* (\d+) -> (.*)$", line)
        if m:
            what = re.sub(r"^pipe:\[\d+\]$", "pipe", m.group(2))
            table[int(m.group(1))] = re.sub(r"^/proc/\d+/", "/proc/PID/", what)
    return table


@test
def function_gets_no_file_descriptor_of_agentdeck():
    # The function runs while agentdeck holds the journal and the --batch file
    # open: it must see its stdin, stdout and stderr pipes and nothing else,
    # exactly what a child of this script with three pipes sees.
    listing = ["sh", "-c", "ls -l /proc/$$/fd"]
    path = function_profile({"fds": {"command": listing}}, [{"when": "^fds", "call": {"name": "fds"}}])
    batch = write_file("session.txt", "/start t fds\n/agent list\n")
    status, events, stderr = result = run(["--batch", batch], profile=path)
    eq(status, 0, "exit status")
    eq(stderr, "", "stderr")
    eq(len(journals(result.state_home)), 1, "journals (open while the function ran)")
    seen = one(events, "function.result")["result"]
    check("events.jsonl" not in seen, "the function inherited the journal:\n" + seen)
    check(batch not in seen, "the function inherited the --batch file:\n" + seen)
    own = subprocess.run(listing, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    expected = fd_table(own.stdout.decode("utf-8", "replace"))
    eq(sorted(expected.items())[:3], [(0, "pipe"), (1, "pipe"), (2, "pipe")], "the fds of our own child")
    eq(fd_table(seen), expected, "the function's fds (from: %s)" % seen)


# ---- (13) --help, --version, /help ---------------------------------------------


@test
def help_and_version_on_stdout():
    for opt in ("--help", "-h"):
        status, out, err = run_text([opt])
        eq(status, 0, "%s exit status" % opt)
        eq(err, "", "%s stderr" % opt)
        check(out.startswith("Usage: agentdeck"), "%s stdout does not start with the usage: %r" % (opt, out[:80]))
        for part in ("--batch", "--keep-going", "--deltas", "--offline-rate", "events.jsonl"):
            contains(out, part, "%s text" % opt)
    for opt in ("--version", "-V"):
        status, out, err = run_text([opt])
        eq(status, 0, "%s exit status" % opt)
        eq(err, "", "%s stderr" % opt)
        check(re.match(r"^agentdeck \d+\.\d+(\.\d+)?\S*\n$", out), "%s stdout: %r" % (opt, out))


@test
def help_command_is_an_event():
    status, events, stderr = run(["-c", "/help", "-c", "/help start", "-c", "/help /agent", "-c", "/help @"])
    eq(status, 0, "exit status")
    eq(types(events), ["help"] * 4, "event types")
    eq(events[3].get("topic"), "@", "/help @ topic")
    contains(events[3].get("text"), "@AGENT TEXT...", "/help @ text")
    check("topic" not in events[0], "/help has a topic")
    for cmd in ("/start", "/append", "/history", "/restart", "/agent", "/quit"):
        contains(events[0].get("text"), cmd, "/help text")
    eq(events[1].get("topic"), "start", "/help start topic")
    contains(events[1].get("text"), "/start AGENT TEXT...", "/help start text")
    eq(events[2].get("topic"), "agent", "/help /agent topic")
    contains(events[2].get("text"), "--handoff", "/help agent text")
    for ev in events:
        check(ev["text"].endswith("\n"), "help text does not end with a newline: %r" % ev["text"][-40:])


if __name__ == "__main__":
    lib.main()
