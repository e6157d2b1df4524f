#!/usr/bin/env python3
"""The console's raw view: /raw opens a run's HTTP exchanges in an overlay,
against the fake Mistral server, with the key redacted; offline it says why
there is nothing to show."""

import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import tui  # noqa: E402
from tui import Screen, check, test  # noqa: E402

lib = tui.lib
SECRET = "sk-test-SECRET-tui-51e0d2"


class Server(lib.FakeMistral):
    KEY = SECRET


SERVER = Server()


@test
def raw_opens_the_exchange_in_an_overlay_without_the_key():
    SERVER.reset(script=lib.offline_script("support.json"))
    args = ["--backend", "mistral", "--base-url", SERVER.url, "--profile", tui.profile("support.json")]
    with Screen(args, height=50, env={"MISTRAL_API_KEY": SECRET}) as s:
        s.wait_ready()
        s.send_line("/start cs Why was I charged twice?")
        s.wait_for("duplicate charge", "billing's answer")
        s.send_line("/raw")
        parts = ("raw HTTP of r1", "POST %s/v1/conversations" % SERVER.url, "Authorization: Bearer [redacted]",
                 '"content": "Why was I charged twice?"', "HTTP 200", "event: conversation.response.started")
        text = s.wait_for(lambda t: all(p in t for p in parts), "the raw view of r1")
        check(SECRET not in text, "the key on screen")
        s.key("Escape")
        s.wait_gone("raw HTTP of r1", "the overlay closed")
        s.check_clean_exit()
        check(SECRET not in s.stderr(), "the key on stderr")


@test
def offline_the_raw_view_says_why_it_is_empty():
    with Screen(["--profile", tui.profile("support.json"), "--offline-rate", "0"]) as s:
        s.wait_ready()
        s.send_line("/start cs hello")
        s.wait_for("front desk", "cs's answer")
        s.send_line("/raw")
        s.wait_for("run r1 ran on the offline backend, which sends no HTTP request", "the reason")
        s.check_clean_exit()


if __name__ == "__main__":
    if not tui.have_tmux():
        print("1..0 # SKIP tmux is not installed")
        sys.exit(0)
    lib.main_with_server(SERVER)
