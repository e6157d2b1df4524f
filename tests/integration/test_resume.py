#!/usr/bin/env python3
"""Resume and replay (issue 8): agentdeck killed with SIGKILL in the middle
of a pattern, offline and against the fake Mistral server, comes back with
--resume, and /retry finishes what was cut off: the finished session has the
same entries as one that was never interrupted, none twice. A torn last line
of the journal is skipped with a warning; /sessions lists the sessions;
--replay without a terminal writes the recorded events at their pace."""

import json
import os
import shutil
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import lib  # noqa: E402
from lib import FakeMistral, check, contains, eq, of_type, one, run, test  # noqa: E402

SERVER = FakeMistral()

# Short replies, but for `long`, whose reply streams long enough to be cut.
TEAM = {
    "name": "durable",
    "agents": [
        {"name": "researcher", "model": "mistral-small-latest", "description": "finds facts",
         "offline": [{"say": "FACTS: the market grew 5%."}]},
        {"name": "analyst", "model": "mistral-small-latest", "description": "works out numbers",
         "offline": [{"say": "NUMBERS: 5% of 200 is 10."}]},
        {"name": "long", "model": "mistral-small-latest", "description": "writes at length",
         "offline": [{"say": " ".join("word%d" % i for i in range(1, 41)) + " END."}]},
        {"name": "writer", "model": "mistral-small-latest", "description": "writes the report",
         "offline": [{"when": "Results of earlier subtasks", "say": "REPORT built on what came before."},
                     {"say": "REPORT: done."}]},
        {"name": "manager", "model": "mistral-medium-latest", "description": "plans",
         "offline": [{"when": "results of the subtasks", "say": "FINAL: the report is done."},
                     {"say": json.dumps({"subtasks": [
                         {"id": "facts", "worker": "researcher", "task": "Collect the facts", "depends_on": []},
                         {"id": "essay", "worker": "long", "task": "Write it all out", "depends_on": []},
                         {"id": "report", "worker": "writer", "task": "Write the report",
                          "depends_on": ["facts", "essay"]}]})}]},
        {"name": "lookup", "model": "mistral-small-latest", "description": "calls a function",
         "tools": [{"type": "function", "function": {"name": "slow_fact"}}],
         "offline": [{"when": "fact: ", "say": "The fact says {input}"},
                     {"call": {"name": "slow_fact", "arguments": {"topic": "{input}"}}}]},
    ],
    "functions": {
        "slow_fact": {"command": ["sh", "-c", "sleep 1; echo fact: the sky is blue"], "description": "a fact",
                      "auto": True},
    },
}

PIPELINE = "/pipeline researcher,long,analyst market study"
STEP2_STREAMING = b'"type":"message.output.delta","conversation":"c1","agent":"long","run":"r2"'


def team():
    return lib.write_profile(TEAM, "durable.json")


def entries_of(events):
    """The entries of each conversation, from the last conversation.history of each."""
    out = {}
    for e in of_type(events, "conversation.history"):
        out[e["conversation"]] = e["entries"]
    return out


def without_ids(entries):
    """Entries without the ids a server makes (they differ from run to run)."""
    keep = ("type", "agent", "role", "content", "name", "arguments", "result", "previous_agent", "next_agent")
    return [{k: e[k] for k in keep if k in e} for e in entries]


def read_journal(state_home):
    """The one journal of state_home: its lines, each checked to be a JSON event, seq counting 1, 2, 3 ..."""
    paths = lib.journals(state_home)
    eq(len(paths), 1, "journals in %s" % state_home)
    with open(paths[0], "rb") as f:
        data = f.read()
    check(data.endswith(b"\n"), "the journal ends with a newline")
    return paths[0], lib.parse_events(data.decode("utf-8"), "the journal")


def no_entry_twice(journal):
    seen = set()
    for e in journal:
        if e["type"] in ("message.input", "message.output", "function.call", "function.result", "tool.execution",
                         "agent.handoff"):
            key = (e["conversation"], e["entry_id"])
            check(key not in seen, "entry %s of %s is in the journal twice" % (key[1], key[0]))
            seen.add(key)


def kill_when(args, marker, profile=None, env=None):
    """Runs agentdeck in the background until marker (bytes) shows on its
    stdout, then kills it with SIGKILL. Returns (state_home, the lines seen)."""
    proc, state_home = lib.spawn(args, profile=profile) if env is None else spawn_with(args, profile, env)
    try:
        lines = lib.read_until(proc, marker, timeout=60)
    finally:
        proc.kill()  # SIGKILL: no handler runs, nothing is flushed or cleaned up
        proc.communicate()
    eq(proc.returncode, -9, "killed by SIGKILL")
    return state_home, lines


def spawn_with(args, profile, env):
    """lib.spawn, with variables added to the environment."""
    path = profile if os.path.isabs(profile) else lib.profile(profile)
    state_home = lib.tmpdir("state")
    full = dict(os.environ, XDG_STATE_HOME=state_home, LC_ALL="C.UTF-8", **env)
    proc = subprocess.Popen(lib.command(["--profile", path] + list(args)), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=full, cwd=lib.tmpdir("cwd"))
    return proc, state_home


def resume(state_home, commands, env=None, first_seq=None):
    """agentdeck --resume with -c commands; its stdout goes on from the journal's seq."""
    args = ["--resume"] + [a for c in commands for a in ("-c", c)]
    full_env = dict(os.environ, XDG_STATE_HOME=state_home, LC_ALL="C.UTF-8")
    full_env.pop("MISTRAL_API_KEY", None)
    full_env.update(env or {})
    proc = subprocess.run(lib.command(args), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, env=full_env, cwd=lib.tmpdir("cwd"), timeout=120)
    events = [json.loads(l) for l in proc.stdout.decode("utf-8").splitlines()]
    if first_seq is not None and events:
        eq(events[0]["seq"], first_seq, "the resumed session's first seq")
    for a, b in zip(events, events[1:]):
        eq(b["seq"], a["seq"] + 1, "seq goes on without a gap")
    return proc.returncode, events, proc.stderr.decode("utf-8", "replace")


# ---- offline ---------------------------------------------------------------------


@test
def offline_pipeline_killed_mid_step_resumes_with_the_same_entries():
    whole = run(["-c", PIPELINE, "-c", "/history c1"], profile=team())
    eq(whole.status, 0, "the uninterrupted run's exit status")
    # Step 2 (long) streams a word every 50 ms: the kill comes in its middle.
    state, seen = kill_when(["--deltas", "--offline-rate", "20", "-c", PIPELINE], STEP2_STREAMING, profile=team())
    path, before = read_journal(state)
    check(not of_type(before, "pattern.done"), "the pattern had not ended")
    status, events, stderr = resume(state, ["/retry", "/history c1"], first_seq=before[-1]["seq"] + 1)
    eq(status, 0, "exit status of the resumed session (stderr: %s)" % stderr)
    resumed = events[0]
    eq((resumed["type"], resumed["interrupted"]), ("session.resumed", ["r2"]), "session.resumed names the run cut off")
    eq(one(events, "run.interrupted")["run"], "r2", "run.interrupted")
    retry = [e for e in of_type(events, "run.started") if "retry_of" in e]
    eq([(e["retry_of"], e["agent"]) for e in retry], [("r2", "long")], "/retry goes on with r2")
    eq([(s["step"], s["status"]) for s in of_type(events, "pattern.step")],
       [("2", "done"), ("3", "started"), ("3", "done")], "the pattern goes on from step 2, not from the start")
    eq(one(events, "pattern.done")["status"], "done", "the pattern ends")
    eq(entries_of(events), entries_of(whole.events), "the same entries (and ids) as the uninterrupted run")
    path, journal = read_journal(state)
    no_entry_twice(journal)
    eq(journal[len(before):], events, "the resumed session appends to the same journal")


@test
def a_crash_during_the_retry_is_resumed_again():
    whole = run(["-c", PIPELINE, "-c", "/history c1"], profile=team())
    state, seen = kill_when(["--deltas", "--offline-rate", "20", "-c", PIPELINE], STEP2_STREAMING, profile=team())
    # The first resume is killed too, in the middle of the retried step.
    proc = subprocess.Popen(lib.command(["--resume", "--deltas", "--offline-rate", "20", "-c", "/retry"]),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=dict(os.environ, XDG_STATE_HOME=state, LC_ALL="C.UTF-8"), cwd=lib.tmpdir("cwd"))
    try:
        lib.read_until(proc, b'"type":"message.output.delta","conversation":"c1","agent":"long","run":"r3"',
                       timeout=60)
    finally:
        proc.kill()
        proc.communicate()
    status, events, stderr = resume(state, ["/retry", "/history c1"])
    eq(status, 0, "exit status (stderr: %s)" % stderr)
    eq(events[0]["interrupted"], ["r3"], "the retry of r2 is the run cut off now")
    eq([e["retry_of"] for e in of_type(events, "run.started") if "retry_of" in e], ["r3"], "/retry goes on with r3")
    eq(one(events, "pattern.done")["status"], "done", "the pattern ends")
    eq(entries_of(events), entries_of(whole.events), "the same entries as the uninterrupted run")
    no_entry_twice(read_journal(state)[1])


@test
def a_fanout_goes_on_with_the_branches_not_done():
    command = "/fanout researcher,long,analyst --into writer go"
    histories = [a for c in ("c1", "c2", "c3", "c4") for a in ("-c", "/history " + c)]
    whole = run(["-c", command] + histories, profile=team())
    eq(whole.status, 0, "the uninterrupted run's exit status")
    state, seen = kill_when(["--deltas", "--offline-rate", "20", "-c", command], b'"content":"word10 "',
                            profile=team())
    path, before = read_journal(state)
    eq(sorted(s["step"] for s in of_type(before, "pattern.step") if s["status"] == "done"), ["analyst", "researcher"],
       "two branches were done, long in flight")
    status, events, stderr = resume(state, ["/retry"] + histories[1::2])
    eq(status, 0, "exit status (stderr: %s)" % stderr)
    eq([e["agent"] for e in of_type(events, "run.started")], ["long", "writer"],
       "only long runs again, then the fan-in")
    fanin = [e for e in of_type(events, "message.input") if e["agent"] == "writer"][0]
    for label in ("## researcher (researcher)\nFACTS", "## long (long)\nword1", "## analyst (analyst)\nNUMBERS"):
        eq(fanin["content"].count(label), 1, "the fan-in gets %r once" % label)
    eq(entries_of(events), entries_of(whole.events), "the same entries in each conversation")
    no_entry_twice(read_journal(state)[1])


@test
def a_delegation_goes_on_with_the_subtasks_not_done():
    command = "/delegate manager write a market report"
    whole = run(["-c", command] + [a for c in ("c1", "c2", "c3", "c4") for a in ("-c", "/history " + c)],
                profile=team())
    eq(whole.status, 0, "the uninterrupted run's exit status")
    # facts finishes at once; essay (long) streams; report waits for both.
    state, seen = kill_when(["--deltas", "--offline-rate", "20", "-c", command],
                            b'"content":"word10 "', profile=team())
    path, before = read_journal(state)
    done = [s["step"] for s in of_type(before, "pattern.step") if s["status"] == "done"]
    eq(done, ["plan", "facts"], "the plan and facts were done, essay in flight")
    status, events, stderr = resume(state, ["/retry"] + ["/history " + c for c in ("c1", "c2", "c3", "c4")])
    eq(status, 0, "exit status (stderr: %s)" % stderr)
    started = [s["step"] for s in of_type(events, "pattern.step") if s["status"] == "started"]
    eq(started, ["report", "answer"], "only what was left runs: the report, then the manager's answer")
    check(not of_type(events, "pattern.started"), "the pattern is not started again")
    report = [e for e in of_type(events, "message.input") if e["agent"] == "writer"][0]
    contains(report["content"], "## facts (researcher)\nFACTS", "the report gets the facts done before the crash")
    contains(report["content"], "## essay (long)\nword1", "and the essay finished after it")
    eq(one(events, "pattern.done")["output"], "FINAL: the report is done.", "the manager answers")
    eq(entries_of(events), entries_of(whole.events), "the same entries in each conversation")
    no_entry_twice(read_journal(state)[1])


@test
def a_pattern_stopped_between_two_steps_starts_the_next_on_retry():
    whole = run(["-c", PIPELINE, "-c", "/history c1"], profile=team())
    first = run(["-c", PIPELINE], profile=team())
    path, journal = read_journal(first.state_home)
    # Cut the journal just after step 1's end: the stop came before step 2 began.
    cut = [i for i, e in enumerate(journal) if e["type"] == "pattern.step" and e["status"] == "done"][0]
    with open(path) as f:
        lines = f.read().split("\n")
    with open(path, "w") as f:
        f.write("\n".join(lines[:cut + 1]) + "\n")
    status, events, stderr = resume(first.state_home, ["/retry", "/history c1"], first_seq=cut + 2)
    eq(status, 0, "exit status (stderr: %s)" % stderr)
    eq(events[0]["interrupted"], [], "no run was in flight")
    waiting = of_type(events, "pattern.step")[0]
    eq((waiting["step"], waiting["status"]), ("2", "waiting"), "step 2 waits for /retry")
    eq([(s["step"], s["status"]) for s in of_type(events, "pattern.step")][1:],
       [("2", "started"), ("2", "done"), ("3", "started"), ("3", "done")], "then steps 2 and 3 run")
    eq(entries_of(events), entries_of(whole.events), "the same entries as the uninterrupted run")


@test
def function_calls_whose_results_were_lost_run_again():
    whole = run(["-c", "/start lookup the sky", "-c", "/history c1"], profile=team())
    eq(whole.status, 0, "exit status")
    # The kill comes while the function runs (it sleeps a second).
    state, seen = kill_when(["-c", "/start lookup the sky"], b'"type":"function.call"', profile=team())
    status, events, stderr = resume(state, ["/retry", "/history c1"])
    eq(status, 0, "exit status (stderr: %s)" % stderr)
    eq([e["type"] for e in events if e["type"].startswith(("function.", "message.", "run."))],
       ["run.interrupted", "run.started", "function.result", "message.output", "run.done"],
       "the call runs again, then the agent answers")
    eq(entries_of(events), entries_of(whole.events), "the same entries, the call's id kept")


@test
def resume_without_retry_only_rebuilds_and_retry_with_nothing_cut_off_fails():
    first = run(["-c", "/start researcher hello"], profile=team())
    eq(first.status, 0, "exit status")
    status, events, stderr = resume(first.state_home, ["/history", "/retry"])
    eq(status, 1, "exit status: /retry failed")
    eq(events[0]["type"], "session.resumed", "the first event")
    eq(events[0]["interrupted"], [], "nothing was cut off")
    eq([e["content"] for e in entries_of(events)["c1"]], ["hello", "FACTS: the market grew 5%."],
       "/history shows the conversation of the first run")
    contains(one(events, "error")["message"], "nothing to retry", "/retry says why it fails")
    contains(stderr, "nothing to retry", "and so does stderr")


@test
def resume_of_no_session_or_an_unknown_one_is_a_usage_error():
    r = lib.run_text(["--resume", "-c", "/retry"])
    eq(r[0], 2, "exit status with no session at all")
    contains(r[2], "no session has been journaled yet", "stderr")
    state = run(["-c", "/agent list"], profile=team()).state_home
    status, events, stderr = resume(state, ["/agent list"])  # fine: the newest
    eq(status, 0, "resume the newest")
    full_env = dict(os.environ, XDG_STATE_HOME=state)
    proc = subprocess.run(lib.command(["--resume", "20990101T000000Z-1", "-c", "/history"]), env=full_env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, timeout=60)
    eq(proc.returncode, 2, "exit status for an unknown session")
    contains(proc.stderr.decode(), 'no session "20990101T000000Z-1"', "stderr names it")
    r = lib.run_text(["--resume", "x", "--profile", lib.profile("support.json")])
    eq(r[0], 2, "a profile with --resume")
    contains(r[2], "takes the profile the session was recorded with", "stderr")


@test
def a_session_open_elsewhere_cannot_be_resumed():
    proc, state = lib.spawn(["--batch", "-"], profile=team(), stdin="pipe")
    try:
        proc.stdin.write(b"/start researcher hello\n")
        proc.stdin.flush()
        lib.read_until(proc, b'"type":"run.done"')
        status, events, stderr = resume(state, ["/history"])
        eq(status, 2, "exit status")
        contains(stderr, "another agentdeck has this session open", "stderr says why")
    finally:
        proc.stdin.close()
        lib.finish(proc)


# ---- the journal ---------------------------------------------------------------


@test
def a_torn_last_line_is_skipped_with_a_warning_and_cut_off():
    first = run(["-c", "/start researcher hello"], profile=team())
    path, journal = read_journal(first.state_home)
    size = os.path.getsize(path)
    with open(path, "ab") as f:
        f.write(b'{"seq":%d,"ts":"2026-11-22T19:23:14.6' % (len(journal) + 1))
    status, events, stderr = resume(first.state_home, ["/history"], first_seq=len(journal) + 1)
    eq(status, 0, "exit status")
    warning = "%s: the last line (from byte %d) was cut off" % (path, size)
    contains(stderr, warning, "stderr names the file and the byte offset")
    contains(one(events, "warning")["message"], warning, "and so does a warning event")
    eq(events[0]["events"], len(journal), "every whole event was read back")
    eq(entries_of(events)["c1"][-1]["content"], "FACTS: the market grew 5%.", "nothing received is lost")
    path, after = read_journal(first.state_home)  # every line whole, seq without a gap
    eq(after[:len(journal)], journal, "the events before the torn line are kept as they were")


@test
def a_whole_last_line_without_its_newline_is_kept():
    first = run(["-c", "/start researcher hello"], profile=team())
    path, journal = read_journal(first.state_home)
    with open(path, "rb+") as f:
        f.truncate(os.path.getsize(path) - 1)
    status, events, stderr = resume(first.state_home, ["/history"], first_seq=len(journal) + 1)
    eq(status, 0, "exit status")
    eq(stderr, "", "no warning")
    eq(events[0]["events"], len(journal), "the last event counts")
    path, after = read_journal(first.state_home)
    eq(after[:len(journal)], journal, "it gets its newline back")


@test
def the_journal_records_the_session_and_its_profile():
    first = run(["-c", "/start researcher hello"], profile=team())
    folder = os.path.dirname(lib.journals(first.state_home)[0])
    with open(os.path.join(folder, "session.json")) as f:
        meta = json.load(f)
    eq((meta["session"], meta["backend"], meta["profile_name"]), (os.path.basename(folder), "offline", "durable"),
       "session.json")
    check("ended" in meta, "a clean end is recorded: %s" % meta)
    with open(os.path.join(folder, "profile.json")) as f:
        eq(json.load(f), TEAM, "profile.json is a copy of the profile")


@test
def sessions_lists_each_session_and_how_it_ended():
    clean = run(["-c", "/start researcher hello"], profile=team())
    state = clean.state_home
    # A second session in the same state folder, killed in the middle of a run.
    env = dict(os.environ, XDG_STATE_HOME=state, LC_ALL="C.UTF-8")
    proc = subprocess.Popen(lib.command(["--profile", team(), "--deltas", "--offline-rate", "20", "-c",
                                         "/start long go"]), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)
    try:
        lib.read_until(proc, b'"type":"message.output.delta"')
    finally:
        proc.kill()
        proc.communicate()
    status, events, stderr = run(["-c", "/sessions"], state_home=state)
    eq(status, 0, "exit status")
    sessions = one(events, "session.list")["sessions"]
    eq(len(sessions), 3, "three sessions: %s" % sessions)
    by_state = sorted((s.get("current", False), s["clean"], s["interrupted"], s["conversations"]) for s in sessions)
    eq(by_state, [(False, False, 1, 1), (False, True, 0, 1), (True, False, 0, 0)],
       "clean, killed with a run in flight, and this one")
    for s in sessions:
        check(s.get("current") or s["profile"].endswith("durable.json"), "the profile: %s" % s)
        check(lib.RFC3339_UTC.match(s["started"]), "the start time: %s" % s)


# ---- on the fake Mistral server --------------------------------------------------


def mistral_run(args, **kw):
    return SERVER.run(args, profile=team(), **kw)


@test
def mistral_pipeline_killed_mid_step_picks_up_what_the_server_finished():
    SERVER.reset(script=lib.offline_script_of(TEAM))
    whole = mistral_run(["-c", PIPELINE, "-c", "/history c1"])
    eq(whole.status, 0, "the uninterrupted run's exit status")
    # Step 2's answer stalls after its first piece: the server has the
    # whole turn stored, the client has only the piece when it is killed.
    SERVER.reset(script=lib.offline_script_of(TEAM), faults=[{
        "match": {"method": "POST", "path": "^/v1/conversations$", "body": "Step 2 of 3", "stream": True},
        "fault": "stall", "after": 2, "seconds": 30}])
    state, seen = kill_when(["--backend", "mistral", "--base-url", SERVER.url, "--deltas", "-c", PIPELINE],
                            b'"type":"message.output.delta","conversation":"c1","agent":"long","run":"r2"',
                            profile=team(), env={"MISTRAL_API_KEY": FakeMistral.KEY})
    status, events, stderr = resume(state, ["/retry", "/history c1"], env={"MISTRAL_API_KEY": FakeMistral.KEY})
    eq(status, 0, "exit status (stderr: %s)" % stderr)
    eq(events[0]["interrupted"], ["r2"], "r2 was cut off")
    requests = SERVER.requests()
    step2 = [r for r in requests if r["method"] == "POST" and r["path"].startswith("/v1/conversations") and
             r["body"]["inputs"][-1]["content"].startswith("Step 2 of 3")]
    eq(len(step2), 1, "step 2's request went to the server once, not again")
    history = [r for r in requests if r["method"] == "GET" and r["path"].endswith("/history")]
    eq(len(history), 1, "the server conversation's history was read")
    out = [e for e in of_type(events, "message.output") if e["agent"] == "long"]
    eq(len(out), 1, "long's reply, as the server finished it")
    check(out[0]["content"].endswith("END."), "the whole reply: %s" % out[0]["content"][-40:])
    piece = [json.loads(l) for l in seen if b'"agent":"long","run":"r2"' in l and b"delta" in l][0]
    eq(out[0]["entry_id"], piece["entry_id"], "with the server's id of the piece seen before the crash")
    eq(one(events, "pattern.done")["status"], "done", "the pattern ends")
    eq(without_ids(entries_of(events)["c1"]), without_ids(entries_of(whole.events)["c1"]),
       "the same entries as the uninterrupted run")
    ids = [e["entry_id"] for e in entries_of(events)["c1"]]
    eq(len(ids), len(set(ids)), "no entry twice")
    no_entry_twice(read_journal(state)[1])
    eq(SERVER.rejections(), [], "requests the fake server rejected as off-spec")


@test
def mistral_request_that_never_reached_the_server_is_sent():
    SERVER.reset(script=lib.offline_script_of(TEAM))
    whole = mistral_run(["-c", "/start researcher hello", "-c", "say more", "-c", "/history c1"])
    eq(whole.status, 0, "exit status")
    # The append waits 30 s before the server looks at it: killed meanwhile,
    # it never reached the server's conversation.
    SERVER.reset(script=lib.offline_script_of(TEAM), faults=[{
        "match": {"method": "POST", "path": "^/v1/conversations/conv_", "body": "say more"},
        "fault": "latency", "ms": 30000}])
    state, seen = kill_when(["--backend", "mistral", "--base-url", SERVER.url, "-c", "/start researcher hello",
                             "-c", "say more"], b'"run":"r2"', profile=team(),
                            env={"MISTRAL_API_KEY": FakeMistral.KEY})
    SERVER.control("DELETE", "/_fake/faults")
    status, events, stderr = resume(state, ["/retry", "/history c1"], env={"MISTRAL_API_KEY": FakeMistral.KEY})
    eq(status, 0, "exit status (stderr: %s)" % stderr)
    eq(without_ids(entries_of(events)["c1"]), without_ids(entries_of(whole.events)["c1"]), "the same entries")
    eq(SERVER.rejections(), [], "requests the fake server rejected as off-spec")


# ---- replay without a terminal -----------------------------------------------------


@test
def replay_writes_the_recorded_events_to_stdout():
    first = run(["--deltas", "--offline-rate", "200", "-c", "/start long go"], profile=team())
    path = lib.journals(first.state_home)[0]
    with open(path) as f:
        recorded = f.read()
    session = os.path.basename(os.path.dirname(path))
    for name in (session, path, os.path.dirname(path)):
        r = run(["--replay", name, "--speed", "1000"], state_home=first.state_home)
        eq(r.status, 0, "exit status for --replay %s" % name)
        eq(r.stdout, recorded, "the journal's lines, byte for byte, for --replay %s" % name)
    eq(lib.journals(first.state_home), [path], "a replay writes no journal of its own")


@test
def replay_keeps_the_pace_and_cuts_long_idle_gaps():
    first = run(["-c", "/start researcher hello"], profile=team())
    path, journal = read_journal(first.state_home)
    # Three events ten seconds apart: the gaps count as 2 s each, halved by --speed 2.
    lines = []
    for i, e in enumerate(journal[:3]):
        e = dict(e, ts="2026-11-22T10:00:%02d.000Z" % (i * 10))
        lines.append(json.dumps(e, separators=(",", ":")))
    folder = lib.tmpdir("replay")
    with open(os.path.join(folder, "events.jsonl"), "w") as f:
        f.write("\n".join(lines) + "\n")
    r = run(["--replay", os.path.join(folder, "events.jsonl"), "--speed", "2"])
    eq(r.status, 0, "exit status")
    eq([e["seq"] for e in r.events], [1, 2, 3], "the three events")
    check(1.9 <= r.elapsed < 9, "two gaps of 10 s played as 1 s each: took %.1f s" % r.elapsed)


@test
def replay_of_a_missing_session_or_a_bad_speed_is_a_usage_error():
    r = lib.run_text(["--replay", "20990101T000000Z-1"])
    eq(r[0], 2, "exit status")
    contains(r[2], 'no session "20990101T000000Z-1"', "stderr")
    r = lib.run_text(["--replay", "x", "--speed", "0"])
    eq(r[0], 2, "exit status for --speed 0")
    contains(r[2], "--speed: \"0\" is not a number from 0.125 to 1000", "stderr")
    r = lib.run_text(["--replay", "x", "-c", "/help"])
    eq(r[0], 2, "exit status with -c")
    contains(r[2], "--replay only plays a session back", "stderr")


def main():
    error = SERVER.start()
    if error is None or not error.startswith("http"):
        # No spec or no PyYAML: the Mistral tests skip, the others run.
        for i, (name, fn, todo) in enumerate(lib._tests):
            if name.startswith("mistral_"):
                def skipped(why=error or "the fake server cannot run (no spec)"):
                    raise lib.Skip(why)
                lib._tests[i] = (name, skipped, todo)
    try:
        lib.main()
    finally:
        SERVER.stop()


if __name__ == "__main__":
    main()
