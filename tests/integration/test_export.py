#!/usr/bin/env python3
"""/export md|json|jsonl FILE, offline and against the fake Mistral server:
the transcript holds the agents, handoffs, tool calls and usage and nothing
a terminal would obey; the json export is each conversation's history in
the shape of Mistral's ConversationHistory (checked against the OpenAPI
spec); the jsonl export is the session's events; the key is in none of
them; a bad format or path is refused and leaves the file as it was."""

import json
import os
import re
import stat
import sys

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import lib  # noqa: E402
from lib import FakeMistral, check, contains, eq, of_type, offline_script, one, run, test, types  # noqa: E402

KEY = "sk-test-SECRET"
SERVER = FakeMistral()
SERVER.KEY = KEY
ECB_2023 = "What was the ECB interest rate in 2023?"
CHARGED_TWICE = "Why was I charged twice?"

# Model output a terminal would obey, and Markdown that would take the transcript over.
HOSTILE = ("Hello\x1b[2J\x1b]52;c;cHduZWQ=\x07 there \u202eevil\u202c\r\n"
           "```\n# injected heading\n<script>alert(1)</script>\n````` [link](javascript:x) | a | b |")


def export_all(args, folder, profile, runner=run, extra=()):
    """Runs the commands of args, then the three exports into folder; returns
    the result and the three files' texts."""
    paths = {fmt: os.path.join(folder, "session." + fmt) for fmt in ("md", "json", "jsonl")}
    commands = []
    for a in args:
        commands += ["-c", a]
    for fmt in ("md", "json", "jsonl"):
        commands += ["-c", "/export %s %s" % (fmt, paths[fmt])]
    result = runner(list(extra) + commands, profile=profile)
    eq(result.status, 0, "exit status (stderr: %s)" % result.stderr)
    texts = {}
    for fmt, path in paths.items():
        with open(path, encoding="utf-8") as f:
            texts[fmt] = f.read()
    return result, texts


def outside_fences(md):
    """The lines of md that are not inside a fenced code block."""
    out, fence = [], None
    for line in md.split("\n"):
        if fence is None:
            m = re.match(r"^(`{3,})", line)
            if m:
                fence = m.group(1)
            else:
                out.append(line)
        elif re.match(r"^`{%d,}\s*$" % len(fence), line):
            fence = None
    check(fence is None, "a fence left open at the end of the transcript")
    return out


UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def check_markdown_is_safe(md):
    bad = UNSAFE.search(md)
    check(not bad, "a control or bidi character in the transcript: %r near %r" %
          (bad and bad.group(0), bad and md[max(0, bad.start() - 30):bad.start() + 10]))
    for line in outside_fences(md):
        if line.startswith("#"):
            check(re.match(r"^(# agentdeck session |## (Agents|Conversation |Runs)|### )", line),
                  "a heading the transcript did not make: %r" % line)
        check(not re.search(r"(?<!\\)<", line), "unescaped HTML outside the blocks: %r" % line)
        check("injected" not in line and "<script>" not in line, "model text escaped its block: %r" % line)


def spec_validator():
    """validate(history) -> errors, with the OpenAPI spec's ConversationHistory; None without the spec."""
    sys.path.insert(0, lib.srcpath("tests", "fakeapi"))
    try:
        import server  # noqa: F401  (finds the spec as the fake server does)
        from spec import Spec
    except (ImportError, SystemExit):
        return None
    path = server.default_spec_path()
    if not os.path.exists(path):
        return None
    spec = Spec(path)
    return lambda history: spec.validate_body("ConversationHistory", history)


VALIDATE = spec_validator()


def check_histories(doc, backend):
    eq(sorted(doc), ["backend", "conversations", "exported_at", "session"], "the export's keys")
    eq(doc["backend"], backend, "backend")
    check(doc["conversations"], "at least one conversation")
    for conv in doc["conversations"]:
        history = conv["history"]
        eq(history["object"], "conversation.history", "object")
        for e in history["entries"]:
            eq(e["object"], "entry", "each entry is a Mistral entry object")
        if VALIDATE is None:
            raise lib.Skip("the OpenAPI spec (../shared/api) or PyYAML/jsonschema is missing")
        errors = VALIDATE(history)
        eq(errors, [], "%s's history against the spec's ConversationHistory" % conv["conversation"])


def journal_lines(result):
    files = lib.journals(result.state_home)
    eq(len(files), 1, "one journal")
    with open(files[0], encoding="utf-8") as f:
        return f.read().splitlines()


@test
def offline_function_call_and_handoff_in_all_three_formats():
    folder = lib.tmpdir("out")
    result, texts = export_all(["/start finance " + ECB_2023], folder, "finance.json")
    exports = of_type(result.events, "export")
    eq([(e["format"], e["path"]) for e in exports],
       [(f, os.path.join(folder, "session." + f)) for f in ("md", "json", "jsonl")], "an export event each")
    eq([e["bytes"] for e in exports], [len(texts[f].encode("utf-8")) for f in ("md", "json", "jsonl")], "bytes")
    md = texts["md"]
    for part in ("# agentdeck session ", "- Backend: offline (scripted)", "### finance", "### ecb",
                 "- Hands off to: ecb", "- Tools: function get\\_interest\\_rate", "## Conversation c1",
                 "### 1. You to finance", ECB_2023, "### 2. Handoff: finance \u2192 ecb",
                 "### 3. ecb calls get\\_interest\\_rate", '"year": "2023"', "### 4. Result of get\\_interest\\_rate",
                 '"rate": "4.50%"', "### 5. ecb answers", "4.50%", "## Runs", "| r1 | c1 | ecb | done | 3 |"):
        contains(md, part, "the transcript")
    done = one(result.events, "run.done")
    contains(md, "- Usage: %d prompt + %d completion = %d tokens" % (
        done["usage"]["prompt_tokens"], done["usage"]["completion_tokens"], done["usage"]["total_tokens"]),
        "the conversation's usage")
    check_markdown_is_safe(md)

    doc = json.loads(texts["json"])
    check_histories(doc, "offline")
    conv = doc["conversations"][0]
    eq((conv["conversation"], conv["agent"], conv["history"]["conversation_id"]), ("c1", "ecb", "c1"),
       "offline: agentdeck's conversation id")
    entries = conv["history"]["entries"]
    eq([e["type"] for e in entries], ["message.input", "agent.handoff", "function.call", "function.result",
                                      "message.output"], "entries")
    call = entries[2]
    eq((call["name"], json.loads(call["arguments"]), call["agent_id"]), ("get_interest_rate", {"year": "2023"}, "ecb"),
       "the call; an offline agent's id is its name")
    eq(entries[3]["tool_call_id"], call["tool_call_id"], "the result answers the call")
    eq((entries[1]["previous_agent_name"], entries[1]["next_agent_name"]), ("finance", "ecb"), "handoff")
    eq([e["id"] for e in entries], [e["entry_id"] for e in result.events if "entry_id" in e and
                                    e["type"] != "message.output.delta"], "entry ids as the events gave them")

    lines = texts["jsonl"].splitlines()
    eq(lines, journal_lines(result)[:len(lines)], "the jsonl export is the journal as it was")
    eq(lines, result.stdout.splitlines()[:len(lines)], "...and the events batch mode printed")
    eq(types([json.loads(l) for l in lines])[-2:], ["export", "export"], "up to the exports before it")


@test
def a_branch_is_exported_with_its_parent():
    folder = lib.tmpdir("out")
    result, texts = export_all(["/start cs " + CHARGED_TWICE, "/restart msg_0001 And the invoice?"], folder,
                               "support.json")
    doc = json.loads(texts["json"])
    check_histories(doc, "offline")
    eq([(c["conversation"], c.get("parent"), c.get("from_entry")) for c in doc["conversations"]],
       [("c1", None, None), ("c2", "c1", "msg_0001")], "the conversations and the branch")
    contains(texts["md"], "## Conversation c2\n\n- Held by: ", "the branch in the transcript")
    contains(texts["md"], "- Branched from: c1 at `msg_0001`", "where it branched")
    check_markdown_is_safe(texts["md"])


@test
def hostile_model_text_is_sanitized_in_the_transcript():
    profile = lib.write_profile({"agents": [
        {"name": "evil", "model": "m", "description": "<b>bold</b> | \x1b[31mred", "offline": [{"say": HOSTILE}]}]})
    folder = lib.tmpdir("out")
    result, texts = export_all(["/start evil hi `there`"], folder, profile)
    md = texts["md"]
    check_markdown_is_safe(md)
    contains(md, "- Description: \\<b\\>bold\\</b\\> \\| ^\\[\\[31mred", "the description escaped")
    contains(md, "Hello^[[2J^[]52;c;cHduZWQ=^G there <U+202E>evil<U+202C>^M\n", "controls shown as text in the block")
    contains(md, "``````text\n", "a fence longer than the reply's own backticks")
    # The json export keeps the text as it was: JSON escapes it.
    out = json.loads(texts["json"])["conversations"][0]["history"]["entries"][-1]
    eq(out["content"], HOSTILE, "the json export's content")
    check_histories(json.loads(texts["json"]), "offline")


@test
def bad_formats_and_paths_are_refused():
    folder = lib.tmpdir("out")
    target = os.path.join(folder, "t.md")
    cases = [
        ("/export csv " + target, '/export: unknown format "csv" (expected md, json or jsonl)'),
        ("/export md " + folder, "/export md: %s is a folder: give a file name" % folder),
        ("/export md /nonexistent/dir/t.md",
         "/export md: /nonexistent/dir/t.md: cannot write: No such file or directory"),
        ("/export json", "/export: missing argument (usage: /export md|json|jsonl FILE)"),
    ]
    for command, message in cases:
        status, events, stderr = run(["-c", command], profile="support.json")
        eq(status, 1, "exit status of %s" % command)
        eq(one(events, "error")["message"], message, "the error of %s" % command)
    eq(os.listdir(folder), [], "nothing written, no temporary file left")


@test
def an_existing_file_is_replaced_whole_and_keeps_its_mode():
    folder = lib.tmpdir("out")
    target = os.path.join(folder, "t.md")
    with open(target, "w") as f:
        f.write("old\n" * 10000)
    os.chmod(target, 0o640)
    link = os.path.join(folder, "link.md")
    os.symlink("t.md", link)
    status, events, stderr = run(["-c", "/start cs " + CHARGED_TWICE, "-c", "/export md " + link],
                                 profile="support.json")
    eq(status, 0, "exit status")
    check(os.path.islink(link), "the link is still a link")
    with open(target) as f:
        text = f.read()
    check(text.startswith("# agentdeck session ") and "old" not in text, "the file replaced whole")
    eq(stat.S_IMODE(os.stat(target).st_mode), 0o640, "its mode kept")
    eq(sorted(os.listdir(folder)), ["link.md", "t.md"], "no temporary file left")
    status, events, stderr = run(["-c", "/export json " + os.path.join(folder, "new.json")], profile="support.json")
    eq(stat.S_IMODE(os.stat(os.path.join(folder, "new.json")).st_mode), 0o600, "a new export is private")


@test
def without_a_journal_jsonl_is_refused_and_md_says_the_runs_are_unknown():
    folder = lib.tmpdir("out")
    status, events, stderr = run(["--no-journal", "--keep-going", "-c", "/start cs " + CHARGED_TWICE,
                                  "-c", "/export jsonl " + os.path.join(folder, "e.jsonl"),
                                  "-c", "/export md " + os.path.join(folder, "t.md")], profile="support.json")
    eq(status, 1, "exit status")
    message = one(events, "error")["message"]
    check(message.startswith("this session has no journal to read the events from (") and
          message.endswith("was agentdeck started with --no-journal?)"), "the error: %s" % message)
    with open(os.path.join(folder, "t.md")) as f:
        contains(f.read(), "## Runs\n\nNot known: this session has no journal", "the transcript")
    eq(sorted(os.listdir(folder)), ["t.md"], "no jsonl written")


def needs_server():
    if not SERVER.url:
        raise lib.Skip("the fake Mistral server cannot run here (no OpenAPI spec beside the repository)")


def server_agents():
    import urllib.request
    req = urllib.request.Request(SERVER.url + "/v1/agents?page_size=100", headers={"Authorization": "Bearer " + KEY})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read().decode("utf-8"))


def check_no_key(result, texts):
    for fmt, text in texts.items():
        check(KEY not in text, "the key is in the %s export" % fmt)
    check(KEY not in result.stdout and KEY not in result.stderr, "the key in the output")
    for path in lib.journals(result.state_home):
        with open(path, encoding="utf-8") as f:
            check(KEY not in f.read(), "the key in the journal")


@test
def mistral_exports_hold_the_server_ids_and_never_the_key():
    needs_server()
    SERVER.reset(script=offline_script("support.json", "finance.json"))
    folder = lib.tmpdir("out")
    result, texts = export_all(["/start finance " + ECB_2023], folder, "finance.json",
                               runner=lambda args, profile: SERVER.run(args, profile=profile, key=KEY))
    check_no_key(result, texts)
    doc = json.loads(texts["json"])
    check_histories(doc, "mistral")
    conv = doc["conversations"][0]
    check(conv["server_conversation"].startswith("conv_"), "the server conversation: %s" % conv)
    eq(conv["history"]["conversation_id"], conv["server_conversation"], "one server conversation: its id")
    agents = {a["name"]: a["id"] for a in server_agents()}
    call = [e for e in conv["history"]["entries"] if e["type"] == "function.call"][0]
    eq(call["agent_id"], agents["ecb"], "the agent's id on the server")
    handoff = [e for e in conv["history"]["entries"] if e["type"] == "agent.handoff"][0]
    eq((handoff["previous_agent_id"], handoff["next_agent_id"]), (agents["finance"], agents["ecb"]), "handoff ids")
    md = texts["md"]
    check_markdown_is_safe(md)
    contains(md, "- Server conversation: `%s`" % conv["server_conversation"], "the transcript names it")
    contains(md, "- Backend: mistral", "backend")
    eq(texts["jsonl"].splitlines(), result.stdout.splitlines()[:len(texts["jsonl"].splitlines())], "jsonl")
    eq(SERVER.rejections(), [], "requests the fake server rejected as off-spec")


@test
def mistral_another_agent_takes_the_conversation_on():
    needs_server()
    SERVER.reset(script=offline_script("support.json"))
    folder = lib.tmpdir("out")
    result, texts = export_all(["/start cs " + CHARGED_TWICE, "@sales And what plans do you sell?"], folder,
                               "support.json", runner=lambda args, profile: SERVER.run(args, profile=profile, key=KEY))
    check_no_key(result, texts)
    doc = json.loads(texts["json"])
    check_histories(doc, "mistral")
    conv = doc["conversations"][0]
    switched = [e for e in of_type(result.events, "conversation.started") if e.get("server_parent")]
    eq(len(switched), 1, "a second server conversation for sales")
    eq(conv["server_conversation"], switched[0]["server_conversation"], "the latest server conversation")
    eq(conv["history"]["conversation_id"], "c1", "two server conversations: agentdeck's id for the whole")
    contains(texts["md"], "sales answers", "the transcript")


if __name__ == "__main__":
    SERVER.start()
    try:
        lib.main()
    finally:
        SERVER.stop()
