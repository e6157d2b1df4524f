#!/usr/bin/env python3
"""The configuration file ($XDG_CONFIG_HOME/agentdeck/config.json, or
--config FILE): each setting changes what agentdeck does, an option on the
command line wins over it, and a bad setting stops agentdeck with one line
naming the key at fault. The mistral settings run against the fake server."""

import json
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import lib  # noqa: E402
from lib import FakeMistral, check, contains, eq, of_type, offline_script, one, run, test  # noqa: E402

SERVER = FakeMistral()
CHARGED_TWICE = "Why was I charged twice?"


def config_home(settings):
    """A new XDG_CONFIG_HOME whose agentdeck/config.json holds settings (a dict, or text as is)."""
    home = lib.tmpdir("config")
    os.makedirs(os.path.join(home, "agentdeck"))
    with open(os.path.join(home, "agentdeck", "config.json"), "w", encoding="utf-8") as f:
        f.write(settings if isinstance(settings, str) else json.dumps(settings))
    return home


def needs_server():
    if not SERVER.url:
        raise lib.Skip("the fake Mistral server cannot run here (no OpenAPI spec beside the repository)")


@test
def offline_rate_streams_word_by_word_and_the_option_wins():
    home = config_home({"offline_rate": 1000})
    status, events, stderr = run(["--deltas", "-c", "/start cs " + CHARGED_TWICE], profile="support.json",
                                 env={"XDG_CONFIG_HOME": home})
    eq(status, 0, "exit status")
    deltas = of_type(events, "message.output.delta")
    check(len(deltas) > 5, "a reply streamed a word at a time: %d deltas" % len(deltas))
    status, events, stderr = run(["--deltas", "--offline-rate", "0", "-c", "/start cs " + CHARGED_TWICE],
                                 profile="support.json", env={"XDG_CONFIG_HOME": home})
    eq(status, 0, "exit status")
    eq(len(of_type(events, "message.output.delta")), 1, "--offline-rate 0 wins: the reply comes in one piece")


@test
def config_option_reads_another_file():
    path = lib.write_file("my.json", json.dumps({"offline_rate": 1000}))
    status, events, stderr = run(["--config", path, "--deltas", "-c", "/start cs " + CHARGED_TWICE],
                                 profile="support.json")
    eq(status, 0, "exit status")
    check(len(of_type(events, "message.output.delta")) > 5, "the file of --config was read")


@test
def backend_offline_from_the_file_even_with_a_key():
    home = config_home({"backend": "offline"})
    status, events, stderr = run(["-c", "/start cs " + CHARGED_TWICE], profile="support.json",
                                 env={"XDG_CONFIG_HOME": home, "MISTRAL_API_KEY": "sk-test-SECRET"})
    eq(status, 0, "exit status")
    eq(stderr, "", "stderr")
    contains(one(events, "message.output")["content"], "duplicate charge", "the offline answer")


@test
def base_url_and_backend_from_the_file_reach_the_server():
    needs_server()
    SERVER.reset(script=offline_script("support.json"))
    home = config_home({"backend": "mistral", "base_urls": {"mistral": SERVER.url, "chat": "http://127.0.0.1:9"}})
    status, events, stderr = run(["-c", "/start cs " + CHARGED_TWICE], profile="support.json",
                                 env={"XDG_CONFIG_HOME": home, "MISTRAL_API_KEY": SERVER.KEY})
    eq(status, 0, "exit status")
    check(one(events, "message.output")["entry_id"].startswith("msg_"), "an entry of the server")
    check(any(r["path"] == "/v1/conversations" for r in SERVER.requests()), "the server was asked")
    # --backend on the command line wins over the file.
    status, events, stderr = run(["--backend", "offline", "-c", "/start cs " + CHARGED_TWICE],
                                 profile="support.json", env={"XDG_CONFIG_HOME": home, "MISTRAL_API_KEY": SERVER.KEY})
    eq(status, 0, "exit status with --backend offline")
    contains(one(events, "message.output")["content"], "duplicate charge", "the offline answer")


@test
def retries_from_the_file_and_the_option_wins():
    needs_server()
    fault = {"fault": "status", "status": 503, "match": {"method": "POST", "path": "^/v1/conversations$"},
             "times": None}
    home = config_home({"retry": {"retries": 1, "stall_timeout": 30}})
    env = {"XDG_CONFIG_HOME": home}
    SERVER.reset(script=offline_script("support.json"), faults=[fault])
    status, events, stderr = SERVER.run(["-c", "/start cs " + CHARGED_TWICE], profile="support.json", env=env)
    eq(status, 1, "exit status")
    eq(len(of_type(events, "warning")), 1, "one retry, as the file says")
    SERVER.reset(script=offline_script("support.json"), faults=[fault])
    status, events, stderr = SERVER.run(["--retries", "2", "-c", "/start cs " + CHARGED_TWICE],
                                        profile="support.json", env=env)
    eq(status, 1, "exit status")
    eq(len(of_type(events, "warning")), 2, "--retries 2 wins")


def refused(settings, says, args=None):
    home = config_home(settings)
    status, events, stderr = run((args or []) + ["-c", "/agent list"], profile="support.json",
                                 env={"XDG_CONFIG_HOME": home})
    eq(status, 2, "exit status")
    eq(events, [], "no events")
    path = os.path.join(home, "agentdeck", "config.json")
    eq(stderr, "agentdeck: %s: %s\n" % (path, says), "stderr")


@test
def a_bad_setting_is_one_line_naming_its_key():
    refused({"offline_rate": -2}, '"offline_rate": must be a number >= 0 (words a second; 0: at once)')
    refused({"backend": "gpt"}, '"backend": must be one of offline, mistral, chat')
    refused({"retry": {"retries": "four"}}, '"retry.retries": must be a whole number from 0 to 100')
    refused({"base_urls": {"mistral": "api.mistral.ai"}}, '"base_urls.mistral": must be an http:// or https:// URL')
    refused({"keys": {"help": "F99"}},
            '"keys.help": "F99" is not a key name (expected F1 to F12, PgUp, PgDn, Home, End, Insert, Delete, Tab, '
            'Shift-Tab, Ctrl-A to Ctrl-Z except Ctrl-I, Ctrl-J and Ctrl-M (Tab and Enter), Alt-a to Alt-z, or none)')
    refused({"keys": {"zoom": "F3"}},
            '"keys.zoom": F3 is also the key of next-layout (give next-layout another key, or "none")')
    refused({"themes": "dark"},
            '"themes": unknown setting (expected one of backend, base_urls, theme, offline_rate, keys, retry)')
    refused('{"theme": "dark",}', "not valid JSON (line 1)")
    # Options do not excuse a bad file: it is read whole.
    refused({"offline_rate": "slow"}, '"offline_rate": must be a number >= 0 (words a second; 0: at once)',
            args=["--offline-rate", "3"])


@test
def a_missing_config_file_is_an_error_only_when_named():
    status, events, stderr = run(["-c", "/agent list"], profile="support.json",
                                 env={"XDG_CONFIG_HOME": lib.tmpdir("empty")})
    eq(status, 0, "no config.json: the defaults")
    missing = os.path.join(lib.tmpdir("none"), "config.json")
    status, events, stderr = run(["--config", missing, "-c", "/agent list"], profile="support.json")
    eq(status, 2, "exit status")
    eq(stderr, "agentdeck: %s: cannot read: No such file or directory\n" % missing, "stderr")


if __name__ == "__main__":
    SERVER.start()
    try:
        lib.main()
    finally:
        SERVER.stop()
