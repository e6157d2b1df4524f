#!/usr/bin/env python3
"""The console's command line and keys, driven in tmux: history kept
across runs, Tab completion from the command table, vi mode from
~/.inputrc, Alt-Enter and bracketed paste, Ctrl-C cancelling and quitting,
the terminal given back, themes, and the theme and keys of config.json."""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tui  # noqa: E402
from tui import test, check, eq, Screen  # noqa: E402

SUPPORT = ["--profile", tui.profile("support.json")]


def prompt_line(s):
    return s.lines()[-1]


@test
def history_is_kept_across_runs():
    state = tui.lib.tmpdir("state")
    with Screen(SUPPORT, state_home=state) as s:
        s.wait_ready()
        s.send_line("/agent list")
        s.wait_for("hands off to", "the agent list")
        s.key("Escape")
        s.wait_gone("hands off to")
        s.check_clean_exit()
    path = os.path.join(state, "agentdeck", "history")
    with open(path) as f:
        eq(f.read().split("\n")[-3:], ["/agent list", "/quit", ""], "the history file")
    eq(os.stat(path).st_mode & 0o777, 0o600, "the history file's mode")
    with Screen(SUPPORT, state_home=state) as s:
        s.wait_ready()
        s.key("Up")
        s.wait_for(lambda t: prompt_line(s) == "agentdeck> /quit", "the last line back")
        s.key("Up")
        s.wait_for(lambda t: prompt_line(s) == "agentdeck> /agent list", "the one before")
        s.key("C-u")
        s.check_clean_exit()


@test
def tab_completes_commands_flags_agents_and_entry_ids():
    with Screen(SUPPORT + ["--offline-rate", "0"]) as s:
        s.wait_ready()
        cases = [("/hist", "/history "), ("/agent sh", "/agent show "), ("/agent show bil", "/agent show billing "),
                 ("/start te", "/start technical "), ("@sa", "@sales "),
                 ("/agent create x --hand", "/agent create x --handoff "),
                 ("/agent update cs --handoff sa", "/agent update cs --handoff sales "),
                 ("/theme hig", "/theme high-contrast "), ("/help res", "/help restart ")]
        for typed, completed in cases:
            s.type(typed)
            s.key("Tab")
            s.wait_for(lambda t: prompt_line(s) == "agentdeck> " + completed.rstrip()
                       or prompt_line(s) == "agentdeck> " + completed,
                       "%r completed to %r" % (typed, completed))
            s.key("C-u")
            s.wait_for(lambda t: prompt_line(s) == "agentdeck>")
        # Entry ids, once there are entries: two matches are listed in the status bar.
        s.send_line("Why was I charged twice?")
        s.wait_for("r1 in")
        s.type("/restart msg_000")
        s.key("Tab")
        s.key("Tab")
        s.wait_for(lambda t: "msg_0001  msg_0003" in t, "the matching entry ids listed")
        s.key("C-u")
        s.type("/restart hand")
        s.key("Tab")
        s.wait_for(lambda t: prompt_line(s) == "agentdeck> /restart handoff_0002", "an entry id completed")
        s.key("C-u")
        s.check_clean_exit()


@test
def tab_on_an_empty_line_moves_the_focus():
    with Screen(SUPPORT) as s:
        s.wait_ready()
        for _ in range(4):
            s.key("Tab")
        s.wait_for("Enter inspects", "the timeline focused after the four panes")
        s.key("Tab")
        s.wait_gone("Enter inspects", "back to the first pane")
        s.check_clean_exit()


@test
def vi_mode_from_inputrc():
    inputrc = tui.lib.write_file("inputrc", "set editing-mode vi\n")
    with Screen(SUPPORT, env={"INPUTRC": inputrc}) as s:
        s.wait_ready()
        s.type("hello world")
        s.key("Escape")
        s.wait_for(lambda t: prompt_line(s) == "agentdeck> hello world")
        s.type("0x")
        s.wait_for(lambda t: prompt_line(s) == "agentdeck> ello world", "vi's 0 and x")
        s.type("dd")
        s.wait_for(lambda t: prompt_line(s) == "agentdeck>", "vi's dd")
        s.type("i")
        s.check_clean_exit()


@test
def alt_enter_and_pasted_newlines_stay_in_the_line():
    with Screen(SUPPORT) as s:
        s.wait_ready()
        s.type("first")
        s.key("M-Enter")
        s.type("second")
        s.wait_for(lambda t: prompt_line(s) == "agentdeck> first↵second", "a newline in the line")
        s.key("C-u")
        s.wait_for(lambda t: prompt_line(s) == "agentdeck>")
        s.raw(b"\x1b[200~pasted one\r\npasted two\r\x1b[201~")
        s.wait_for(lambda t: prompt_line(s) == "agentdeck> pasted one↵pasted two↵", "the paste in the line")
        check("input" not in s.text().split("timeline", 1)[1], "nothing was sent:\n" + s.dump())
        # Enter sends it, newlines and all, as one message.
        s.key("BSpace")
        s.key("Enter")
        s.wait_for("you: pasted one", "the message sent")
        s.check_clean_exit()


@test
def ctrl_c_cancels_runs_then_twice_quits_and_gives_the_terminal_back():
    with Screen(SUPPORT + ["--offline-rate", "5"]) as s:
        s.wait_ready()
        s.send_line("Why was I charged twice?")
        s.wait_for("streaming", "billing streaming")
        s.key("C-c")
        text = s.wait_for("cancelled with Ctrl-C", "the run cancelled")
        check("cancel" in text and "| 0 runs" in text, "no run left:\n" + s.dump())
        s.wait_gone("streaming", "no pane streaming")
        s.key("C-c")
        s.wait_for("Ctrl-C again to quit", "the warning")
        # Two in a row (within 2 s, even under valgrind) leave.
        status = s.quit(how=("C-c", "C-c"))
        eq(status, 0, "exit status")
        eq(s.display("#{alternate_on}"), "0", "the alternate screen left")
        eq(s.display("#{mouse_any_flag}"), "0", "mouse reports off")
        eq(s.display("#{cursor_flag}"), "1", "the cursor shown")
        with open(s.stty_path) as f:
            stty = f.read().split()
        for flag in ("icanon", "echo", "isig", "icrnl", "opost"):
            check(flag in stty and "-" + flag not in stty, "stty %s after the exit: %s" % (flag, " ".join(stty)))


@test
def slash_quit_gives_the_terminal_back():
    with Screen(SUPPORT) as s:
        s.wait_ready()
        s.check_clean_exit()
        eq(s.display("#{alternate_on}"), "0", "the alternate screen left")
        eq(s.display("#{mouse_any_flag}"), "0", "mouse reports off")


@test
def themes_switch_and_a_bad_file_says_which_key():
    bad = tui.lib.write_file("bad.json", json.dumps({"styles": {"handoff": {"fg": "purplish"}}}))
    with Screen(SUPPORT + ["--theme", bad]) as s:
        s.wait_ready()
        text = s.wait_for("styles.handoff.fg", "the error naming the key")
        check(bad in text or os.path.basename(bad) in text, "the path in the message:\n" + s.dump())
        check("Using the default theme" in text, "the fallback said:\n" + s.dump())
        s.send_line("/theme light")
        s.wait_for("theme: light", "the theme switched")
        s.send_line("/theme nosuch")
        s.wait_for('no theme named "nosuch"', "an unknown theme")
        s.check_clean_exit()
    with Screen(SUPPORT + ["--theme", "mono"], env={"NO_COLOR": "1"}) as s:
        s.wait_ready()
        s.send_line("Why was I charged twice?")
        s.wait_for("cs ⇢ billing")
        s.check_clean_exit()


@test
def config_file_sets_the_theme_and_the_keys_and_export_answers():
    home = tui.lib.tmpdir("home")
    os.makedirs(os.path.join(home, ".config", "agentdeck"))
    with open(os.path.join(home, ".config", "agentdeck", "config.json"), "w") as f:
        json.dump({"theme": "light", "keys": {"help": "F5", "toggle-folds": "none", "zoom": "Ctrl-G"}}, f)
    with Screen(SUPPORT, home=home, height=70) as s:
        s.wait_ready()
        s.wait_for("F5 help", "the status bar names the help's key")
        s.wait_for("F5 for help", "the welcome names it too")
        s.send_line("/theme")
        s.wait_for("theme: light", "the theme of the file")
        # F1 is free now: it opens nothing. The x typed after it shows that it was read.
        s.key("F1")
        s.type("x")
        text = s.wait_for(lambda t: prompt_line(s) == "agentdeck> x", "the x after F1")
        check("Keys:" not in text, "F1 opened nothing:\n" + s.dump())
        s.key("BSpace")
        s.key("F5")
        text = s.wait_for("Keys:", "F5 opens the help")
        check(any(l.strip("│ ").startswith("F5 ") for l in text.split("\n")), "the help shows F5:\n" + text)
        s.key("Escape")
        s.wait_gone("Keys:")
        s.key("C-g")
        s.wait_for("zoom grid", "Ctrl-G zooms")
        s.send_line("/export md out.md")
        s.wait_for("exported md to out.md", "the export said")
        with open(os.path.join(s.dir, "out.md"), encoding="utf-8") as f:
            check(f.read().startswith("# agentdeck session "), "the transcript written in the console's folder")
        s.check_clean_exit()


@test
def eight_colour_terminal_works():
    with Screen(SUPPORT, env={"TERM": "screen"}) as s:
        s.wait_ready()
        s.send_line("/theme light")
        s.wait_for("theme: light")
        s.check_clean_exit()


if __name__ == "__main__":
    tui.main()
