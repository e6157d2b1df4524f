#!/usr/bin/env python3
"""The manual page doc/agentdeck.1 keeps step with the program: every option
of `agentdeck --help` is in it and it describes no option the program lacks,
every environment variable the code reads is in its ENVIRONMENT section,
and groff renders it without a warning."""

import os
import re
import shutil
import subprocess
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import lib  # noqa: E402
from lib import check, eq, run_text, test  # noqa: E402

MANPAGE = lib.srcpath("doc", "agentdeck.1")


def page_text():
    """The page's source with roff's escapes for - and fonts taken out."""
    with open(MANPAGE, encoding="utf-8") as f:
        text = f.read()
    return re.sub(r"\\f[BIRP]", "", text.replace("\\-", "-").replace("\\&", ""))


def section(text, name):
    """The source of section .SH NAME, up to the next .SH."""
    m = re.search(r'^\.SH "?%s"?\n(.*?)(?=^\.SH )' % re.escape(name), text, re.M | re.S)
    check(m, "the page has no %s section" % name)
    return m.group(1)


def help_options():
    status, out, err = run_text(["--help"])
    eq(status, 0, "agentdeck --help")
    longs = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", out))
    shorts = set(re.findall(r"(?<![\w-])-[a-zA-Z](?=[ ,])", out))
    check(len(longs) > 15, "the long options of --help: %s" % sorted(longs))
    return longs, shorts


@test
def every_option_of_help_is_in_the_page_and_no_other():
    longs, shorts = help_options()
    options = section(page_text(), "OPTIONS")
    in_page = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", options))
    eq(sorted(longs - in_page), [], "options of --help missing from the page's OPTIONS")
    eq(sorted(in_page - longs), [], "options in the page's OPTIONS that --help does not have")
    for short in shorts:
        check(re.search(r"(?<![\w-])%s\b" % re.escape(short), options), "%s is not in the page's OPTIONS" % short)


@test
def every_environment_variable_the_code_reads_is_in_the_page():
    names = set()
    for folder, _, files in os.walk(lib.srcpath("src")):
        for name in files:
            if name.endswith(".c"):
                with open(os.path.join(folder, name), encoding="utf-8") as f:
                    names.update(re.findall(r'getenv\("([A-Z_]+)"\)', f.read()))
    check("MISTRAL_API_KEY" in names and "XDG_STATE_HOME" in names, "variables found in src/: %s" % sorted(names))
    environment = section(page_text(), "ENVIRONMENT")
    missing = sorted(n for n in names if not re.search(r"\b%s\b" % n, environment))
    eq(missing, [], "variables read in src/ but not in the page's ENVIRONMENT")


@test
def the_page_names_the_files_and_the_export_formats():
    text = page_text()
    files = section(text, "FILES")
    for path in ("agentdeck/config.json", "sessions/SESSION-ID/events.jsonl", "agentdeck/history",
                 "agentdeck/themes/", "agentdeck/profiles/"):
        check(path in files, "FILES names %s" % path)
    commands = section(text, "COMMANDS")
    check(re.search(r'/export md" \| json \| jsonl', commands), "COMMANDS has /export md|json|jsonl")


@test
def groff_renders_it_without_warnings():
    if not shutil.which("groff"):
        raise lib.Skip("groff is not installed")
    proc = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", MANPAGE], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, env=dict(os.environ, LC_ALL="C.UTF-8"))
    eq(proc.returncode, 0, "groff's exit status")
    eq(proc.stderr.decode("utf-8", "replace"), "", "groff's warnings")
    proc = subprocess.run(["groff", "-man", "-Tutf8", MANPAGE], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          env=dict(os.environ, LC_ALL="C.UTF-8"))
    rendered = re.sub(r".\x08", "", proc.stdout.decode("utf-8", "replace"))
    check("--handoff-execution=server|client" in rendered and "AGENTDECK(1)" in rendered,
          "the rendered page:\n" + rendered[:2000])


if __name__ == "__main__":
    lib.main()
