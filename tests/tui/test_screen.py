#!/usr/bin/env python3
"""The console's screen, driven in tmux: start-up, the support handoff,
streaming while typing, focus, zoom and layouts, scrolling with -MORE(n)-,
the help overlay, the inspector, resizing, wide characters and hostile text."""

import os
import shutil
import tempfile
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tui  # noqa: E402
from tui import test, check, eq, Screen  # noqa: E402

SUPPORT = ["--profile", tui.profile("support.json")]


def title_row(s, name):
    """The row of the pane title that starts with name."""
    for i, l in enumerate(s.lines()):
        if l.startswith(" " + name + " ") or ("│ " + name + " ") in l:
            return i
    return None


@test
def start_up_screen_shows_every_agent_timeline_status_and_prompt():
    with Screen(SUPPORT) as s:
        text = s.wait_ready()
        for name in ("cs", "technical", "billing", "sales"):
            check(title_row(s, name) is not None, "a pane titled %s:\n%s" % (name, s.dump()))
        check("mistral-medium-latest" in text, "the model in the titles")
        check(text.count("idle") >= 4, "every agent idle:\n" + s.dump())
        check("timeline" in text and "notice" in text, "the timeline with the start-up notice")
        check("offline (scripted)" in text, "the backend in the status bar")
        check(s.lines()[-1].startswith("agentdeck>"), "the prompt on the last row")
        s.check_clean_exit()


@test
def a_decomposition_shows_as_a_tree_in_the_timeline():
    with Screen(["--profile", tui.profile("recursive.json"), "--offline-rate", "0"]) as s:
        s.wait_ready()
        s.send_line("/run migration_plan Plan the migration of billing from MySQL to PostgreSQL")
        s.wait_for("decompose done", "the pattern's end in the timeline")
        s.key("F3")
        s.key("F3")  # the timeline alone
        text = s.wait_for("timeline |", "the timeline-only layout")
        check("pattern p1   1.2 done" in text or "pattern p1   1.1 done" in text,
              "second-level nodes indented once:\n" + s.dump())
        check("pattern p1 1 done" in text, "the root not indented:\n" + s.dump())
        for line in s.lines():
            check(all(c >= " " for c in line), "no control characters on the screen: %r" % line)
        s.check_clean_exit()


@test
def step_mode_walks_the_handoff_one_request_at_a_time():
    with Screen(SUPPORT + ["--offline-rate", "0"]) as s:
        s.wait_ready()
        s.send_line("/step on")
        s.wait_for("STEP |", "step mode in the status bar")
        s.send_line("Why was I charged twice?")
        s.wait_for("step before cs's request", "stopped before cs's request")
        s.send_line("/edit I was charged three times")
        s.wait_for("edited before sending: I was charged three times", "the edit in cs's pane")
        s.send_line("/next")
        s.wait_for("step before billing's request", "stopped again before billing's")
        check("handed off" in s.text(), "the handoff is shown:\n" + s.dump())
        s.send_line("/next")
        s.wait_for("three times", "billing answers the edited question")
        s.check_clean_exit()


@test
def views_explain_the_handoff_graph_context_usage_and_diff():
    with Screen(SUPPORT + ["--offline-rate", "0"], width=80, height=24) as s:
        s.wait_ready()
        s.send_line("Why was I charged twice?")
        s.wait_for(lambda t: "done" in t and "r1 in" in t, "the run is done")
        s.send_line("/graph")
        s.wait_for("handoffs of the team", "the graph overlay")
        text = s.wait_for("└─▶ sales", "the whole drawing")
        check("│ cs │─┬─▶ technical  never taken" in text, "cs's box and its first edge:\n" + s.dump())
        check("├─▶ billing    1×  last" in text, "the edge taken once, with its recency:\n" + s.dump())
        s.key("Escape")
        s.wait_gone("handoffs of the team")
        s.send_line("/context handoff_0002")
        text = s.wait_for("the conversation it was given, 2 entries", "what billing was given")
        check("what billing was given at handoff_0002" in text, "the overlay's title:\n" + s.dump())
        check("you: Why was I charged twice?" in text, "the question billing got")
        s.key("Escape")
        s.wait_gone("what billing was given")
        s.send_line("/usage")
        text = s.wait_for("usage and latency per agent", "the usage table")
        check(any(line.split("│")[1].split()[:2] == ["billing", "1"] for line in s.lines() if line.count("│") >= 2),
              "billing's row:\n" + s.dump())
        s.key("Escape")
        s.wait_gone("usage and latency")
        s.send_line("/diff msg_0001 msg_0003")
        text = s.wait_for("msg_0001 and msg_0003 side by side", "the diff overlay")
        # Laid out for the overlay's width: both columns and the frame on each row.
        rows = [line for line in s.lines() if "│" in line and " | " in line]
        check(rows and all(line.rstrip().endswith("│") for line in rows), "the columns fit:\n" + s.dump())
        check("Why was I charged twice?" in text and "duplicate" in text, "both texts:\n" + s.dump())
        s.check_clean_exit()


@test
def edit_alone_opens_the_editor_on_the_pending_input():
    folder = tempfile.mkdtemp(prefix="agentdeck-editor-")
    editor = os.path.join(folder, "editor")
    with open(editor, "w") as f:
        # An editor that changes the text, and says it ran with the screen its own.
        f.write("#!/bin/sh\nsed -i 's/twice/three times/' \"$1\"\n")
    os.chmod(editor, 0o755)
    try:
        with Screen(SUPPORT + ["--offline-rate", "0"], env={"EDITOR": editor, "VISUAL": ""}) as s:
            s.wait_ready()
            s.send_line("/step on")
            s.send_line("Why was I charged twice?")
            s.wait_for("step before cs's request", "stopped before cs's request")
            s.send_line("/edit")
            s.wait_for("edited before sending: Why was I charged three", "the editor's change in cs's pane")
            s.send_line("/continue")
            s.wait_for("msg_0001 now: Why was I charged three times?", "the edit in the timeline")
            s.wait_for(lambda t: "r1 in" in t, "the run is done")
            s.check_clean_exit()
        with Screen(SUPPORT + ["--offline-rate", "0"], env={"EDITOR": "false", "VISUAL": ""}) as s:
            s.wait_ready()
            s.send_line("/step on")
            s.send_line("Why was I charged twice?")
            s.wait_for("step before cs's request", "stopped")
            s.send_line("/edit")
            s.wait_for("the editor (false) failed: nothing was changed", "a failed editor changes nothing")
            s.check_clean_exit()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@test
def support_question_hands_off_to_billing_who_answers_streaming():
    with Screen(SUPPORT) as s:
        s.wait_ready()
        s.send_line("Why was I charged twice?")
        s.wait_for("cs ⇢ billing", "the handoff in the timeline")
        s.wait_for("handed off ⇢ billing", "cs's state")
        s.wait_for(lambda t: "streaming" in t or "last four digits" in t, "billing streaming")
        s.wait_for(lambda t: "done" in t and "r1 in" in t, "run.done in the timeline")
        text = s.wait_for(lambda t: "digits" in t and "card?" in t, "billing's whole answer")
        check("handoff" in text, "a handoff row")
        # billing's answer is in billing's pane, below its title.
        row = title_row(s, "billing")
        check(row is not None and any("duplicate charge" in l for l in s.lines()[row:]),
              "the answer in billing's pane:\n" + s.dump())
        check("you: Why was I charged twice?" in text, "the question in cs's pane")
        s.check_clean_exit()


@test
def typing_is_not_blocked_by_streaming():
    with Screen(SUPPORT + ["--offline-rate", "4"]) as s:
        s.wait_ready()
        s.send_line("Why was I charged twice?")
        s.wait_for(lambda t: "streaming" in t, "billing streaming")
        before = s.text().count("piece")
        s.type("a question typed meanwhile")
        text = s.wait_for("agentdeck> a question typed meanwhile", "the typed text echoed")
        check("streaming" in text, "still streaming while the text was echoed:\n" + s.dump())
        # The stream goes on under the typed line.
        s.wait_for(lambda t: "pieces" in t and t != text, "more pieces")
        check(before >= 0, "")
        s.key("C-c")  # cancel the run, so that the test ends fast
        s.wait_for("cancelled with Ctrl-C", "the cancellation")
        s.key("C-u")
        s.wait_for(lambda t: s.lines()[-1] == "agentdeck>", "the line emptied")
        s.check_clean_exit()


@test
def agents_created_and_deleted_get_and_lose_a_pane():
    with Screen(SUPPORT, width=140, height=40) as s:
        s.wait_ready()
        s.send_line("/agent create auditor --model small-model --handoff cs")
        s.wait_for(lambda t: title_row(s, "auditor") is not None and "small-model" in t, "auditor's pane")
        for name in ("cs", "technical", "billing", "sales"):
            check(title_row(s, name) is not None, "%s still shown:\n%s" % (name, s.dump()))
        s.send_line("/agent delete auditor")
        s.wait_for(lambda t: title_row(s, "auditor") is None, "auditor's pane gone")
        s.send_line("/frobnicate")
        s.wait_for("unknown command /frobnicate", "a command's error in the status bar")
        s.check_clean_exit()


@test
def focus_moves_zoom_and_layouts_switch():
    with Screen(SUPPORT) as s:
        s.wait_ready()
        s.key("Tab")  # cs -> technical
        s.key("F4")
        text = s.wait_for(lambda t: "zoom grid" in t, "zoom in the status bar")
        check(title_row(s, "technical") == 0 and title_row(s, "cs") is None,
              "technical alone on screen:\n" + s.dump())
        s.key("F4")
        s.wait_for(lambda t: title_row(s, "cs") is not None, "the grid back")
        s.key("BTab")  # back to cs
        s.key("F3")
        text = s.wait_for(" focus | F1", "the focus layout")
        check(title_row(s, "cs") == 0 and title_row(s, "billing") is None and "timeline" in text,
              "cs and the timeline only:\n" + s.dump())
        s.key("F3")
        text = s.wait_for(" timeline | F1", "the timeline layout")
        check(title_row(s, "cs") is None and s.lines()[0].startswith(" timeline"),
              "the timeline alone:\n" + s.dump())
        s.key("F3")
        s.wait_for(" grid | F1", "the grid again")
        s.wait_for(lambda t: all(title_row(s, n) is not None for n in ("cs", "technical", "billing", "sales")),
                   "every pane")
        s.check_clean_exit()


@test
def scrolling_up_shows_more_and_the_bottom_follows_again():
    path = tui.long_profile(words=600)
    with Screen(["--profile", path, "--offline-rate", "0"], width=100, height=30) as s:
        s.wait_ready()
        s.send_line("talk to me")
        s.wait_for("THE-END", "the end of the long answer")
        s.key("PPage")
        text = s.wait_for("-MORE(", "the -MORE(n)- mark")
        check("THE-END" not in text, "scrolled away from the end")
        n1 = int(text.split("-MORE(")[1].split(")")[0])

        def more(t):
            return int(t.split("-MORE(")[1].split(")")[0]) if "-MORE(" in t else 0

        s.key("PPage")
        # The screen may change before the count does (a frame drawn in parts): wait for the count.
        text2 = s.wait_for(lambda t: more(t) > n1, "scrolled further than %d lines" % n1)
        check(more(text2) > n1 > 0, "more lines below after a second page: %d then %d" % (n1, more(text2)))
        s.key("NPage")
        s.key("NPage")
        s.key("NPage")
        text = s.wait_gone("-MORE(", "following the tail again")
        check("THE-END" in text, "the end shown again")
        # The mouse wheel scrolls the pane under the pointer (SGR report, wheel up at column 10, row 5).
        s.raw(b"\x1b[<64;10;5M")
        s.wait_for("-MORE(", "the wheel scrolled up")
        s.raw(b"\x1b[<65;10;5M" * 20)
        s.wait_gone("-MORE(", "the wheel back down")
        s.check_clean_exit()


@test
def help_overlay_lists_commands_and_keys():
    # Tall enough for the commands and every key at once.
    with Screen(SUPPORT, height=70) as s:
        s.wait_ready()
        s.key("F1")
        parts = ("Keys:", "/start AGENT TEXT...", "/theme", "PgUp, PgDn", "Shift-Tab", "Alt-Enter", "Ctrl-C")
        # A slow run may be caught between the rows of one frame: wait for all of them.
        text = s.wait_for(lambda t: all(p in t for p in parts), "the help overlay with the commands and keys")
        # Every key of the help is documented in doc/keys.md.
        with open(tui.lib.srcpath("doc", "keys.md"), encoding="utf-8") as f:
            doc = f.read()
        keys = text.split("Keys:", 1)[1].split("\n")
        checked = 0
        for line in keys[1:]:
            # The overlay's frame starts at column 2: what is left of it is a pane behind.
            if line[2:3] != "│":
                break
            inner = line[3:].rstrip().rstrip("│").strip()
            if not inner:
                continue
            key = inner.split("  ")[0].strip()
            check("| %s |" % key in doc, "key %r of the help overlay documented in doc/keys.md" % key)
            checked += 1
        check(checked >= 15, "the keys read from the overlay: %d" % checked)
        s.key("Escape")
        s.wait_gone("Keys:", "the overlay closed")
        s.send_line("/help")
        s.wait_for("Keys:", "/help opens it too")
        s.key("Escape")
        s.wait_gone("Keys:")
        s.send_line("/help start")
        s.wait_for("start a new conversation with AGENT", "/help start")
        s.key("Escape")
        s.wait_gone("start a new conversation with AGENT")
        s.check_clean_exit()


@test
def tool_calls_are_folded_and_open_on_a_click_or_f2():
    with Screen(["--profile", tui.profile("finance.json"), "--offline-rate", "0"], width=100, height=30) as s:
        s.wait_ready()
        s.send_line("What was the ECB interest rate in 2023?")
        text = s.wait_for("r1 in", "the run done")
        check("▸ call get_interest_rate" in text and "▸ result" in text, "folded call and result:\n" + s.dump())
        row = s.row_of("▸ call get_interest_rate")
        col = s.lines()[row].index("▸ call")
        # A click (SGR report, 1-based column and row) opens it.
        s.raw(b"\x1b[<0;%d;%dM\x1b[<0;%d;%dm" % (col + 2, row + 1, col + 2, row + 1))
        text = s.wait_for("▾ call get_interest_rate", "the call opened")
        check("▸ result" in text, "the result still folded")
        s.key("F2")
        text = s.wait_for("▾ result", "F2 opened every fold")
        check('"rate":' in text, "the result's text shown:\n" + s.dump())
        s.key("F2")
        s.wait_for(lambda t: "▸ call" in t and "▸ result" in t, "F2 again closed them")
        s.check_clean_exit()


@test
def enter_on_a_timeline_event_opens_the_inspector():
    with Screen(SUPPORT + ["--offline-rate", "0"]) as s:
        s.wait_ready()
        s.send_line("Why was I charged twice?")
        s.wait_for("r1 in", "the run done")
        s.key("BTab")  # the timeline comes after the last pane
        s.wait_for("Enter inspects", "the timeline focused")
        # From the newest (done) up to the handoff (reply, stream, handoff),
        # inspecting each row on the way: a slow run may add a row.
        text = ""
        for _ in range(6):
            s.key("Up")
            s.key("Enter")
            text = s.wait_for('"type": "', "the inspector with the raw event")
            if '"type": "agent.handoff"' in text:
                break
            s.key("Escape")
            s.wait_gone('"type": "')
        check('"type": "agent.handoff"' in text, "the handoff row reached:\n" + s.dump())
        check('"next_agent": "billing"' in text and '"previous_agent": "cs"' in text, "the event's fields")
        s.key("Escape")
        s.wait_gone('"type": "agent.handoff"')
        s.check_clean_exit()


@test
def resize_keeps_working_and_too_small_says_so():
    path = tui.long_profile(words=600)
    with Screen(["--profile", path, "--offline-rate", "0"], width=120, height=40) as s:
        s.wait_ready()
        s.send_line("talk to me")
        s.wait_for("THE-END")
        s.key("PPage")
        s.wait_for("-MORE(")
        s.resize(80, 24)
        s.wait_for(lambda t: len(s.lines()) == 24 and "-MORE(" in t and s.lines()[-1].startswith("agentdeck>"),
                   "80x24 with the scroll position kept")
        s.resize(40, 10)
        s.wait_for("Terminal too small", "the too-small notice")
        s.resize(100, 30)
        text = s.wait_for(lambda t: "talker" in t and "Terminal too small" not in t, "the console back")
        check("-MORE(" in text, "still scrolled up after the resizes:\n" + s.dump())
        s.check_clean_exit()


@test
def wide_characters_align_and_are_never_split():
    text = ("世界你好 こんにちは 😀🎉 e\u0301 café naïve " * 12).strip()
    path = tui.write_profile({"agents": [
        {"name": "wide", "model": "m", "offline": [{"say": text}]},
        {"name": "other", "model": "m", "offline": [{"say": "ok"}]}]})
    with Screen(["--profile", path, "--offline-rate", "0"], width=81, height=24) as s:
        s.wait_ready()
        s.send_line("hi")
        s.wait_for("r1 in", "the answer")
        lines = s.lines()
        # The pane separator stays in one column on every row of the grid.
        cols = set()
        for l in lines[:8]:
            if "│" in l:
                prefix = l[:l.index("│")]
                # Display columns of the prefix: wide characters count 2.
                import unicodedata
                width = sum(0 if unicodedata.combining(ch) else
                            2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in prefix)
                cols.add(width)
        eq(len(cols), 1, "the separator's columns %s; the screen:\n%s" % (sorted(cols), s.dump()))
        check("世界你好" in s.text() and "😀" in s.text(), "the wide text shown")
        check("\ufffd" not in s.text(), "no character replaced")
        s.check_clean_exit()


@test
def hostile_reply_shows_as_harmless_text():
    evil = ("A\u001b[2JB\u001b]52;c;SGVsbG8=\u0007C\u0007D\rE\bF\u009b31mG\u202eH\u0085I\u001b[1;1Hend")
    path = tui.write_profile({"agents": [
        {"name": "evil", "model": "m", "offline": [{"say": evil}]},
        {"name": "bystander", "model": "m", "offline": [{"say": "ok"}]}]})
    with Screen(["--profile", path, "--offline-rate", "0"]) as s:
        s.wait_ready()
        s.send_line("hi")
        text = s.wait_for("r1 in", "the answer")
        check("A^[[2JB^[]52;c;SGVsbG8=^GC^GD^ME^HF<U+009B>31mG<U+202E>H<U+0085>I^[[1;1Hend" in text,
              "the reply as visible text:\n" + s.dump())
        # The screen is intact: titles where they were, the prompt last, nothing cleared.
        check(title_row(s, "evil") == 0 and title_row(s, "bystander") is not None, "the titles:\n" + s.dump())
        check(s.lines()[-1].startswith("agentdeck>"), "the prompt on the last row")
        check("you: hi" in text, "the question still on screen")
        # OSC 52 reached no clipboard: tmux made no paste buffer of it.
        eq(s._tmux("list-buffers", check_status=False).strip(), "", "tmux's paste buffers")
        eq(s.display("#{alternate_on}"), "1", "still on the alternate screen")
        s.check_clean_exit()


if __name__ == "__main__":
    tui.main()
