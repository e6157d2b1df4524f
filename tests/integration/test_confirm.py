#!/usr/bin/env python3
"""Function calls that ask before they run, in batch mode: a function the
profile does not mark "auto" waits for /allow, /allow --always or /deny (read
from the next line of the batch), --yes lets every call run, and a denied
call goes back to the model as a denial without the function running."""

import json
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import lib  # noqa: E402
from lib import check, contains, eq, of_type, one, run, test, tmpdir, types, write_file, write_profile  # noqa: E402


def stamp_profile(auto=False):
    """Agent t calls stamp(word) for "stamp WORD"; stamp leaves a file named
    after the word in a folder of its own (so a test sees whether it ran) and
    answers with its arguments. Returns (profile path, folder)."""
    folder = tmpdir("stamps")
    fn = {"command": ["sh", "-c", 'a=$(cat); w=${a#*\\"word\\":\\"}; touch "$0/${w%%\\"*}"; echo "$a"', folder]}
    if auto:
        fn["auto"] = True
    path = write_profile({
        "functions": {"stamp": fn},
        "agents": [{"name": "t", "tools": [{"type": "function", "function": {"name": "stamp"}}],
                    "offline": [{"when": "^The user denied", "say": "Not stamped: {input}"},
                                {"when": "^\\{", "say": "Stamped {input}"},
                                {"when": "^stamp (.*)", "call": {"name": "stamp", "arguments": {"word": "{1}"}}}]}],
    })
    return path, folder


def stamped(folder):
    return sorted(os.listdir(folder))


def batch(path, lines, args=()):
    return run(list(args) + ["--batch", write_file("session.txt", "\n".join(lines) + "\n")], profile=path)


@test
def a_call_waits_and_allow_lets_it_run():
    path, folder = stamp_profile()
    status, events, stderr = batch(path, ["/start t stamp one", "/allow"])
    eq(status, 0, "exit status")
    eq(stderr, "", "stderr")
    eq(types(events), ["conversation.started", "message.input", "run.started", "function.call", "breakpoint.hit",
                       "confirmation.answered", "function.result", "message.output", "run.done"], "event types")
    hit = one(events, "breakpoint.hit")
    call = one(events, "function.call")
    eq((hit["reason"], hit["asked_by"], hit["name"], hit["tool_call_id"]),
       ("confirmation", "agentdeck", "stamp", call["tool_call_id"]), "what waits")
    eq(json.loads(hit["arguments"]), {"word": "one"}, "the arguments shown")
    answer = one(events, "confirmation.answered")
    eq((answer["answer"], answer["tool_call_id"], answer["name"], "always" in answer),
       ("allow", call["tool_call_id"], "stamp", False), "the answer")
    eq(stamped(folder), ["one"], "the function ran")
    contains(one(events, "message.output")["content"], "Stamped", "the agent's answer")


@test
def deny_goes_back_to_the_model_and_nothing_runs():
    path, folder = stamp_profile()
    status, events, stderr = batch(path, ["/start t stamp two", "/deny"])
    eq(status, 0, "exit status")
    eq(one(events, "confirmation.answered")["answer"], "deny", "the answer")
    eq(one(events, "function.result")["result"], "The user denied the call to stamp.", "the result the model gets")
    eq(one(events, "message.output")["content"], "Not stamped: The user denied the call to stamp.",
       "the agent answers without it")
    eq(stamped(folder), [], "the function never ran")
    eq(of_type(events, "error"), [], "a denial is not an error")


@test
def allow_always_stops_asking_for_that_function():
    path, folder = stamp_profile()
    status, events, stderr = batch(path, ["/start t stamp a", "/allow --always", "/start t stamp b",
                                          "/start t stamp c"])
    eq(status, 0, "exit status")
    eq(len(of_type(events, "breakpoint.hit")), 1, "asked once")
    answer = one(events, "confirmation.answered")
    eq((answer["answer"], answer["always"]), ("allow", True), "the answer")
    eq(stamped(folder), ["a", "b", "c"], "every call ran")
    eq(len(of_type(events, "run.done")), 3, "runs done")


@test
def allow_always_answers_other_waiting_calls_of_the_function():
    path, folder = stamp_profile()
    # Two runs wait at once; allowing one for the session allows the other.
    status, events, stderr = batch(path, ["/start t stamp x", "/start t stamp y", "/allow --always of0000001"])
    eq(status, 0, "exit status")
    eq(len(of_type(events, "breakpoint.hit")), 2, "both asked")
    answers = of_type(events, "confirmation.answered")
    eq([(a["tool_call_id"], a["always"]) for a in answers], [("of0000001", True), ("of0000002", True)], "answers")
    eq(stamped(folder), ["x", "y"], "both ran")


@test
def allow_one_call_by_its_id():
    path, folder = stamp_profile()
    status, events, stderr = batch(path, ["/start t stamp x", "/start t stamp y", "/allow of0000002",
                                          "/deny of0000001"])
    eq(status, 0, "exit status")
    eq([(a["tool_call_id"], a["answer"]) for a in of_type(events, "confirmation.answered")],
       [("of0000002", "allow"), ("of0000001", "deny")], "answers")
    eq(stamped(folder), ["y"], "only the allowed call ran")


@test
def yes_runs_every_call_without_asking():
    path, folder = stamp_profile()
    status, events, stderr = run(["--yes", "-c", "/start t stamp quick"], profile=path)
    eq(status, 0, "exit status")
    eq(of_type(events, "breakpoint.hit") + of_type(events, "confirmation.answered"), [], "nothing asked")
    eq(stamped(folder), ["quick"], "the function ran")


@test
def auto_in_the_profile_runs_without_asking():
    path, folder = stamp_profile(auto=True)
    status, events, stderr = run(["-c", "/start t stamp auto"], profile=path)
    eq(status, 0, "exit status")
    eq(of_type(events, "breakpoint.hit"), [], "nothing asked")
    eq(stamped(folder), ["auto"], "the function ran")


@test
def a_batch_that_ends_while_a_call_waits_fails_and_says_why():
    path, folder = stamp_profile()
    status, events, stderr = run(["-c", "/start t stamp late"], profile=path)
    eq(status, 1, "exit status")
    cancelled = one(events, "run.cancelled")
    contains(cancelled["message"], "the batch ended while the run waited", "run.cancelled")
    contains(cancelled["message"], "--yes", "run.cancelled names the way out")
    contains(stderr, "cancelled: the batch ended while the run waited", "stderr")
    eq(stamped(folder), [], "the function never ran")


@test
def answers_with_nothing_waiting_are_errors():
    path, folder = stamp_profile()
    status, events, stderr = batch(path, ["/start t stamp x", "/allow nosuchid1"], args=["--keep-going"])
    eq(status, 1, "exit status")
    eq(one(events, "error")["message"], 'no function call with id "nosuchid1" waits for confirmation', "error")
    status, events, stderr = run(["-c", "/deny"], profile=path)
    eq(status, 1, "exit status")
    eq(one(events, "error")["message"], "no function call waits for confirmation", "error")
    status, events, stderr = run(["-c", "/deny --always"], profile=path)
    eq(status, 1, "exit status")
    contains(one(events, "error")["message"], "--always", "/deny takes no --always")


@test
def confirmation_comes_before_a_function_breakpoint():
    path, folder = stamp_profile()
    status, events, stderr = batch(path, ["/break function:stamp", "/start t stamp z", "/allow", "/next"])
    eq(status, 0, "exit status")
    eq([e["reason"] for e in of_type(events, "breakpoint.hit")], ["confirmation", "function"], "the stops, in order")
    eq(stamped(folder), ["z"], "the function ran after both")


if __name__ == "__main__":
    lib.main()
