#!/usr/bin/env python3
"""The chat backend in the console: a server that is down is one clear
message and the console keeps working (runs fail with the same message);
once the server is up, the next run finds it, and the finance handoff and
function call show in the panes (titled with the --model they run on)."""

import json
import os
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tui  # noqa: E402
from tui import test, check, Screen  # noqa: E402

FINANCE = tui.profile("finance.json")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_fake(port):
    """The fake server on port, scripted with finance's offline rules; None
    when it cannot run here."""
    proc = subprocess.Popen([sys.executable, tui.lib.srcpath("tests", "fakeapi", "server.py"), "--port", str(port),
                             "--key", "test-key"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    if not proc.stdout.readline().startswith(b"listening on "):
        proc.wait()
        return None
    fake = tui.lib.FakeMistral()
    fake.proc, fake.url = proc, "http://127.0.0.1:%d" % port
    with open(FINANCE, encoding="utf-8") as f:
        team = json.load(f)
    fake.reset(script=tui.lib.offline_script_of(team))
    fake.control("POST", "/_fake/speakers", {a["instructions"]: a["name"] for a in team["agents"]})
    return fake


@test
def a_server_that_is_down_leaves_the_console_working_until_it_is_up():
    port = free_port()
    url = "http://127.0.0.1:%d" % port
    key = tui.lib.write_file("key", "test-key\n", mode=0o600)
    with Screen(["--backend", "chat", "--base-url", url, "--api-key-file", key, "--model", "mistral-small-latest",
                 "--profile", FINANCE]) as s:
        s.wait_ready()
        check(" finance  mistral-small-latest" in s.text(), "--model in the pane titles:\n" + s.dump())
        text = s.wait_for("cannot reach %s/v1/models" % url, "the start-up error on screen")
        check("chat %s" % url in text or "cannot reach" in s.lines()[-2], "the status bar:\n" + s.dump())
        s.send_line("What was the ECB interest rate in 2023?")
        s.wait_for("chat backend: cannot reach %s/v1/models" % url, "the run fails with the same message")
        s.send_line("/agent list")
        s.wait_for("hands off to ecb", "the rest of the console works")
        s.key("Escape")
        fake = start_fake(port)
        if fake is None:
            s.check_clean_exit()
            raise tui.Skip("the fake server cannot run here (no OpenAPI spec beside the repository)")
        try:
            s.send_line("What was the ECB interest rate in 2023?")
            s.wait_for("finance ⇢ ecb", "the handoff in the timeline, once the server is up", timeout=20)
            s.wait_for("at the end of 2023 was 4.50%", "ecb's answer in its pane", timeout=20)
            check("call get_interest_rate" in s.text(), "the function call in ecb's pane:\n" + s.dump())
            s.check_clean_exit()
            tui.eq(fake.rejections(), [], "requests the fake server rejected")
        finally:
            fake.stop()


if __name__ == "__main__":
    tui.main()
