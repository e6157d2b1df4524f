#!/usr/bin/env python3
"""A tiny TAP harness for agentdeck's integration tests (Python 3, stdlib only).

The tests run the real binary in batch mode and look at what it prints:
stdout must be a stream of JSON events, one object a line, each with seq, ts
and type; diagnostics go to stderr.

Usage in a test file:

    import lib
    from lib import test, run, eq, check

    @test
    def something():
        status, events, stderr = run(["-c", "/agent list"], profile="support.json")
        eq(status, 0, "exit status")

    if __name__ == "__main__":
        lib.main()

Environment (set by `make check`, all optional):
  AGENTDECK    the binary to test (default: ./agentdeck in the current folder)
  AGENTDECK_WRAPPER  a command line to run it under, e.g. "valgrind -q
               --error-exitcode=99" (split like a shell would)
  top_srcdir   the source tree, to find profiles/ (default: srcdir, then the
  srcdir       repository that holds this file)

Every run gets a fresh temporary XDG_STATE_HOME, an empty XDG_CONFIG_HOME
(so that no config.json of the user's changes what is tested) and a
temporary working folder, so the journal never lands in the source or build
tree. Under
`make distcheck` the source tree is read-only and separate from the build
tree: nothing here writes into it or assumes that it is the current folder.

The script prints `1..N`, then `ok N - name` or `not ok N - name` with the
failure as `# ...` lines, and exits 0 even when tests fail: automake's TAP
driver counts the failures.
"""

import json
import os
import re
import resource
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback

sys.dont_write_bytecode = True

HERE = os.path.dirname(os.path.abspath(__file__))

# ---- where things are ------------------------------------------------------


def _find_top_srcdir():
    """The source tree: $top_srcdir, then $srcdir, then the repository of
    this file; the first that holds profiles/. Relative paths are relative to
    the current folder (the build folder under make)."""
    candidates = [os.environ.get("top_srcdir"), os.environ.get("srcdir"), os.path.join(HERE, "..", "..")]
    for c in candidates:
        if c and os.path.isdir(os.path.join(c, "profiles")):
            return os.path.abspath(c)
    return os.path.abspath(os.path.join(HERE, "..", ".."))


TOP_SRCDIR = _find_top_srcdir()
AGENTDECK = os.path.abspath(os.environ.get("AGENTDECK") or "agentdeck")
WRAPPER = shlex.split(os.environ.get("AGENTDECK_WRAPPER") or "")


def command(args):
    """The argv that runs agentdeck with args, under the wrapper if any."""
    return WRAPPER + [AGENTDECK] + list(args)


def srcpath(*parts):
    """An absolute path inside the source tree (read-only: never write there)."""
    return os.path.join(TOP_SRCDIR, *parts)


def profile(name):
    """The absolute path of a profile shipped in profiles/."""
    return srcpath("profiles", name)


_shipped_profile = profile  # run() has a parameter of that name


# ---- temporary files -------------------------------------------------------

_tmp_root = None


def tmpdir(prefix="t"):
    """A new empty temporary folder, removed when the script ends."""
    global _tmp_root
    if _tmp_root is None:
        _tmp_root = tempfile.mkdtemp(prefix="agentdeck-it-")
    return tempfile.mkdtemp(prefix=prefix + "-", dir=_tmp_root)


def write_file(name, text, mode=None):
    """Writes text to NAME in a new temporary folder; returns its absolute path."""
    path = os.path.join(tmpdir("file"), name)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    if mode is not None:
        os.chmod(path, mode)
    return path


def write_profile(obj, name="profile.json"):
    """Writes a profile (a dict, or JSON text as is) to a temporary folder."""
    text = obj if isinstance(obj, str) else json.dumps(obj, indent=2)
    return write_file(name, text)


def _cleanup():
    if _tmp_root is not None:
        shutil.rmtree(_tmp_root, ignore_errors=True)


# ---- failures ----------------------------------------------------------------


class Failure(Exception):
    """A test failed: the message says what was expected and what came."""


class Skip(Exception):
    """A test cannot run here (raise Skip("why")): TAP's # SKIP."""


def check(cond, message):
    if not cond:
        raise Failure(message)


def eq(got, expected, what):
    if got != expected:
        raise Failure("%s: expected %s, got %s" % (what, _show(expected), _show(got)))


def contains(text, part, what):
    if not isinstance(text, str) or part not in text:
        raise Failure("%s: expected it to contain %s, got %s" % (what, _show(part), _show(text)))


def _show(value):
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 2000 else text[:2000] + "..."


# ---- running the binary ------------------------------------------------------

# RFC 3339 in UTC with milliseconds (doc/events.md): 2026-11-22T19:23:14.644Z
RFC3339_UTC = re.compile(r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:[0-5]\d\.\d{3}Z$")


class Result(tuple):
    """(status, events, stderr), with more as attributes: stdout (the text),
    state_home (the XDG_STATE_HOME of the run), cwd (its working folder),
    elapsed (seconds), cpu (the CPU seconds, user + system, that agentdeck
    and the children it reaped used; with a wrapper, the wrapper's too) and
    args."""

    def __new__(cls, status, events, stderr, **extra):
        self = tuple.__new__(cls, (status, events, stderr))
        self.__dict__.update(extra)
        return self

    status = property(lambda self: self[0])
    events = property(lambda self: self[1])
    stderr = property(lambda self: self[2])

    def stderr_lines(self):
        return self.stderr.splitlines()

    def describe(self):
        out = ["command: %s" % " ".join(_shell_quote(a) for a in command(self.args)),
               "exit status: %s" % self.status]
        out.append("stderr:" + ("" if self.stderr else " (empty)"))
        out.extend("  " + l for l in self.stderr.splitlines()[:20])
        out.append("stdout:" + ("" if self.stdout else " (empty)"))
        for l in self.stdout.splitlines()[:40]:
            out.append("  " + (l if len(l) <= 300 else l[:300] + "..."))
        return out


def _shell_quote(s):
    return s if re.match(r"^[\w@%+=:,./-]+$", s) else "'" + s.replace("'", "'\\''") + "'"


_runs = []  # the runs of the current test, shown when it fails


def parse_events(stdout, what="stdout"):
    """Parses stdout: every line must be a JSON object whose first keys are
    seq (an integer), ts (an RFC 3339 UTC time with milliseconds) and type (a
    string), with no null field, and seq must count 1, 2, 3... Raises Failure
    otherwise."""
    events = []
    lines = stdout.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    elif stdout:
        raise Failure("%s does not end with a newline: %s" % (what, _show(lines[-1])))
    for n, line in enumerate(lines, 1):
        try:
            ev = json.loads(line)
        except ValueError as e:
            raise Failure("%s line %d is not JSON (%s): %s" % (what, n, e, _show(line)))
        check(isinstance(ev, dict), "%s line %d is not a JSON object: %s" % (what, n, _show(line)))
        for key in ("seq", "ts", "type"):
            check(key in ev, "%s line %d has no %s: %s" % (what, n, key, _show(line)))
        check(isinstance(ev["seq"], int) and not isinstance(ev["seq"], bool),
              "%s line %d: seq is not an integer: %s" % (what, n, _show(line)))
        check(isinstance(ev["type"], str) and ev["type"],
              "%s line %d: type is not a non-empty string: %s" % (what, n, _show(line)))
        check(isinstance(ev["ts"], str) and RFC3339_UTC.match(ev["ts"]),
              "%s line %d: ts is not an RFC 3339 UTC time: %s" % (what, n, _show(ev["ts"])))
        eq(list(ev)[:3], ["seq", "ts", "type"], "%s line %d: the first three keys" % (what, n))
        nulls = [k for k, v in ev.items() if v is None]
        check(not nulls, "%s line %d: null fields %s (a field that does not apply is left out)" % (what, n, nulls))
        eq(ev["seq"], n, "%s line %d: seq" % (what, n))
        events.append(ev)
    return events


def _children_cpu():
    """CPU seconds (user + system) of this process's reaped children so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(args, stdin=None, env=None, timeout=30, profile=None, state_home=None, cwd=None, stdout=None):
    """Runs agentdeck with args (profile: a profile of profiles/ or a path,
    given as --profile first). Returns Result (status, events, stderr).

    stdin: text for the standard input (default: /dev/null). env: variables
    to add or (with None) remove. Each run has a fresh XDG_STATE_HOME (or
    state_home) and a fresh temporary working folder (or cwd). stdout: a file
    to write the standard output to (e.g. /dev/full) instead of a pipe; the
    Result then has no events. Fails the test when the run takes more than
    timeout seconds or when stdout holds anything but JSON events."""
    args = list(args)
    if profile is not None:
        path = profile if os.path.isabs(profile) else _shipped_profile(profile)
        args = ["--profile", path] + args
    state_home = state_home or tmpdir("state")
    cwd = cwd or tmpdir("cwd")
    full_env = dict(os.environ)
    # Never a real key: the tests talk to nothing but the fake server.
    full_env.pop("MISTRAL_API_KEY", None)
    full_env["XDG_STATE_HOME"] = state_home
    full_env["XDG_CONFIG_HOME"] = tmpdir("config")
    full_env["LC_ALL"] = "C.UTF-8"
    for key, value in (env or {}).items():
        if value is None:
            full_env.pop(key, None)
        else:
            full_env[key] = value
    out_file = open(stdout, "wb") if stdout is not None else None
    started = time.monotonic()
    cpu_before = _children_cpu()
    try:
        proc = subprocess.run(command(args), input=(stdin.encode("utf-8") if stdin is not None else None),
                              stdin=(None if stdin is not None else subprocess.DEVNULL),
                              stdout=(out_file or subprocess.PIPE), stderr=subprocess.PIPE, env=full_env, cwd=cwd,
                              timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise Failure("agentdeck %s did not finish within %s s; stdout so far: %s" %
                      (" ".join(args), timeout, _show((e.stdout or b"").decode("utf-8", "replace"))))
    except OSError as e:
        raise Failure("cannot run %s: %s (set AGENTDECK to the binary)" % (AGENTDECK, e))
    finally:
        if out_file is not None:
            out_file.close()
    cpu = _children_cpu() - cpu_before
    elapsed = time.monotonic() - started
    if proc.stdout is None:
        proc.stdout = b""
    stdout = proc.stdout.decode("utf-8", "replace")
    stderr = proc.stderr.decode("utf-8", "replace")
    partial = Result(proc.returncode, [], stderr, stdout=stdout, state_home=state_home, elapsed=elapsed,
                     args=args, cwd=cwd, cpu=cpu)
    _runs.append(partial)
    try:
        proc.stdout.decode("utf-8")
    except UnicodeDecodeError as e:
        raise Failure("stdout is not valid UTF-8: byte %d (0x%02x) in %s" %
                      (e.start, proc.stdout[e.start], _show(proc.stdout[max(0, e.start - 60):e.start + 20])))
    events = parse_events(stdout)
    result = Result(proc.returncode, events, stderr, stdout=stdout, state_home=state_home, elapsed=elapsed,
                    args=args, cwd=cwd, cpu=cpu)
    _runs[-1] = result
    return result


def spawn(args, profile=None, stdin=None):
    """Starts agentdeck in the background, as run() would, for a test that
    talks to it while it runs (signals, a pipe to its stdin). Returns (Popen,
    state_home); stdin is /dev/null, or a binary pipe with stdin="pipe";
    stdout and stderr are binary pipes."""
    args = list(args)
    if profile is not None:
        path = profile if os.path.isabs(profile) else _shipped_profile(profile)
        args = ["--profile", path] + args
    state_home = tmpdir("state")
    env = dict(os.environ, XDG_STATE_HOME=state_home, XDG_CONFIG_HOME=tmpdir("config"), LC_ALL="C.UTF-8")
    env.pop("MISTRAL_API_KEY", None)
    try:
        proc = subprocess.Popen(command(args), stdin=(subprocess.PIPE if stdin == "pipe" else subprocess.DEVNULL),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=tmpdir("cwd"))
    except OSError as e:
        raise Failure("cannot run %s: %s (set AGENTDECK to the binary)" % (AGENTDECK, e))
    return proc, state_home


def read_until(proc, marker, timeout=30):
    """Reads proc's stdout lines (bytes) up to and including the first that
    contains marker (bytes), or to the end. Kills proc when that takes more
    than timeout seconds, so that a test never hangs. Returns the lines."""
    lines = []
    timer = threading.Timer(timeout, proc.kill)
    timer.start()
    try:
        while True:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if marker in line:
                break
    finally:
        timer.cancel()
    check(lines and marker in lines[-1],
          "no %s on stdout within %s s; got %s" % (marker.decode(), timeout, _show(b"".join(lines).decode())))
    return lines


def finish(proc, timeout=30):
    """Waits for proc to end (killing it after timeout s); returns the rest of
    its (stdout, stderr) as bytes. A stdin pipe is closed, if not yet."""
    if proc.stdin is not None and proc.stdin.closed:
        proc.stdin = None  # communicate() would flush it
    try:
        return proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise Failure("agentdeck did not end within %s s" % timeout)


def pid_alive(pid):
    """Whether process pid still exists (a zombie counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(") ", 1)[1][:1] != "Z"
    except (OSError, IndexError):
        return True


def wait_gone(pid, seconds=3.0):
    """Waits up to seconds for process pid to end; returns whether it did."""
    deadline = time.monotonic() + seconds
    while pid_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def run_text(args, stdin=None, timeout=30):
    """Runs agentdeck for output that is not events (--help, --version):
    returns (status, stdout text, stderr text)."""
    env = dict(os.environ, XDG_STATE_HOME=tmpdir("state"), XDG_CONFIG_HOME=tmpdir("config"), LC_ALL="C.UTF-8")
    env.pop("MISTRAL_API_KEY", None)
    try:
        proc = subprocess.run(command(args), input=(stdin or "").encode("utf-8"),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=tmpdir("cwd"),
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        raise Failure("agentdeck %s did not finish within %s s" % (" ".join(args), timeout))
    except OSError as e:
        raise Failure("cannot run %s: %s (set AGENTDECK to the binary)" % (AGENTDECK, e))
    return proc.returncode, proc.stdout.decode("utf-8", "replace"), proc.stderr.decode("utf-8", "replace")


# ---- looking at events -------------------------------------------------------


def types(events):
    return [e["type"] for e in events]


def of_type(events, type_):
    return [e for e in events if e["type"] == type_]


def one(events, type_):
    """The only event of type_; fails when there is none or more than one."""
    found = of_type(events, type_)
    check(len(found) == 1, "expected exactly one %s event, got %d (types: %s)" %
          (type_, len(found), ", ".join(types(events))))
    return found[0]


def journals(state_home):
    """The events.jsonl files under state_home, sorted."""
    root = os.path.join(state_home, "agentdeck", "sessions")
    if not os.path.isdir(root):
        return []
    return sorted(os.path.join(root, d, "events.jsonl") for d in os.listdir(root)
                  if os.path.isfile(os.path.join(root, d, "events.jsonl")))


# ---- the harness ---------------------------------------------------------------

_tests = []


def test(fn_or_name=None, todo=None):
    """Registers a test: @test, @test("a name"), or @test(todo="why") for a
    known bug not fixed yet: TAP's # TODO, which the TAP driver counts as an
    expected failure (XFAIL), and as XPASS, which fails `make check`, once the
    bug is fixed and the todo is due to be removed."""
    if callable(fn_or_name):
        _tests.append((fn_or_name.__name__, fn_or_name, None))
        return fn_or_name

    def register(fn):
        _tests.append((fn_or_name or fn.__name__, fn, todo))
        return fn
    return register


def _diag(lines):
    for l in lines:
        for part in str(l).split("\n"):
            print("# " + part)


def main_with_server(server):
    """main() with the fake Mistral server running (and stopped after); the
    whole file is skipped when it cannot run (no OpenAPI spec beside the
    repository)."""
    if not server.start():
        print("1..0 # SKIP the fake Mistral server cannot run here (no OpenAPI spec beside the repository)")
        sys.exit(0)
    try:
        main()
    finally:
        server.stop()


def main():
    """Runs the registered tests and prints TAP. Exits 0 even when some fail.
    TEST_ONLY=substring runs only the tests whose name contains it."""
    only = os.environ.get("TEST_ONLY")
    if only:
        _tests[:] = [t for t in _tests if only in t[0]]
    print("1..%d" % len(_tests))
    sys.stdout.flush()
    try:
        for n, (name, fn, todo) in enumerate(_tests, 1):
            name = name.replace("#", "")
            directive = " # TODO " + todo.replace("#", "") if todo else ""
            del _runs[:]
            try:
                fn()
            except Skip as e:
                print("ok %d - %s # SKIP %s" % (n, name, str(e).replace("#", "")))
            except Failure as e:
                print("not ok %d - %s%s" % (n, name, directive))
                _diag([str(e)])
                if _runs:
                    _diag(["last run:"] + ["  " + l for l in _runs[-1].describe()])
            except Exception:
                print("not ok %d - %s%s" % (n, name, directive))
                _diag(traceback.format_exc().rstrip().split("\n"))
                if _runs:
                    _diag(["last run:"] + ["  " + l for l in _runs[-1].describe()])
            else:
                print("ok %d - %s%s" % (n, name, directive))
            sys.stdout.flush()
    finally:
        _cleanup()
    sys.exit(0)


# ---- the fake Mistral server ------------------------------------------------


class FakeMistral:
    """tests/fakeapi/server.py on a free loopback port, for a whole test file.
    start() returns None when the OpenAPI spec is not there (the file then
    skips); the server checks every request against it."""

    KEY = "test-key"

    def __init__(self):
        self.proc = None
        self.url = None

    def start(self):
        server = srcpath("tests", "fakeapi", "server.py")
        self.proc = subprocess.Popen([sys.executable, server, "--port", "0", "--key", self.KEY],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        line = self.proc.stdout.readline().decode("utf-8", "replace")
        if not line.startswith("listening on "):
            err = self.proc.stderr.read().decode("utf-8", "replace")
            self.proc.wait()
            self.proc = None
            return None if "spec" in err else err
        self.url = line.split()[-1]
        return self.url

    def stop(self):
        if self.proc:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def control(self, method, path, body=None):
        import urllib.request
        data = json.dumps(body).encode("utf-8") if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            text = resp.read().decode("utf-8")
        return json.loads(text) if text else None

    def reset(self, script=None, faults=None):
        self.control("POST", "/_fake/reset")
        if script:
            self.control("POST", "/_fake/script", script)
        if faults:
            self.control("POST", "/_fake/faults", faults)

    def requests(self, path=None):
        return self.control("GET", "/_fake/requests" + ("?path=" + path if path else ""))

    def rejections(self):
        return self.control("GET", "/_fake/rejections")

    def run(self, args, profile=None, key=KEY, **kw):
        """Runs agentdeck against this server with the mistral backend."""
        env = dict(kw.pop("env", None) or {}, MISTRAL_API_KEY=key)
        return run(["--backend", "mistral", "--base-url", self.url] + list(args), profile=profile, env=env, **kw)


def offline_script_of(team):
    """The offline rules of a profile given as a dict, as a script for the fake server."""
    return {a["name"]: a["offline"] for a in team["agents"] if "offline" in a}


def offline_script(*profile_names):
    """The offline rules of shipped profiles, as a script for the fake server."""
    script = {}
    for name in profile_names:
        with open(profile(name), encoding="utf-8") as f:
            for agent in json.load(f)["agents"]:
                if "offline" in agent:
                    script[agent["name"]] = agent["offline"]
    return script
