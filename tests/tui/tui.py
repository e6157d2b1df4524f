#!/usr/bin/env python3
"""Driving the real console in tmux (research/c-craft.md §6d), for the TUI
tests: a private tmux server a test, keys sent with send-keys, the screen
read with capture-pane, and polling for a condition instead of sleeping.

    import tui
    from tui import test, check

    @test
    def something():
        with tui.Screen(["--profile", tui.profile("support.json")]) as s:
            s.wait_for("agentdeck>")
            s.type("hello"); s.key("Enter")
            s.wait_for(lambda text: "hello" in text, "the message on screen")

The TAP harness, temporary folders and AGENTDECK / AGENTDECK_WRAPPER come
from tests/integration/lib.py. Under a wrapper (valgrind) every timeout is
multiplied by SLOW, so that a slow run is not a failed one. The shell that
runs agentdeck prints "agentdeck exited with status N" when it ends and
saves `stty -a`, so that a test can check the terminal was given back."""

import json
import os
import shlex
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.dont_write_bytecode = True

import lib  # noqa: E402
from lib import test, check, eq, Failure, Skip  # noqa: E402,F401

SLOW = 10 if lib.WRAPPER else 1
TIMEOUT = 10


def profile(name):
    return lib.profile(name)


def write_profile(obj):
    return lib.write_profile(obj)


def have_tmux():
    return shutil.which("tmux") is not None


class Screen:
    """agentdeck ARGS in a WIDTHxHEIGHT tmux window of its own."""

    _count = 0

    def __init__(self, args, width=120, height=40, env=None, state_home=None, home=None):
        if not have_tmux():
            raise Skip("tmux is not installed")
        Screen._count += 1
        self.socket = "agentdeck-test-%d-%d" % (os.getpid(), Screen._count)
        self.dir = lib.tmpdir("tui")
        self.state_home = state_home or lib.tmpdir("state")
        self.home = home or lib.tmpdir("home")
        self.stderr_path = os.path.join(self.dir, "stderr")
        self.stty_path = os.path.join(self.dir, "stty")
        variables = {"LC_ALL": "C.UTF-8", "XDG_STATE_HOME": self.state_home, "HOME": self.home,
                     "XDG_CONFIG_HOME": os.path.join(self.home, ".config"), "INPUTRC": "/dev/null",
                     "MISTRAL_API_KEY": "", "AGENTDECK_THEMES": lib.srcpath("themes")}
        variables.update(env or {})
        argv = lib.command(args)
        script = ("cd %s && env %s %s 2>%s; echo \"agentdeck exited with status $?\"; stty -a >%s; exec sleep 3600"
                  % (shlex.quote(self.dir),
                     " ".join(shlex.quote("%s=%s" % kv) for kv in variables.items() if kv[1] is not None),
                     " ".join(shlex.quote(a) for a in argv), shlex.quote(self.stderr_path),
                     shlex.quote(self.stty_path)))
        conf = os.path.join(self.dir, "tmux.conf")
        with open(conf, "w") as f:
            f.write("set -g status off\nset -g default-terminal screen-256color\nset -g history-limit 0\n")
        self._tmux("-f", conf, "new-session", "-d", "-x", str(width), "-y", str(height), "-s", "t",
                   "sh", "-c", script)
        self.target = "t"

    def _tmux(self, *args, check_status=True):
        proc = subprocess.run(["tmux", "-L", self.socket] + list(args), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=30)
        if check_status and proc.returncode != 0:
            raise Failure("tmux %s failed: %s" % (" ".join(args), proc.stderr.decode("utf-8", "replace")))
        return proc.stdout.decode("utf-8", "replace")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def close(self):
        self._tmux("kill-server", check_status=False)

    # ---- looking -------------------------------------------------------

    def lines(self):
        """The screen, one string a row, trailing blanks removed."""
        out = self._tmux("capture-pane", "-p", "-t", self.target)
        return [l.rstrip() for l in out.split("\n")][:-1]

    def text(self):
        return "\n".join(self.lines())

    def display(self, fmt):
        return self._tmux("display-message", "-p", "-t", self.target, fmt).strip()

    def dump(self):
        return ">>>>\n" + self.text() + "\n<<<<"

    def wait_for(self, cond, what=None, timeout=TIMEOUT):
        """Polls the screen until cond (a string to find, or a function of
        the screen's text) holds; fails after timeout seconds (times SLOW)."""
        pred = cond if callable(cond) else (lambda text: cond in text)
        deadline = time.monotonic() + timeout * SLOW
        while True:
            text = self.text()
            if pred(text):
                return text
            if time.monotonic() > deadline:
                raise Failure("waited %.0f s for %s; the screen:\n%s\nstderr: %s" %
                              (timeout * SLOW, what or repr(cond), self.dump(), self.stderr()[-2000:]))
            time.sleep(0.05)

    def wait_gone(self, text, what=None, timeout=TIMEOUT):
        return self.wait_for(lambda t: text not in t, what or "%r to go away" % text, timeout)

    def stderr(self):
        try:
            with open(self.stderr_path, encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def row_of(self, needle):
        """The first row that holds needle, or None."""
        for i, l in enumerate(self.lines()):
            if needle in l:
                return i
        return None

    # ---- acting ---------------------------------------------------------

    def key(self, *keys):
        """Keys by tmux's names: Enter, Tab, BTab, PPage, NPage, F1, C-c, M-Enter ..."""
        self._tmux("send-keys", "-t", self.target, *keys)

    def type(self, text):
        self._tmux("send-keys", "-t", self.target, "-l", text)

    def raw(self, data):
        """Bytes as the terminal would send them (mouse reports, pastes)."""
        self._tmux("send-keys", "-t", self.target, "-H", *["%02x" % b for b in data])

    def send_line(self, text):
        self.type(text)
        self.key("Enter")

    def resize(self, width, height):
        self._tmux("resize-window", "-t", self.target, "-x", str(width), "-y", str(height))

    def wait_ready(self):
        return self.wait_for("agentdeck>", "the prompt", timeout=15)

    def quit(self, how=("/quit",)):
        """Leaves with /quit (or the given keys); returns agentdeck's exit status."""
        if how == ("/quit",):
            self.send_line("/quit")
        else:
            self.key(*how)
        text = self.wait_for("agentdeck exited with status", "agentdeck to exit", timeout=20)
        for line in text.split("\n"):
            if "agentdeck exited with status" in line:
                return int(line.rsplit(" ", 1)[1])
        return None

    def check_clean_exit(self, how=("/quit",)):
        status = self.quit(how)
        eq(status, 0, "agentdeck's exit status (stderr: %s)" % self.stderr()[-3000:])


def long_profile(words=400, extra_agents=()):
    """A profile whose agent `talker` answers with a long numbered text."""
    text = " ".join("word%d" % i for i in range(1, words + 1)) + " THE-END"
    agents = [{"name": "talker", "model": "test-model", "offline": [{"say": text}]}]
    agents += list(extra_agents)
    return write_profile({"name": "long", "agents": agents})


main = lib.main
