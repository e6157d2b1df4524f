#!/usr/bin/env python3
"""MCP servers in the console, driven in tmux: a server that cannot start is
one clear message and the rest keeps working; a question typed while the
server starts waits for it, and the call's progress shows in the pane."""

import json
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tui  # noqa: E402
from tui import test, check, Screen, Skip  # noqa: E402

EVERYTHING = tui.lib.srcpath("tests", "mcp", "node_modules", "@modelcontextprotocol", "server-everything", "dist",
                             "index.js")
RULES = [
    {"when": "^Long running operation completed", "say": "The long operation finished."},
    {"when": "^slow", "call": {"name": "everything__trigger-long-running-operation",
                               "arguments": {"duration": 20, "steps": 20}}},
    {"say": "I can wait."},
]


def mcp_profile(server):
    return ["--profile", tui.write_profile({
        "mcp": [dict({"name": "everything"}, **server)],
        "agents": [{"name": "calc", "tools": [{"type": "mcp", "server": "everything"}], "offline": RULES},
                   {"name": "plain", "offline": [{"say": "Hello without tools."}]}],
    })]


@test
def a_server_that_cannot_start_leaves_the_console_working():
    with Screen(mcp_profile({"command": ["/nonexistent/mcp-server"]})) as s:
        s.wait_ready()
        text = s.wait_for("MCP server everything could not start", "the error on screen")
        check("No such file or directory" in text, "why:\n" + s.dump())
        s.send_line("@plain hi")
        s.wait_for("Hello without tools.", "another agent's answer")
        s.send_line("/mcp list")
        s.wait_for("it could not start: cannot run /nonexistent/mcp-server", "/mcp list in the overlay")
        s.key("Escape")
        s.wait_gone("MCP servers", "the overlay to close")
        s.check_clean_exit()


def journal_events(state_home):
    paths = tui.lib.journals(state_home)
    check(len(paths) == 1, "one journal: %s" % paths)
    with open(paths[0], encoding="utf-8") as f:
        return [json.loads(line) for line in f]


@test
def a_question_typed_while_the_server_starts_waits_for_it():
    if not os.path.isfile(EVERYTHING) or not shutil.which("node"):
        raise Skip("node or the reference MCP server is missing (see doc/mcp.md#testing)")
    # A server that takes two seconds to come up, so the question comes first.
    slow_start = {"command": ["sh", "-c", 'sleep 2; exec node "$0" stdio', EVERYTHING]}
    with Screen(mcp_profile(slow_start)) as s:
        s.wait_ready()
        s.send_line("@calc slow")
        s.wait_for(lambda t: "progress " in t and "/20" in t, "progress in calc's pane", timeout=30)
        text = s.wait_for("trigger-long-running-operation", "the call in the pane")
        check("everything ready (stdio" in text, "the server in the timeline:\n" + s.dump())
        s.check_clean_exit()
        events = journal_events(s.state_home)
    seq = {}
    for e in events:
        seq.setdefault(e["type"], e["seq"])
    check(seq["run.started"] < seq["mcp.started"] < seq["function.call"],
          "the run waited for the server: %s" % [(e["seq"], e["type"]) for e in events][:12])


if __name__ == "__main__":
    tui.lib.main()
