#!/usr/bin/env python3
"""Replay and resume in the console, driven in tmux: a demo recorded once
replays with no network and no key and ends on the same screen as the
original (panes and timeline rows); Space, n, + and - drive the player;
commands that would change the session are refused while those that look
work; a console killed with SIGKILL comes back with --resume and /retry
finishes the reply it was streaming."""

import os
import re
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tui  # noqa: E402
from tui import test, check, eq, Screen  # noqa: E402

import lib  # noqa: E402

SUPPORT = ["--profile", tui.profile("support.json")]
PLAYER = re.compile(r"REPLAY (paused )?([\d.]+)x (\d+)/(\d+) \|")


def record_demo(state_home):
    """The support demo in the console: a handoff to billing, then sales.
    Returns the last screen's lines."""
    with Screen(SUPPORT + ["--offline-rate", "400"], state_home=state_home) as s:
        s.wait_ready()
        s.send_line("Why was I charged twice?")
        s.wait_for("r1 in ", "the first run done in the timeline")
        s.send_line("@sales How much is Pro?")
        s.wait_for("r2 in ", "the second run done in the timeline")
        # The status bar's message goes; the screen settles.
        s.wait_for(lambda t: "Type a message" not in t, "the start-up message gone", timeout=15)
        lines = s.lines()
        s.check_clean_exit()
    return lines


def comparable(lines):
    """The panes and the timeline: every row but the start-up notice (its
    time is when the console started), the status bar and the prompt."""
    return [l for l in lines[:-2] if "notice  agentdeck " not in l]


def player(s):
    m = PLAYER.search(s.text())
    check(m, "the player in the status bar:\n" + s.dump())
    return bool(m.group(1)), float(m.group(2)), int(m.group(3)), int(m.group(4))


@test
def a_replay_ends_on_the_same_screen_as_the_original():
    state = lib.tmpdir("state")
    original = record_demo(state)
    with Screen(["--replay", os.path.basename(os.path.dirname(lib.journals(state)[0])), "--speed", "1000"],
                state_home=state) as s:
        s.wait_for("REPLAY done", "the replay to end", timeout=20)
        s.wait_for("The replay is over", "the message that says so")
        replayed = s.lines()
        eq(comparable(replayed), comparable(original), "the panes and the timeline")
        s.wait_for("offline (scripted) | c1 with sales", "no network: the offline backend stands by", timeout=15)
        s.check_clean_exit()
    eq(len(lib.journals(state)), 1, "the replay wrote no journal")


@test
def space_pauses_n_steps_and_plus_minus_change_the_speed():
    state = lib.tmpdir("state")
    record_demo(state)
    with Screen(["--replay", lib.journals(state)[0], "--speed", "0.125"], state_home=state) as s:
        s.wait_for("REPLAY", "the player in the status bar")
        s.type(" ")
        s.wait_for("REPLAY paused", "paused")
        paused, speed, at, total = player(s)
        eq(speed, 0.125, "the speed given")
        s.type("n")
        s.wait_for("REPLAY paused 0.125x %d/%d" % (at + 1, total), "one event more")
        s.type("n")
        s.wait_for("REPLAY paused 0.125x %d/%d" % (at + 2, total), "and one more")
        time.sleep(0.3 * tui.SLOW)  # paused: nothing plays meanwhile
        eq(player(s)[2], at + 2, "nothing played while paused")
        s.type("++++")
        s.wait_for("REPLAY paused 2x", "four times faster: 2x")
        s.type("-")
        s.wait_for("REPLAY paused 1x", "then half as fast")
        for _ in range(14):
            s.type("+")
        s.wait_for("REPLAY paused 1000x", "never faster than 1000x")
        s.type(" ")
        s.wait_for("REPLAY done", "it plays to the end", timeout=20)
        s.check_clean_exit()


@test
def a_replay_refuses_what_would_change_the_session_and_lets_you_look():
    state = lib.tmpdir("state")
    record_demo(state)
    with Screen(["--replay", lib.journals(state)[0], "--speed", "1000"], state_home=state) as s:
        s.wait_for("REPLAY done", "the replay to end", timeout=20)
        s.send_line("/start cs hello")
        s.wait_for("/start would change the session", "/start refused")
        s.send_line("thanks!")
        s.wait_for("text would change the session", "plain text refused")
        s.send_line("/history c1")
        s.wait_for("history of c1, held by sales", "/history shows the replayed conversation")
        check("How much is Pro?" in s.text(), "with its entries:\n" + s.dump())
        s.key("Escape")
        s.check_clean_exit()


def child_of(pid):
    """The process whose parent is pid (agentdeck, under the shell of the tmux pane)."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            return int(entry)
    return None


@test
def a_console_killed_mid_reply_resumes_and_retry_finishes_it():
    state = lib.tmpdir("state")
    with Screen(SUPPORT + ["--offline-rate", "10"], state_home=state) as s:
        s.wait_ready()
        s.send_line("Why was I charged twice?")
        s.wait_for("streaming", "billing streaming")
        agentdeck = child_of(int(s.display("#{pane_pid}")))
        check(agentdeck, "agentdeck's process")
        os.kill(agentdeck, signal.SIGKILL)
        s.wait_for("agentdeck exited with status 137", "agentdeck killed")
    with Screen(["--resume", "--offline-rate", "400"], state_home=state) as s:
        s.wait_for("/retry goes on", "the resumed session says what was cut off")
        text = s.wait_for("interrupted when agentdeck stopped", "the cut run in billing's pane")
        check("you: Why was I charged twice?" in text, "cs's pane as it was:\n" + s.dump())
        check("was in flight when agentdeck stopped" in text, "the timeline row:\n" + s.dump())
        s.send_line("/retry")
        s.wait_for("four digits of the card?", "billing's whole reply")
        s.wait_for("going on with r1", "the retry in the timeline")
        s.check_clean_exit()


if __name__ == "__main__":
    tui.main()
