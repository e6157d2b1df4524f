#!/usr/bin/env python3
"""The debugger's views that explain what happened: /graph (the team's
handoffs, taken or not), /usage (tokens, requests and latency per agent),
/context (what a handoff's receiving agent was given) and /diff (two
entries side by side), offline and against the fake Mistral server."""

import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import lib  # noqa: E402
from lib import FakeMistral, check, contains, eq, of_type, one, run, test  # noqa: E402

SERVER = FakeMistral()
CHARGED = "/start cs Why was I charged twice?"
FANOUT = "/fanout conservative,aggressive Should we put 20% of the fund into AI stocks?"


def fresh():
    if SERVER.url is None and SERVER.start() is None:
        raise lib.Skip("no OpenAPI spec in ../shared: the fake Mistral server cannot run")
    SERVER.reset(script=lib.offline_script("support.json"))


def edges(graph):
    return {(e["from"], e["to"]): (e["count"], e["declared"]) for e in graph["edges"]}


@test
def graph_counts_the_handoffs_taken_and_draws_the_team():
    status, events, stderr = run(["-c", CHARGED, "-c", CHARGED, "-c", "/graph"], profile="support.json")
    eq(status, 0, "exit status")
    graph = one(events, "graph")
    eq(graph["agents"], ["cs", "technical", "billing", "sales"], "a node per agent, in the team's order")
    e = edges(graph)
    eq(e[("cs", "billing")], (2, True), "cs handed off to billing twice")
    eq(e[("cs", "sales")], (0, True), "a declared handoff never taken")
    eq(e[("billing", "cs")], (0, True), "billing may hand back to cs")
    check(all(x["last"] for x in graph["edges"] if x["count"]), "a taken edge says when it was last taken")
    check(all(x["last"] is None for x in graph["edges"] if not x["count"]), "an edge never taken has no time")
    text = graph["text"]
    contains(text, "\u256d\u2500\u2500\u2500\u2500\u256e", "a box drawn around cs")
    contains(text, "\u2502 cs \u2502\u2500\u252c\u2500\u25b6 technical", "cs's first edge leaves its box")
    contains(text, "billing    2\u00d7  last", "the billing edge, taken twice, with its recency")
    contains(text, "\u2514\u2500\u25b6 sales      never taken", "the last edge, never taken")


@test
def a_redirect_counts_where_the_conversation_went():
    status, events, stderr = run(["-c", "/break handoff", "-c", CHARGED, "-c", "/redirect sales", "-c", "/graph",
                                  "-c", "/context handoff_0002"], profile="support.json")
    eq(status, 0, "exit status")
    e = edges(one(events, "graph"))
    eq(e[("cs", "sales")], (1, True), "cs handed the conversation to sales, by the user's choice")
    eq(e[("cs", "billing")], (0, True), "the handoff to billing never happened")
    ctx = one(events, "context")
    eq((ctx["agent"], ctx["redirected_to"]), ("billing", "sales"), "the context of the handoff that was meant")
    contains(ctx["text"], "billing never got it", "the text says billing never got it")


@test
def graph_marks_a_handoff_the_team_does_not_declare():
    # technical's reply hands off with a HANDOFF: line, to billing, which is
    # not among technical's handoffs.
    status, events, stderr = run(["-c", "/start technical Why was I charged twice?", "-c", "/graph",
                                  "-c", "/context handoff_0003"], profile="support.json")
    eq(status, 0, "exit status")
    e = edges(one(events, "graph"))
    eq(e[("technical", "billing")], (1, False), "taken, though technical does not declare it")
    contains(one(events, "graph")["text"], "billing  1\u00d7  last just now  (not among its handoffs)", "marked")
    contains(one(events, "context")["text"], "from a HANDOFF: line", "who carried it out")


@test
def usage_counts_each_request_for_its_agent():
    status, events, stderr = run(["-c", CHARGED, "-c", "/start sales How much is Pro?", "-c", "/usage"],
                                 profile="support.json")
    eq(status, 0, "exit status")
    usage = one(events, "usage")
    rows = {a["agent"]: a for a in usage["agents"]}
    eq([a["agent"] for a in usage["agents"]], ["cs", "technical", "billing", "sales"], "a row per agent")
    eq((rows["cs"]["requests"], rows["cs"]["runs"]), (1, 0), "cs made one request and handed the run on")
    eq((rows["billing"]["requests"], rows["billing"]["runs"]), (1, 1), "billing answered and ended the run")
    eq((rows["sales"]["requests"], rows["sales"]["runs"]), (1, 1), "sales")
    eq(rows["technical"]["requests"], 0, "technical was never asked")
    eq(rows["technical"]["first_piece_mean_ms"], None, "no first piece without a request")
    runs_total = sum(e["usage"]["total_tokens"] for e in of_type(events, "run.done"))
    eq(usage["total"]["usage"]["total_tokens"], runs_total, "the per-agent tokens add up to the runs' tokens")
    eq(usage["total"]["requests"], 3, "three requests in all")
    check(all(a["latency_max_ms"] >= a["latency_mean_ms"] >= 0 for a in usage["agents"]), "latency figures")
    first_line = usage["text"].splitlines()[0].split()
    eq(first_line[:4], ["agent", "reqs", "runs", "errs"], "the table's heading")
    check(any(line.startswith("total ") for line in usage["text"].splitlines()), "a total row")


@test
def context_shows_what_the_receiving_agent_was_given():
    status, events, stderr = run(["-c", CHARGED, "-c", "/context handoff_0002"], profile="support.json")
    eq(status, 0, "exit status")
    ctx = one(events, "context")
    eq((ctx["previous_agent"], ctx["agent"], ctx["conversation"]), ("cs", "billing", "c1"), "who gave whom what")
    eq([e["type"] for e in ctx["entries"]], ["message.input", "agent.handoff"], "the conversation up to the handoff")
    eq(ctx["entries"][0]["content"], "Why was I charged twice?", "the user's question")
    contains(ctx["definition"]["instructions"], "billing specialist", "billing's instructions at that moment")
    contains(ctx["text"], "the conversation it was given, 2 entries", "the text says so")
    check(not any(e["type"] == "message.output" for e in ctx["entries"]), "nothing from after the handoff")


@test
def context_keeps_the_definition_the_agent_had_then():
    status, events, stderr = run(["-c", CHARGED, "-c", "/agent update billing --instructions \"Only say hello.\"",
                                  "-c", "/context handoff_0002"], profile="support.json")
    eq(status, 0, "exit status")
    contains(one(events, "context")["definition"]["instructions"], "billing specialist",
             "the instructions billing had when it was handed the conversation, not today's")


@test
def views_name_what_is_wrong():
    status, events, stderr = run(["--keep-going", "-c", CHARGED, "-c", "/context msg_0001", "-c", "/context nope",
                                  "-c", "/diff msg_0001 nope", "-c", "/diff msg_0001", "-c", "/graph extra"],
                                 profile="support.json")
    eq(status, 1, "exit status")
    eq([e["message"] for e in of_type(events, "error")],
       ["msg_0001 is a message.input, not a handoff: /context shows what a handoff's receiving agent was given",
        "no entry \"nope\" (/history lists a conversation's entries)",
        "no entry \"nope\" (/history lists a conversation's entries)",
        "/diff: missing argument (usage: /diff ENTRY ENTRY)",
        "/graph: too many arguments (usage: /graph)"], "each error names what is wrong")


@test
def edit_alone_needs_the_text_in_batch_mode():
    status, events, stderr = run(["--keep-going", "-c", "/step on", "-c", CHARGED, "-c", "/edit", "-c", "/abort"],
                                 profile="support.json")
    eq([e["message"] for e in of_type(events, "error")],
       ["/edit needs the new TEXT here (in the console, /edit alone opens $EDITOR)"], "the message")


@test
def diff_puts_two_fanout_answers_side_by_side():
    status, events, stderr = run(["-c", FANOUT, "-c", "/diff msg_0002 msg_0004"], profile="compete.json")
    eq(status, 0, "exit status")
    diff = one(events, "diff")
    outputs = {e["entry_id"]: e for e in of_type(events, "message.output")}
    eq((diff["left"]["agent"], diff["right"]["agent"]), ("conservative", "aggressive"), "the two analysts")
    eq(diff["left"]["text"], outputs["msg_0002"]["content"], "the left text is the first answer")
    eq(diff["right"]["text"], outputs["msg_0004"]["content"], "the right text is the second")
    eq((diff["same"], diff["changed"]), (0, 1), "one line each, and they differ")
    lines = diff["text"].splitlines()
    contains(lines[0], "msg_0002, conservative in c1", "the left heading")
    contains(lines[0], "msg_0004, aggressive in c2", "the right heading")
    check(all(len(line) <= 100 for line in lines), "the columns fit the width")
    check(any(" | " in line for line in lines[2:]), "the changed line is marked")


@test
def diff_aligns_the_lines_two_texts_share():
    status, events, stderr = run(["-c", "/start cs one\ntwo\nthree", "-c", "/start sales one\nTWO\nthree\nfour",
                                  "-c", "/diff msg_0001 msg_0003"], profile="support.json")
    eq(status, 0, "exit status")
    diff = one(events, "diff")
    eq((diff["same"], diff["changed"], diff["left_only"], diff["right_only"]), (2, 1, 0, 1), "aligned like diff -y")
    body = [line.split() for line in diff["text"].splitlines()[2:]]
    eq(body, [["one", "one"], ["two", "|", "TWO"], ["three", "three"], [">", "four"]], "the rows")


@test
def on_mistral_the_views_see_server_handoffs():
    fresh()
    status, events, stderr = SERVER.run(["-c", CHARGED], profile="support.json")
    handoff = one(events, "agent.handoff")  # the server names its entries
    fresh()
    status, events, stderr = SERVER.run(["-c", CHARGED, "-c", "/graph", "-c", "/usage",
                                         "-c", "/context " + handoff["entry_id"]], profile="support.json")
    eq(status, 0, "exit status")
    eq(edges(one(events, "graph"))[("cs", "billing")], (1, True), "the server's handoff is counted")
    rows = {a["agent"]: a for a in one(events, "usage")["agents"]}
    eq(rows["cs"]["requests"], 1, "one request, sent to cs; the server handed off inside it")
    check(rows["cs"]["usage"]["total_tokens"] > 0, "the server's token count")
    ctx = one(events, "context")
    eq((ctx["agent"], ctx["execution"]), ("billing", handoff["execution"]), "who carried the handoff out")
    eq(ctx["entries"][-1]["entry_id"], handoff["entry_id"], "up to the handoff")
    eq(SERVER.rejections(), [], "requests the fake server rejected as off-spec")


if __name__ == "__main__":
    try:
        lib.main()
    finally:
        SERVER.stop()
