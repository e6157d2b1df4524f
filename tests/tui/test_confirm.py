#!/usr/bin/env python3
"""A function call that asks before it runs, in the console: the status bar
shows the call and the keys, and y (allow once), a (allow always) and n
(deny) on an empty command line answer it."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tui  # noqa: E402
from tui import test, check, Screen  # noqa: E402

PROMPT = "y allow once · a always · n deny"


def stamp_profile():
    """Agent t calls stamp(word) for "stamp WORD", which leaves a file named
    after the word in a folder (so the test sees whether it ran)."""
    folder = tui.lib.tmpdir("stamps")
    path = tui.write_profile({
        "functions": {"stamp": {"command": [
            "sh", "-c", 'a=$(cat); w=${a#*\\"word\\":\\"}; touch "$0/${w%%\\"*}"; echo "$a"', folder]}},
        "agents": [{"name": "t", "tools": [{"type": "function", "function": {"name": "stamp"}}],
                    "offline": [{"when": "^The user denied", "say": "Not stamped."},
                                {"when": "^\\{", "say": "Stamped {input}."},
                                {"when": "^stamp (.*)", "call": {"name": "stamp", "arguments": {"word": "{1}"}}}]}],
    })
    return path, folder


@test
def y_a_and_n_answer_a_call_that_waits():
    path, folder = stamp_profile()
    with Screen(["--profile", path, "--offline-rate", "0"]) as s:
        s.wait_ready()
        s.send_line("stamp one")
        text = s.wait_for(PROMPT, "the call and the keys in the status bar")
        check('t wants to run stamp {"word":"one"}' in text, "what waits:\n" + s.dump())
        check("stamp waits: y allow once" in text, "the notice in t's pane:\n" + s.dump())
        check(os.listdir(folder) == [], "nothing ran yet")
        s.key("y")
        s.wait_for('Stamped {"word":"one"}.', "the answer after the call ran")
        s.wait_gone(PROMPT, "the prompt to go")
        check(os.listdir(folder) == ["one"], "the function ran once")
        check(s.lines()[-1] == "agentdeck>", "the y did not reach the command line: %r" % s.lines()[-1])

        s.send_line("stamp two")
        s.wait_for(PROMPT, "the second call waits too (allowed once only)")
        s.key("n")
        s.wait_for("Not stamped.", "the answer without the call")
        check("denied stamp" in s.text(), "the answer in t's pane:\n" + s.dump())
        check("answer  deny stamp" in s.text() or "deny stamp of" in s.text(), "in the timeline:\n" + s.dump())
        check(sorted(os.listdir(folder)) == ["one"], "the denied call did not run")

        s.send_line("stamp three")
        s.wait_for(PROMPT, "the third call waits")
        s.key("a")
        s.wait_for('Stamped {"word":"three"}.', "allowed always")
        check("allowed stamp, from now on" in s.text(), "the answer in t's pane:\n" + s.dump())
        s.send_line("stamp four")
        s.wait_for('Stamped {"word":"four"}.', "the next call runs without asking")
        check(sorted(os.listdir(folder)) == ["four", "one", "three"], "what ran: %s" % os.listdir(folder))
        s.check_clean_exit()


@test
def keys_type_as_usual_once_the_line_has_text():
    path, folder = stamp_profile()
    with Screen(["--profile", path, "--offline-rate", "0"]) as s:
        s.wait_ready()
        s.send_line("stamp one")
        s.wait_for(PROMPT, "the prompt")
        s.type("/deny an")
        s.wait_for(lambda t: s.lines()[-1] == "agentdeck> /deny an", "the letters typed into the line")
        s.key("C-u")
        s.send_line("/allow")
        s.wait_for('Stamped {"word":"one"}.', "/allow answers too")
        s.check_clean_exit()


if __name__ == "__main__":
    tui.main()
