#!/usr/bin/env python3
"""Batch mode, what fails and how: exit statuses, the one line on stderr, the
error events on stdout, and that stdout never carries anything but events.

Exit statuses: 1 when a command (or a run) failed, 2 for a usage error or an
unreadable profile; then stdout stays empty.

Run from the build folder:  AGENTDECK=$PWD/agentdeck srcdir=. python3 tests/integration/test_errors.py
"""

import errno
import json
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import lib  # noqa: E402
from lib import (check, contains, eq, journals, of_type, one, run, test, types,  # noqa: E402
                 write_file, write_profile)

CHARGED_TWICE = "Why was I charged twice?"
LATER = "/agent list"  # a command that works, to see whether it runs


# ---- a failing command ----------------------------------------------------------

# (test name, command, the message): each fails on its own, with the support
# profile loaded and no conversation yet. The message is exact when it is a
# string (the wording of doc/commands.md), or must contain each of a list.
AGENTS = "(agents: cs, technical, billing, sales)"
COMMAND_ERRORS = [
    ("bad_command", "/nosuch", "unknown command /nosuch (/help lists the commands)"),
    ("lone_slash", "/", "unknown command / (/help lists the commands)"),
    ("command_names_are_case_sensitive", "/Start cs hi", "unknown command /Start (/help lists the commands)"),
    ("no_abbreviations", "/ag list", "unknown command /ag (/help lists the commands)"),
    ("unknown_agent", "/start nobody " + CHARGED_TWICE, 'no agent named "nobody" ' + AGENTS),
    ("unknown_agent_to_show", "/agent show nobody", 'no agent named "nobody" ' + AGENTS),
    ("missing_argument", "/agent show", "/agent show: missing argument (usage: /agent show NAME)"),
    ("missing_start_text", "/start cs", "/start: missing argument (usage: /start AGENT TEXT...)"),
    ("too_many_arguments", "/agent show cs billing", "/agent show: too many arguments (usage: /agent show NAME)"),
    ("too_many_help_arguments", "/help agent create", "/help: too many arguments (usage: /help [COMMAND])"),
    ("unknown_flag", "/agent create helper --bogus 1",
     "/agent create: unknown flag --bogus (expected --model, --description, --instructions, --tool, --handoff, "
     "--temperature, --max-tokens)"),
    ("unterminated_double_quote", '/agent create helper --description "oops', 'unterminated " quote at column 36'),
    ("unterminated_single_quote", "/agent show 'cs", "unterminated ' quote at column 13"),
    ("apostrophe_in_a_command", "/agent create helper --description I'm", "unterminated ' quote at column 37"),
    ("unterminated_quote_before_text", '/start "cs ' + CHARGED_TWICE, 'unterminated " quote at column 8'),
    ("backslash_at_the_end", "/agent show cs\\", "a backslash at the end of the line escapes nothing"),
    ("append_without_conversation", "/append hello", "no conversation yet: start one with /start AGENT TEXT"),
    ("at_unknown_agent", "@nobody hello", 'no agent named "nobody" ' + AGENTS),
    ("history_without_conversation", "/history", "no conversation yet: start one with /start AGENT TEXT"),
    ("history_of_unknown_conversation", "/history c9", 'no conversation named "c9"'),
    ("restart_unknown_entry", "/restart msg_9999 hello", 'no entry with id "msg_9999" (see /history)'),
    ("agent_without_subcommand", "/agent", "/agent needs a subcommand: create, list, show, update, delete"),
    ("unknown_subcommand", "/agent frob",
     '/agent: unknown subcommand "frob" (expected one of create, list, show, update, delete)'),
    ("flag_without_value", "/agent create helper --model", "/agent create: --model needs a value (M)"),
    ("flag_given_twice", "/agent create helper --model a --model=b", "/agent create: --model is given twice"),
    ("empty_model", "/agent create helper --model ''", "--model needs a model name"),
    ("temperature_not_a_number", "/agent create helper --temperature hot", '--temperature: "hot" is not a number'),
    ("temperature_out_of_range", "/agent create helper --temperature 1.5",
     "completion_args.temperature: expected a number from 0 to 1, got 1.5"),
    ("max_tokens_negative", "/agent create helper --max-tokens -1",
     "completion_args.max_tokens: expected an integer >= 0, got -1"),
    ("temperature_nan", "/agent create x --temperature nan", '--temperature: "nan" is not a number'),
    ("max_tokens_infinite", "/agent create x --max-tokens inf", '--max-tokens: "inf" is not a number'),
    ("max_tokens_too_large", "/agent create x --max-tokens 1e300",
     "completion_args.max_tokens: expected an integer from 0 to 2147483647, got 1e+300"),
    ("invalid_agent_name", "/agent create 'bad name'",
     '"bad name" is not a valid agent name (expected 1 to 64 letters, digits, _ or -, not starting with -)'),
    ("name_starting_with_a_dash", "/agent create -- --odd",
     '"--odd" is not a valid agent name (expected 1 to 64 letters, digits, _ or -, not starting with -)'),
    ("agent_exists", "/agent create cs", 'an agent named "cs" already exists (use /agent update)'),
    ("handoff_to_unknown_agent", "/agent create helper --handoff nobody", '--handoff nobody: no agent named "nobody"'),
    ("handoff_to_itself", "/agent update cs --handoff cs", "--handoff cs: an agent cannot hand off to itself"),
    ("unknown_tool_type", "/agent create helper --tool telepathy",
     "--tool telepathy: type: expected one of function, web_search, web_search_premium, code_interpreter, "
     "image_generation, "
     'document_library, connector, got "telepathy"'),
    ("tool_with_a_needless_part", "/agent create helper --tool web_search:1",
     '--tool web_search:1: a web_search tool takes no ":..." part'),
    ("function_tool_without_name", "/agent create helper --tool function",
     "--tool function needs a name: --tool function:NAME"),
    ("unknown_function_tool", "/agent create helper --tool function:get_rate",
     '--tool function:get_rate: function.name: no function named "get_rate" in functions'),
    ("library_tool_without_ids", "/agent create helper --tool document_library",
     "--tool document_library needs library ids: --tool document_library:ID[,ID...]"),
    ("connector_tool", "/agent create helper --tool connector",
     "--tool connector: connector_id: missing, expected a string"),
    ("update_drops_a_handoff_a_rule_needs", "/agent update cs --handoff technical --handoff sales",
     'cs\'s offline rule 1 hands off to "billing", which would no longer be among its handoffs'),
    ("delete_agent_others_hand_off_to", "/agent delete billing",
     'cannot delete "billing": cs hands off to it (remove that handoff first)'),
    ("update_without_flags", "/agent update cs",
     "/agent update cs: nothing to change (give at least one flag; /help agent)"),
    ("help_for_unknown_command", "/help nosuch", "no command named /nosuch (/help lists them)"),
]


def check_one_error(result, cmd, parts):
    """Exactly one error event, for cmd, with the message parts (exact when a
    string), and exactly one line on stderr that says the same. Returns the
    event."""
    status, events, stderr = result
    errors = of_type(events, "error")
    eq(len(errors), 1, "error events")
    err = errors[0]
    check(isinstance(err.get("message"), str) and err["message"], "error event without a message: %s" % json.dumps(err))
    eq(err.get("command"), cmd, "error event command")
    if isinstance(parts, str):
        eq(err["message"], parts, "error message")
    else:
        for part in parts:
            contains(err["message"], part, "error message")
    eq(stderr.splitlines(), ["agentdeck: " + err["message"]], "stderr lines")
    check("\n" not in err["message"], "the message spans lines: %r" % err["message"])
    return err


def command_error_test(name, cmd, parts):
    def t():
        # Without --keep-going: the error, and nothing after it.
        result = run(["-c", cmd, "-c", LATER], profile="support.json")
        eq(result.status, 1, "exit status")
        check_one_error(result, cmd, parts)
        eq(types(result.events), ["error"], "event types (the later command must not run)")
        # With --keep-going: the later command runs, the status stays 1.
        result = run(["--keep-going", "-c", cmd, "-c", LATER], profile="support.json")
        eq(result.status, 1, "exit status with --keep-going")
        check_one_error(result, cmd, parts)
        eq(types(result.events), ["error", "agent.list"], "event types with --keep-going")
    t.__name__ = name
    test("command error: " + name)(t)


for _name, _cmd, _parts in COMMAND_ERRORS:
    command_error_test(_name, _cmd, _parts)


@test
def function_tools_never_get_the_key():
    profile = lib.write_profile({
        "agents": [{"name": "envy", "tools": [{"type": "function", "function": {"name": "show_env"}}],
                    "offline": [{"when": "^env please$", "call": {"name": "show_env", "arguments": {}}},
                                {"say": "{input}"}]}],
        "functions": {"show_env": {"command": ["sh", "-c", "env"], "description": "the environment", "auto": True}},
    })
    status, events, stderr = run(["--backend", "offline", "-c", "/start envy env please"], profile=profile,
                                 env={"MISTRAL_API_KEY": "sk-test-SECRET-env-5d1", "AGENTDECK_PROBE": "here"})
    eq(status, 0, "exit status")
    result = one(events, "function.result")["result"]
    contains(result, "AGENTDECK_PROBE=here", "the function got the environment")
    check("sk-test-SECRET-env-5d1" not in result and "MISTRAL_API_KEY" not in result, "but not the key: " + result)


@test
def error_after_a_conversation_stops_the_batch():
    status, events, stderr = run(["-c", "/start cs " + CHARGED_TWICE, "-c", "@nobody hello", "-c", "/append thanks"],
                                 profile="support.json")
    eq(status, 1, "exit status")
    eq(types(events), ["conversation.started", "message.input", "run.started", "agent.handoff", "message.output",
                       "run.done", "error"], "event types")
    eq(events[-1].get("command"), "@nobody hello", "error command")
    eq(stderr.splitlines(), ["agentdeck: " + events[-1]["message"]], "stderr lines")


@test
def keep_going_runs_every_command_and_reports_every_error():
    status, events, stderr = run(["--keep-going", "-c", "/nosuch", "-c", "/start cs " + CHARGED_TWICE,
                                  "-c", "/start nobody hi", "-c", "/append Can I get an invoice?"],
                                 profile="support.json")
    eq(status, 1, "exit status")
    eq(types(events), ["error", "conversation.started", "message.input", "run.started", "agent.handoff",
                       "message.output", "run.done", "error", "message.input", "run.started", "message.output",
                       "run.done"], "event types")
    errors = of_type(events, "error")
    eq([e["command"] for e in errors], ["/nosuch", "/start nobody hi"], "error commands")
    eq(stderr.splitlines(), ["agentdeck: " + e["message"] for e in errors], "stderr lines (one an error)")


@test
def unknown_agent_when_there_are_none():
    status, events, stderr = run(["-c", "/start nobody hi"])
    eq(status, 1, "exit status")
    check_one_error((status, events, stderr), "/start nobody hi", 'no agent named "nobody" (no agents yet)')


@test
def restart_when_the_agent_is_gone():
    cmds = ["/agent create temp", "/start temp hello", "/agent delete temp", "/restart msg_0001 again", LATER]
    args = []
    for c in cmds:
        args += ["-c", c]
    status, events, stderr = run(args, profile="support.json")
    eq(status, 1, "exit status")
    eq(types(events), ["agent.created", "conversation.started", "message.input", "run.started", "message.output",
                       "run.done", "agent.deleted", "error"], "event types")
    eq(events[-1]["message"], "the agent that held c1 at msg_0001 no longer exists", "error message")
    eq(stderr.splitlines(), ["agentdeck: " + events[-1]["message"]], "stderr lines")


@test
def restart_at_a_function_call():
    status, events, stderr = run(["-c", "/start finance What was the ECB interest rate in 2023?",
                                  "-c", "/restart fc_0003 And in 2019?", "-c", LATER], profile="finance.json")
    eq(status, 1, "exit status")
    eq(one(events, "function.call")["entry_id"], "fc_0003", "function.call entry_id")
    eq(types(events)[-1], "error", "last event")
    check_one_error((status, events, stderr), "/restart fc_0003 And in 2019?",
                    "fc_0003 is a function call: restart from its function.result, or from an entry before it")


@test
def quit_after_a_failure_keeps_status_1():
    status, events, stderr = run(["--keep-going", "-c", "/nosuch", "-c", "/quit", "-c", LATER],
                                 profile="support.json")
    eq(status, 1, "exit status")
    eq(types(events), ["error"], "event types (nothing after /quit)")


@test
def empty_message_after_a_conversation():
    for cmd in ("@billing", "@billing   "):
        status, events, stderr = run(["-c", "/start cs " + CHARGED_TWICE, "-c", cmd, "-c", LATER],
                                     profile="support.json")
        eq(status, 1, "exit status of %r" % cmd)
        err = events[-1]
        eq((err["type"], err.get("command")), ("error", cmd), "last event")
        contains(err.get("message"), "empty", "error message")
        eq(stderr.splitlines(), ["agentdeck: " + err["message"]], "stderr lines")


@test
def failed_update_changes_nothing():
    status, events, stderr = run(["--keep-going", "-c", "/agent show cs",
                                  "-c", "/agent update cs --model other-model --temperature 7",
                                  "-c", "/agent show cs"], profile="support.json")
    eq(status, 1, "exit status")
    eq(types(events), ["agent.show", "error", "agent.show"], "event types")
    eq(events[2]["definition"], events[0]["definition"], "the definition after the failed update")
    contains(events[1]["message"], "temperature", "error message")


@test
def numbers_that_are_not_finite_change_nothing():
    # NaN passes every "x < lo || x > hi" check: it must be refused before it
    # reaches a definition (and JSON, which cannot write it).
    bad = ["--temperature nan", "--temperature inf", "--max-tokens inf", "--max-tokens 1e300"]
    args = ["--keep-going", "-c", "/agent show cs", "-c", "/agent list"]
    for flag in bad:
        args += ["-c", "/agent create x " + flag, "-c", "/agent update cs " + flag]
    args += ["-c", "/agent show cs", "-c", "/agent list"]
    status, events, stderr = run(args, profile="support.json")
    eq(status, 1, "exit status")
    eq(types(events), ["agent.show", "agent.list"] + ["error"] * (2 * len(bad)) + ["agent.show", "agent.list"],
       "event types")
    eq(events[-2]["definition"], events[0]["definition"], "cs after the failed updates")
    eq(events[-1]["agents"], events[1]["agents"], "the agents after the failed creates")
    eq(len(stderr.splitlines()), 2 * len(bad), "stderr lines")


@test
def failed_create_adds_no_agent():
    status, events, stderr = run(["--keep-going", "-c", "/agent create helper --model m --handoff nobody",
                                  "-c", "/agent list"], profile="support.json")
    eq(status, 1, "exit status")
    eq([a["name"] for a in one(events, "agent.list")["agents"]], ["cs", "technical", "billing", "sales"],
       "agents after the failed create")


@test
def batch_file_stops_at_the_failing_line():
    path = write_file("session.txt", "/agent show cs\n# fine so far\n/agent show nobody\n/agent list\n")
    status, events, stderr = run(["--batch", path], profile="support.json")
    eq(status, 1, "exit status")
    eq(types(events), ["agent.show", "error"], "event types")
    eq(events[1].get("command"), "/agent show nobody", "error command")
    eq(len(stderr.splitlines()), 1, "stderr lines")
    status, events, stderr = run(["--batch", path, "--keep-going"], profile="support.json")
    eq(status, 1, "exit status with --keep-going")
    eq(types(events), ["agent.show", "error", "agent.list"], "event types with --keep-going")


@test
def run_error_fails_the_batch_and_keep_going_goes_on():
    path = write_profile({"max_turns": 2, "agents": [
        {"name": "ping", "handoffs": ["pong"], "offline": [{"handoff": "pong"}]},
        {"name": "pong", "handoffs": ["ping"], "offline": [{"handoff": "ping"}]}]})
    status, events, stderr = run(["-c", "/start ping hi", "-c", LATER], profile=path)
    eq(status, 1, "exit status")
    eq(types(events)[-1], "run.error", "last event (the later command must not run)")
    eq(len(stderr.splitlines()), 1, "stderr lines")
    status, events, stderr = run(["--keep-going", "-c", "/start ping hi", "-c", LATER], profile=path)
    eq(status, 1, "exit status with --keep-going")
    eq(types(events)[-2:], ["run.error", "agent.list"], "last events with --keep-going")


# ---- a broken profile: exit 2, one line, nothing on stdout ------------------------


def check_profile_error(path, expected_line=None, parts=(), args=None):
    args = args if args is not None else ["--profile", path, "-c", LATER]
    result = run(args)
    eq(result.status, 2, "exit status")
    eq(result.stdout, "", "stdout")
    lines = result.stderr.splitlines()
    eq(len(lines), 1, "stderr lines")
    contains(lines[0], path, "stderr (names the file)")
    if expected_line is not None:
        eq(lines[0], expected_line, "stderr")
    for part in parts:
        contains(lines[0], part, "stderr")
    eq(journals(result.state_home), [], "journals")


@test
def profile_with_bad_json():
    path = write_profile('{"agents": [}\n', "bad.json")
    check_profile_error(path, "agentdeck: %s: line 1, column 13: not valid JSON" % path)


@test
def profile_with_a_trailing_comma_points_at_the_brace():
    path = write_profile('{\n  "agents": [\n    {"name": "cs",}\n  ]\n}\n', "comma.json")
    # Line 3 is `    {"name": "cs",}`: the } that cannot follow the comma is column 19.
    check_profile_error(path, "agentdeck: %s: line 3, column 19: not valid JSON" % path)


@test
def profile_with_an_unknown_agent_in_handoffs():
    path = write_profile({"agents": [
        {"name": "cs", "handoffs": ["technical", "billing"]},
        {"name": "technical", "handoffs": ["cs"]},
        {"name": "billing", "handoffs": ["biling"]},
    ]}, "typo.json")
    check_profile_error(path, 'agentdeck: %s: agents[2].handoffs[0]: no agent named "biling"' % path)


@test
def profile_that_does_not_exist():
    path = os.path.join(lib.tmpdir("missing"), "nosuch.json")
    check_profile_error(path, "agentdeck: %s: cannot read: No such file or directory" % path)


@test
def profile_given_as_first_argument_that_does_not_exist():
    path = os.path.join(lib.tmpdir("missing"), "nosuch.json")
    check_profile_error(path, "agentdeck: %s: cannot read: No such file or directory" % path,
                        args=[path, "-c", LATER])


@test
def profile_with_an_unknown_field():
    path = write_profile({"agents": [{"name": "cs", "handofs": []}]})
    check_profile_error(path, parts=["agents[0].handofs: unknown field", "handoffs"])


@test
def profile_without_agents():
    path = write_profile({"name": "empty"})
    check_profile_error(path, "agentdeck: %s: agents: missing, expected an array of agents" % path)


@test
def profile_with_a_bad_regular_expression():
    path = write_profile({"agents": [{"name": "cs", "offline": [{"say": "hi"}, {"when": "(", "say": "x"}]}]})
    check_profile_error(path, parts=["agents[0].offline[1].when: not a valid regular expression"])


@test
def profile_with_a_bad_function_timeout():
    path = write_profile({"functions": {"get_rate": {"command": ["true"], "timeout": 0}},
                          "agents": [{"name": "cs"}]})
    check_profile_error(path, "agentdeck: %s: functions.get_rate.timeout: expected a number > 0, got 0" % path)


# JSON numbers too large for a double (1e999) parse as infinity: refused as
# out of range, not taken (an endless timeout) nor shown as "null".


@test
def profile_with_an_infinite_max_tokens():
    path = write_profile('{"agents": [{"name": "cs", "completion_args": {"max_tokens": 1e999}}]}\n')
    check_profile_error(path, "agentdeck: %s: agents[0].completion_args.max_tokens: expected an integer >= 0, "
                              "got a number out of range" % path)


@test
def profile_with_an_infinite_temperature():
    path = write_profile('{"agents": [{"name": "cs", "completion_args": {"temperature": -1e999}}]}\n')
    check_profile_error(path, "agentdeck: %s: agents[0].completion_args.temperature: expected a number from 0 to 1, "
                              "got a number out of range" % path)


@test
def profile_with_an_infinite_function_timeout():
    path = write_profile('{"functions": {"get_rate": {"command": ["true"], "timeout": 1e999}},\n'
                         ' "agents": [{"name": "cs"}]}\n')
    check_profile_error(path, "agentdeck: %s: functions.get_rate.timeout: expected at most 86400 seconds, "
                              "got a number out of range" % path)


@test
def profile_with_a_function_tool_it_does_not_define():
    path = write_profile({"agents": [{"name": "cs", "tools": [{"type": "function", "function": {"name": "x"}}]}]})
    check_profile_error(path, 'agentdeck: %s: agents[0].tools[0].function.name: no function named "x" in functions'
                        % path)


# ---- usage errors: exit 2, nothing on stdout --------------------------------------


def check_usage_error(args, parts, one_line=True, stdin=None, env=None):
    result = run(args, stdin=stdin, env=env)
    eq(result.status, 2, "exit status")
    eq(result.stdout, "", "stdout")
    lines = result.stderr.splitlines()
    check(lines, "nothing on stderr")
    if one_line:
        eq(len(lines), 1, "stderr lines")
    for part in parts:
        contains(result.stderr, part, "stderr")
    eq(journals(result.state_home), [], "journals")
    return lines


@test
def unknown_option():
    lines = check_usage_error(["--bogus", "--profile", lib.profile("support.json"), "-c", LATER], ["--bogus"],
                              one_line=False)
    contains(lines[-1], "agentdeck --help", "the last stderr line")


@test
def offline_rate_not_a_number():
    check_usage_error(["--offline-rate", "abc", "-c", LATER], ["--offline-rate", '"abc"'])


@test
def offline_rate_negative():
    check_usage_error(["--offline-rate", "-1", "-c", LATER], ["--offline-rate", '"-1"'])


@test
def offline_rate_without_value():
    check_usage_error(["-c", LATER, "--offline-rate"], ["offline-rate"], one_line=False)


@test
def unknown_backend():
    check_usage_error(["--backend", "nosuch", "-c", LATER], ['"nosuch"', "offline"])


@test
def chat_backend_without_a_base_url():
    check_usage_error(["--backend", "chat", "--profile", lib.profile("support.json"), "-c", LATER],
                      ["--backend chat needs --base-url URL", "Ollama"])


@test
def model_without_the_chat_backend():
    check_usage_error(["--backend", "offline", "--model", "m", "-c", LATER], ["--model is for --backend chat"])
    check_usage_error(["--backend", "chat", "--model", "", "-c", LATER], ["--model", "empty"])


@test
def mistral_backend_without_a_key():
    check_usage_error(["--backend", "mistral", "--profile", lib.profile("support.json"), "-c", LATER],
                      ["MISTRAL_API_KEY", "--api-key-file"], env={"MISTRAL_API_KEY": ""})


@test
def mistral_key_file_readable_by_others_is_refused():
    path = lib.write_file("key.txt", "not-a-real-key\n")
    os.chmod(path, 0o644)
    check_usage_error(["--backend", "mistral", "--api-key-file", path, "--profile", lib.profile("support.json"),
                       "-c", LATER], ["may be read by others", "chmod 600"])


@test
def batch_file_that_does_not_exist():
    path = os.path.join(lib.tmpdir("missing"), "nosuch.txt")
    lines = check_usage_error(["--profile", lib.profile("support.json"), "--batch", path], [path])
    eq(lines, ["agentdeck: %s: cannot read: No such file or directory" % path], "stderr lines")


@test
def batch_and_command_together():
    check_usage_error(["--batch", "-", "-c", LATER], ["--batch", "-c"], stdin=LATER + "\n")


@test
def two_profiles():
    check_usage_error([lib.profile("support.json"), "--profile", lib.profile("finance.json"), "-c", LATER],
                      ["two profiles"])


@test
def unexpected_argument():
    check_usage_error([lib.profile("support.json"), "extra", "-c", LATER], ['"extra"'])


@test
def console_without_a_terminal_says_how_to_use_a_pipe():
    status, out, err = lib.run_text([lib.profile("support.json")], stdin="/agent list\n")
    eq(status, 2, "exit status")
    eq(out, "", "stdout")
    eq(err, "agentdeck: the console needs a terminal; to run commands from a file or a pipe, use --batch FILE "
            "(--batch - for stdin) or -c COMMAND\n", "stderr")


# ---- the journal cannot be written: a warning, not a failure ----------------------


@test
def unwritable_state_folder_is_a_warning():
    blocker = write_file("not-a-folder", "")
    result = run(["-c", "/agent show cs"], profile="support.json", state_home=blocker)
    eq(result.status, 0, "exit status")
    eq(types(result.events), ["agent.show"], "event types")
    lines = result.stderr.splitlines()
    eq(len(lines), 1, "stderr lines")
    check(lines[0].startswith("agentdeck: warning: "), "stderr is not a warning: %r" % lines[0])
    contains(lines[0], blocker, "stderr (names the folder)")
    contains(lines[0], "without a journal", "stderr")


# ---- stdout is UTF-8 whatever comes in ----------------------------------------------
# doc/events.md: "One JSON object per line, UTF-8". Bytes that are not UTF-8,
# from a function or from the commands, must not reach stdout as they are:
# each bad byte becomes U+FFFD.


@test
def function_output_that_is_not_utf8():
    path = write_profile({
        "agents": [{"name": "t", "tools": [{"type": "function", "function": {"name": "bin"}}],
                    "offline": [{"when": "^bin", "call": {"name": "bin"}}, {"say": "got {input}"}]}],
        "functions": {"bin": ["printf", "ab\\377cd"]},
    })
    status, events, stderr = run(["--yes", "-c", "/start t bin"], profile=path)  # run() fails on invalid UTF-8
    eq(status, 0, "exit status")
    eq(one(events, "function.result")["result"], "ab\ufffdcd", "function.result result")
    eq(types(events)[-1], "run.done", "last event")


@test
def function_output_with_a_nul_byte():
    # A NUL must neither cut the result short ("abc") nor reach the JSON.
    path = write_profile({
        "agents": [{"name": "t", "tools": [{"type": "function", "function": {"name": "nul"}}],
                    "offline": [{"when": "^nul", "call": {"name": "nul"}}, {"say": "got {input}"}]}],
        "functions": {"nul": ["printf", "abc\\000def"]},
    })
    result = run(["--yes", "-c", "/start t nul"], profile=path)
    status, events, stderr = result
    eq(status, 0, "exit status")
    eq(stderr, "", "stderr")
    eq(one(events, "function.result")["result"], "abc\ufffddef", "function.result result")
    eq(one(events, "message.output")["content"], "got abc\ufffddef", "message.output content (what the agent read)")
    with open(journals(result.state_home)[0], encoding="utf-8") as f:
        eq(f.read(), result.stdout, "journal text")


@test
def command_text_that_is_not_utf8():
    path = write_file("latin1.txt", "")
    with open(path, "wb") as f:
        f.write(b"/start cs caf\xe9: why was I charged twice?\n")
    status, events, stderr = run(["--batch", path], profile="support.json")  # run() fails on invalid UTF-8
    eq(status, 0, "exit status")
    eq(one(events, "message.input")["content"], "caf\ufffd: why was I charged twice?", "message.input content")


# ---- stdout cannot be written: a failure, said on stderr ---------------------------


@test
def stdout_that_cannot_be_written_fails_the_batch():
    if not os.path.exists("/dev/full"):
        raise lib.Skip("no /dev/full")
    line = "agentdeck: cannot write the events to stdout: " + os.strerror(errno.ENOSPC)
    batch = write_file("session.txt", "/start cs %s\n/agent list\n" % CHARGED_TWICE)
    for args in (["-c", "/start cs " + CHARGED_TWICE, "-c", LATER], ["--batch", batch]):
        # Even with --keep-going: nothing more runs once nobody can see the events.
        result = run(["--keep-going"] + args, profile="support.json", stdout="/dev/full")
        eq(result.status, 1, "exit status")
        eq(result.stderr.splitlines(), [line], "stderr lines")
        files = journals(result.state_home)
        eq(len(files), 1, "journals")
        with open(files[0], encoding="utf-8") as f:
            eq(types(lib.parse_events(f.read(), "the journal")),
               ["conversation.started", "message.input", "run.started", "agent.handoff", "message.output",
                "run.done"], "event types in the journal (the run that had started ends; no later command)")


# ---- stdout carries only events ----------------------------------------------------


@test
def stdout_carries_only_events_whatever_happens():
    tools = write_profile({
        "agents": [{"name": "tooler", "tools": [{"type": "function", "function": {"name": "noisy"}}],
                    "offline": [{"when": "^go", "call": {"name": "noisy"}}, {"say": "after: {input}"}]}],
        "functions": {"noisy": {"command": ["sh", "-c", "echo to-stdout-of-the-function; echo to-stderr >&2; exit 1"],
                                "auto": True}},
    })
    batch = "\n".join([
        "/help", "/help agent", "/agent list", "/agent create x --description 'a \"quoted\"\\nline'",
        "/agent show x", "/nosuch", "/agent show", "/start x hello", "plain text", "@x \"raw\" text",
        "/history", "/start tooler go", "/start tooler 'unterminated", "/quit",
    ]) + "\n"
    result = run(["--keep-going", "--deltas", "--offline-rate", "500", "--batch", "-"], profile=tools, stdin=batch)
    # run() has checked every stdout line: a JSON object with seq, ts and type.
    eq(result.status, 1, "exit status")
    for ev in result.events:
        check(isinstance(ev, dict) and set(("seq", "ts", "type")) <= set(ev), "not an event: %r" % ev)
    check(len(result.events) >= 20, "only %d events" % len(result.events))
    contains(one(result.events, "function.result")["result"], "noisy exited with status 1: to-stderr",
             "function.result")
    for line in result.stdout.splitlines():
        check(line.startswith('{"seq":'), "a stdout line that is not an event: %r" % line)
    for line in result.stderr.splitlines():
        check(line.startswith("agentdeck: "), "a stderr line without the agentdeck: prefix: %r" % line)
    eq(len(result.stderr.splitlines()), len(of_type(result.events, "error")), "stderr lines (one an error event)")


if __name__ == "__main__":
    lib.main()
