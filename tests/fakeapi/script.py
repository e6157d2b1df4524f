"""The scripted model: what an agent does with its latest input.

A script maps agent names to lists of rules, tried in order against the
agent's latest input (the latest user message or, right after function
calls, the results the client sent back); the first rule that matches
decides. The rules are the `offline` rules of agentdeck profiles
(doc/profiles.md), so a test can post a profile's rules as they are, plus a
few actions that only a server plays:

    {"when": RE, "say": "text"}                     reply with text
    {"when": RE, "say": ["text", CHUNK, "text"]}    reply with content chunks
                                                    (e.g. a tool_reference)
    {"when": RE, "call": {"name": F, "arguments": {...}}}
                                                    call a client function
    {"when": RE, "calls": [{"name": F, "arguments": {...}}, ...]}
                                                    several calls at once
    {"when": RE, "tool": {"name": "web_search", "arguments": {...},
                          "info": {...}}, "say": "text"}
                                                    run a built-in tool on the
                                                    server, then reply
    {"when": RE, "handoff": "AGENT NAME"}           hand off to that agent
    "denied": "text"  (beside call/calls/tool)      the reply when the user
                                                    denies a confirmation

`when` is a regular expression matched case-insensitively anywhere in the
input (POSIX classes such as [[:digit:]] are understood); without it the
rule always matches. In texts, arguments and info, {input} is the latest
input, {agent} the agent's name and {1}..{9} the groups of `when`.

Rules are looked up under the agent's name (the model's name for a
conversation started with `model`), then under "*". When nothing matches,
the agent echoes: "This is AGENT. You said: INPUT".

Chat completions carry no agent: the speaker is the one whose system
message it is (set with set_speakers: system message -> agent name), else
the model's name. There a handoff is a call of the function
transfer_to_AGENT, the convention of clients that keep the history.
"""

import copy
import json
import re
import threading
from dataclasses import dataclass, field

DEFAULT_REPLY = "This is {agent}. You said: {input}"

# POSIX bracket classes (profiles use them) in Python's dialect.
_POSIX_CLASSES = {
    "alnum": "a-zA-Z0-9", "alpha": "a-zA-Z", "digit": "0-9", "lower": "a-z",
    "upper": "A-Z", "space": r"\s", "blank": r" \t", "xdigit": "0-9A-Fa-f",
    "punct": r"!-/:-@\[-`{-~", "cntrl": r"\x00-\x1f\x7f", "print": r"\x20-\x7e",
    "graph": r"\x21-\x7e", "word": r"\w",
}

_ACTIONS = ("say", "call", "calls", "tool", "handoff")
_KEYS = set(_ACTIONS) | {"when", "denied"}


class ScriptError(ValueError):
    """A rule that cannot be played; the message names where it is."""


@dataclass
class Decision:
    """What an agent does. Texts and arguments are already expanded.

    say:     None, a string, or a list of content chunks (dicts)
    calls:   [(name, arguments as a JSON string)]
    tools:   [(name, arguments as a string, info dict)]
    handoff: the name of the agent to hand off to
    denied:  the reply if the user denies a confirmation
    """
    say: object = None
    calls: list = field(default_factory=list)
    tools: list = field(default_factory=list)
    handoff: str = None
    denied: str = None


class Rule:
    """One checked rule of a script."""

    def __init__(self, spec, where):
        if not isinstance(spec, dict):
            raise ScriptError("%s: expected an object" % where)
        unknown = set(spec) - _KEYS
        if unknown:
            raise ScriptError("%s: unknown key %s" % (where, sorted(unknown)[0]))
        actions = [a for a in _ACTIONS if a in spec]
        # "tool" may be followed by "say"; otherwise exactly one action.
        if not actions or (len(actions) > 1 and sorted(actions) != ["say", "tool"]):
            raise ScriptError("%s: expected exactly one of say, call, calls, tool, handoff "
                              "(or tool with say)" % where)
        self.spec = spec
        self.when = None
        if spec.get("when") is not None:
            try:
                self.when = re.compile(posix_to_python(spec["when"]), re.IGNORECASE | re.DOTALL)  # POSIX ERE: . matches a newline too
            except (re.error, TypeError) as e:
                raise ScriptError("%s.when: not a valid regular expression: %s" % (where, e)) from e
        say = spec.get("say")
        if say is not None and not isinstance(say, (str, list)):
            raise ScriptError("%s.say: expected a string or a list of strings and chunks" % where)
        calls = spec.get("calls", [spec["call"]] if "call" in spec else [])
        tools = spec.get("tool", [])
        tools = tools if isinstance(tools, list) else [tools]
        for what, items in (("call", calls), ("tool", tools)):
            for i, item in enumerate(items):
                if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                    raise ScriptError("%s.%s[%d]: expected an object with a string name" % (where, what, i))
        if "handoff" in spec and not isinstance(spec["handoff"], str):
            raise ScriptError("%s.handoff: expected an agent name" % where)
        self.calls, self.tools = calls, tools

    def match(self, text):
        """The groups of a match ([] without `when`), or None."""
        if self.when is None:
            return []
        m = self.when.search(text)
        return None if m is None else [g or "" for g in m.groups()]

    def decide(self, agent, text, groups):
        def x(value):
            return expand(value, agent, text, groups)
        s = self.spec
        d = Decision(denied=x(s["denied"]) if "denied" in s else None)
        if "say" in s:
            d.say = x(s["say"]) if isinstance(s["say"], str) else [_chunk(x(c)) for c in s["say"]]
        d.calls = [(c["name"], _arguments(x(c.get("arguments", {})))) for c in self.calls]
        d.tools = [(t["name"], _arguments(x(t.get("arguments", ""))), x(t.get("info", {})))
                   for t in self.tools]
        d.handoff = s.get("handoff")
        return d


class Script:
    """The rules of every agent; thread-safe."""

    def __init__(self):
        self._lock = threading.Lock()
        self._rules = {}   # name -> [Rule]
        self._source = {}  # name -> rules as posted
        self._speakers = {}  # chat: system message -> agent name

    def update(self, mapping):
        """Sets the rules of the agents named in mapping (others are kept)."""
        if not isinstance(mapping, dict):
            raise ScriptError("expected an object mapping agent names to lists of rules")
        parsed = {}
        for name, rules in mapping.items():
            if not isinstance(rules, list):
                raise ScriptError("%s: expected a list of rules" % name)
            parsed[name] = [Rule(r, "%s[%d]" % (name, i)) for i, r in enumerate(rules)]
        with self._lock:
            self._rules.update(parsed)
            self._source.update(copy.deepcopy(mapping))

    def clear(self):
        with self._lock:
            self._rules.clear()
            self._source.clear()
            self._speakers.clear()

    def set_speakers(self, mapping):
        """Chat completions: a request whose system message is a key of
        mapping is answered by the agent it names (others are kept)."""
        if not isinstance(mapping, dict) or not all(isinstance(v, str) for v in mapping.values()):
            raise ScriptError("expected an object mapping system messages to agent names")
        with self._lock:
            self._speakers.update(mapping)

    def speakers(self):
        with self._lock:
            return dict(self._speakers)

    def speaker(self, system, model):
        """Who answers a chat completion: the agent whose system message
        it is, else the model."""
        with self._lock:
            return self._speakers.get(system, model) if system is not None else model

    def dump(self):
        with self._lock:
            return copy.deepcopy(self._source)

    def decide(self, agent, text):
        """The Decision of agent NAME for the latest input TEXT."""
        with self._lock:
            rules = self._rules.get(agent, []) + self._rules.get("*", [])
        for rule in rules:
            groups = rule.match(text)
            if groups is not None:
                return rule.decide(agent, text, groups)
        return Decision(say=expand(DEFAULT_REPLY, agent, text, []))


def posix_to_python(pattern):
    """Rewrites POSIX bracket classes ([[:digit:]]) for Python's re."""
    return re.sub(r"\[:(\w+):\]", lambda m: _POSIX_CLASSES.get(m.group(1), m.group(0)), pattern)


def expand(value, agent, text, groups):
    """Replaces {input}, {agent} and {1}..{9} in every string of value."""
    if isinstance(value, str):
        def sub(m):
            key = m.group(1)
            if key == "input":
                return text
            if key == "agent":
                return agent
            n = int(key)
            return groups[n - 1] if n <= len(groups) else ""
        return re.sub(r"\{(input|agent|[1-9])\}", sub, value)
    if isinstance(value, list):
        return [expand(v, agent, text, groups) for v in value]
    if isinstance(value, dict):
        return {k: expand(v, agent, text, groups) for k, v in value.items()}
    return value


def _arguments(value):
    """Arguments as the model sends them: a JSON string."""
    return value if isinstance(value, str) else json.dumps(value)


def _chunk(item):
    return {"type": "text", "text": item} if isinstance(item, str) else item
