"""What the fake service keeps, and the turn logic that plays the scripted
model over it.

Agents have versions (each PATCH makes one) and aliases. Conversations keep
their entries in order. A turn (start, append, restart) is computed and
stored at once, before any byte of the answer is sent: faults that break the
answer on the wire never lose or duplicate what the server holds, as on the
real service, where a cut stream does not undo the turn.

Shapes follow MISTRAL_API.md sections 3, 6 and 7 and the spec's response
schemas (the server checks every answer against them; see /_fake/violations).
Every method takes the store's lock: handlers run on many threads.
"""

import copy
import hashlib
import json
import os
import re
import tempfile
import threading
from datetime import datetime, timezone

from script import ScriptError

# Handoffs one turn may chain before the fake calls it a loop.
MAX_HANDOFFS = 8

# Tokens a built-in tool execution adds to usage.connector_tokens.
CONNECTOR_TOKENS = 100

_COMPLETION_ARGS = ("stop", "presence_penalty", "frequency_penalty", "temperature", "top_p",
                    "max_tokens", "random_seed", "prediction", "response_format", "tool_choice",
                    "reasoning_effort")

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

# What GET /v1/models lists until a test says otherwise (/_fake/models).
DEFAULT_MODELS = ("mistral-large-latest", "mistral-medium-latest", "mistral-small-latest")

# The prefix of the functions a chat client offers for handoffs.
TRANSFER = "transfer_to_"


class ApiError(Exception):
    """A refusal: an HTTP status and the error body to send.

    `rejection` marks requests the real service would refuse as malformed
    (a client bug); the server logs those at /_fake/rejections. Refusals of
    well-formed requests (an unknown id, a busy conversation) are not."""

    def __init__(self, status, message, kind="invalid_request_error", code=None,
                 rejection=False, extra=None):
        super().__init__(message)
        self.status, self.message, self.rejection = status, message, rejection
        self.body = {"object": "error", "message": message, "type": kind,
                     "param": None, "code": code}
        self.body.update(extra or {})


def not_found(what, ident):
    return ApiError(404, "%s not found: %s" % (what, ident), code="3000")


def bad_request(message, **kw):
    return ApiError(400, message, rejection=True, **kw)


def now():
    """RFC 3339 with microseconds and Z, as the service writes times."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def tokens(text):
    """The fake's token count: words and punctuation marks."""
    return len(re.findall(r"\w+|[^\w\s]", text or ""))


def entry_text(e):
    """The text of an entry, for token counts and for the latest input."""
    t = e.get("type")
    if t in ("message.input", "message.output"):
        c = e.get("content")
        if isinstance(c, str):
            return c
        return "".join(ch.get("text", "") for ch in c or [] if isinstance(ch, dict))
    if t == "function.result":
        return e.get("result", "")
    if t in ("function.call", "tool.execution"):
        a = e.get("arguments", "")
        return a if isinstance(a, str) else json.dumps(a)
    return ""


def latest_input(history):
    """What the model answers: the results of the function calls just
    answered (joined by newlines), else the latest input message."""
    results = []
    for e in reversed(history):
        if e["type"] == "function.result":
            results.append(e["result"])
        elif results:
            break
    if results:
        return "\n".join(reversed(results))
    for e in reversed(history):
        if e["type"] == "message.input":
            return entry_text(e)
    return ""


class Usage:
    """ConversationUsageInfo, counted the fake's way: each agent step costs
    its instructions plus the whole context in prompt tokens, and what it
    writes in completion tokens; each built-in tool execution adds
    CONNECTOR_TOKENS connector tokens, which total_tokens includes."""

    def __init__(self):
        self.prompt = self.completion = self.connector = 0
        self.connectors = {}

    def step(self, instructions, context, produced):
        self.prompt += tokens(instructions) + sum(tokens(entry_text(e)) for e in context)
        self.completion += sum(tokens(entry_text(e)) for e in produced)

    def tool(self, name):
        self.connector += CONNECTOR_TOKENS
        self.connectors[name] = self.connectors.get(name, 0) + 1

    def as_json(self, omit_nulls=False):
        d = {"prompt_tokens": self.prompt, "completion_tokens": self.completion,
             "total_tokens": self.prompt + self.completion + self.connector,
             "connector_tokens": self.connector or None, "connectors": self.connectors or None}
        if omit_nulls:  # streaming `done` events leave the nulls out
            d = {k: v for k, v in d.items() if v is not None}
        return d


class Turn:
    """The outcome of start, append or restart."""

    def __init__(self, conversation_id, outputs, usage, created_at):
        self.conversation_id, self.outputs, self.usage = conversation_id, outputs, usage
        self.created_at = created_at  # when the turn began

    def response(self):
        return {"object": "conversation.response", "conversation_id": self.conversation_id,
                "outputs": self.outputs, "usage": self.usage.as_json(), "guardrails": None}


class Store:
    """Agents, conversations and the ids they get."""

    def __init__(self, script, state_dir=None):
        self.script = script
        self.state_dir = state_dir
        self._lock = threading.RLock()
        self._busy = {}  # conversation id -> requests in progress
        self.models = list(DEFAULT_MODELS)
        self._reset_state()
        if state_dir:
            self._load()

    def _reset_state(self):
        self._counter = 0
        self.agents = {}         # id -> {"versions": {n: dict}, "active": n, "aliases": {}}
        self.conversations = {}  # id -> conversation record (see _new_conversation)

    def reset(self):
        with self._lock:
            self._reset_state()
            self._busy.clear()
            self.models = list(DEFAULT_MODELS)
            self._save()

    # ---- models ---------------------------------------------------------------

    def set_models(self, ids):
        """The ids GET /v1/models lists from now on."""
        if not isinstance(ids, list) or not all(isinstance(i, str) and i for i in ids):
            raise ValueError("expected a list of model ids")
        with self._lock:
            self.models = list(ids)

    def list_models(self):
        """A ModelList of base model cards, one per id."""
        with self._lock:
            ids = list(self.models)
        caps = {"completion_chat": True, "function_calling": True, "reasoning": False, "completion_fim": False,
                "fine_tuning": False, "vision": False, "ocr": False, "classification": False,
                "moderation": False, "audio": False, "audio_transcription": False,
                "audio_transcription_realtime": False, "audio_speech": False, "unified_resources": False}
        return {"object": "list", "data": [
            {"id": i, "object": "model", "created": 1756746619, "owned_by": "mistralai", "capabilities": caps,
             "name": i, "description": "A model of the fake server.", "max_context_length": 32768,
             "aliases": [], "deprecation": None, "deprecation_replacement_model": None,
             "default_model_temperature": 0.3, "type": "base"} for i in ids]}

    # ---- ids -----------------------------------------------------------------

    def new_id(self, prefix):
        """prefix + 32 hex digits, like ag_0684fe0e0b98773e8000323fc71a3986;
        deterministic (a counter) so that runs are reproducible."""
        self._counter += 1
        return "%s%032x" % (prefix, (0x068f << 112) + (0x8 << 60) + self._counter)

    def new_tool_call_id(self):
        """Exactly 9 characters of [a-zA-Z0-9], as the service requires."""
        self._counter += 1
        n = int.from_bytes(hashlib.sha256(b"%d" % self._counter).digest()[:8], "big")
        out = ""
        for _ in range(9):
            n, r = divmod(n, 62)
            out += _BASE62[r]
        return out

    # ---- persistence (--state-dir) ---------------------------------------------

    def _path(self):
        return os.path.join(self.state_dir, "state.json")

    def _load(self):
        try:
            with open(self._path(), encoding="utf-8") as f:
                data = json.load(f)
        except FileNotFoundError:
            return
        self._counter = data["counter"]
        self.agents = {k: dict(v, versions={int(n): a for n, a in v["versions"].items()})
                       for k, v in data["agents"].items()}
        self.conversations = data["conversations"]

    def _save(self):
        """Writes the state atomically (called with the lock held)."""
        if not self.state_dir:
            return
        data = {"counter": self._counter, "agents": self.agents, "conversations": self.conversations}
        fd, tmp = tempfile.mkstemp(dir=self.state_dir, prefix=".state-")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f)
        os.replace(tmp, self._path())

    def dump(self):
        with self._lock:
            return copy.deepcopy({"agents": self.agents, "conversations": self.conversations})

    # ---- agents ----------------------------------------------------------------

    def _record(self, agent_id):
        rec = self.agents.get(agent_id)
        if rec is None:
            raise not_found("Agent", agent_id)
        return rec

    def _render(self, rec, version):
        a = dict(rec["versions"][version])
        a["versions"] = sorted(rec["versions"])
        return _ordered_agent(a)

    def _version_of(self, rec, wanted):
        """The version number for an agent_version value (number, numeric
        string or alias), or the active one for None."""
        if wanted is None:
            return rec["active"]
        if isinstance(wanted, str) and wanted in rec["aliases"]:
            return rec["aliases"][wanted]["version"]
        if isinstance(wanted, int) or (isinstance(wanted, str) and wanted.isdigit()):
            if int(wanted) in rec["versions"]:
                return int(wanted)
        raise not_found("Agent version", "%s of %s" % (wanted, rec["versions"][rec["active"]]["id"]))

    def agent(self, agent_id, version=None):
        """The agent definition (one version) as a dict."""
        with self._lock:
            rec = self._record(agent_id)
            return self._render(rec, self._version_of(rec, version))

    def _check_handoffs(self, handoffs, self_id=None):
        for h in handoffs or []:
            if h not in self.agents:
                raise bad_request("Handoff agent not found: %s" % h)
            if h == self_id:
                raise bad_request("An agent cannot hand off to itself: %s" % h)

    def create_agent(self, body):
        with self._lock:
            self._check_handoffs(body.get("handoffs"))
            stamp = now()
            agent = {
                "instructions": body.get("instructions"),
                "tools": body.get("tools") or [],
                "completion_args": _completion_args(body.get("completion_args")),
                "guardrails": body.get("guardrails"),
                "model": body["model"],
                "name": body["name"],
                "description": body.get("description"),
                "handoffs": body.get("handoffs"),
                "metadata": body.get("metadata"),
                "object": "agent",
                "id": self.new_id("ag_"),
                "version": 0,
                "created_at": stamp,
                "updated_at": stamp,
                "deployment_chat": False,
                "source": "api",
                "version_message": body.get("version_message"),
            }
            self.agents[agent["id"]] = {"versions": {0: agent}, "active": 0, "aliases": {}}
            self._save()
            return self._render(self.agents[agent["id"]], 0)

    def update_agent(self, agent_id, body):
        """PATCH: a new version from the active one, with the given fields."""
        with self._lock:
            rec = self._record(agent_id)
            self._check_handoffs(body.get("handoffs"), agent_id)
            new = copy.deepcopy(rec["versions"][rec["active"]])
            for k, v in body.items():
                if k == "completion_args":
                    new[k] = _completion_args(v)
                elif v is not None or k not in ("model", "name", "deployment_chat", "tools"):
                    new[k] = v
            new["version"] = max(rec["versions"]) + 1
            new["updated_at"] = now()
            rec["versions"][new["version"]] = new
            rec["active"] = new["version"]
            self._save()
            return self._render(rec, new["version"])

    def switch_version(self, agent_id, version):
        with self._lock:
            rec = self._record(agent_id)
            if version not in rec["versions"]:
                raise not_found("Agent version", "%s of %s" % (version, agent_id))
            rec["active"] = version
            self._save()
            return self._render(rec, version)

    def delete_agent(self, agent_id):
        with self._lock:
            self._record(agent_id)
            del self.agents[agent_id]
            self._save()

    def list_agents(self, q):
        """Active versions, newest first, filtered as GET /v1/agents does."""
        with self._lock:
            out = [self._render(rec, rec["active"]) for rec in self.agents.values()]
        out.reverse()
        if q.get("name") is not None:
            out = [a for a in out if a["name"] == q["name"]]
        if q.get("id") is not None:
            out = [a for a in out if a["id"] == q["id"]]
        if q.get("search") is not None:
            s = q["search"].lower()
            out = [a for a in out if s in a["name"].lower() or s in a["id"].lower()]
        if q.get("deployment_chat") is not None:
            out = [a for a in out if a["deployment_chat"] == q["deployment_chat"]]
        if q.get("sources"):
            out = [a for a in out if a["source"] in q["sources"]]
        if q.get("metadata"):
            out = [a for a in out if _has_metadata(a.get("metadata"), q["metadata"])]
        return out

    def list_versions(self, agent_id):
        with self._lock:
            rec = self._record(agent_id)
            return [self._render(rec, n) for n in sorted(rec["versions"], reverse=True)]

    def set_alias(self, agent_id, alias, version):
        with self._lock:
            rec = self._record(agent_id)
            if version not in rec["versions"]:
                raise not_found("Agent version", "%s of %s" % (version, agent_id))
            stamp = now()
            old = rec["aliases"].get(alias)
            rec["aliases"][alias] = {"alias": alias, "version": version,
                                     "created_at": old["created_at"] if old else stamp,
                                     "updated_at": stamp}
            self._save()
            return dict(rec["aliases"][alias])

    def list_aliases(self, agent_id):
        with self._lock:
            return [dict(a) for a in self._record(agent_id)["aliases"].values()]

    def delete_alias(self, agent_id, alias):
        with self._lock:
            rec = self._record(agent_id)
            if rec["aliases"].pop(alias, None) is None:
                raise not_found("Alias", alias)
            self._save()

    # ---- conversations: reading ---------------------------------------------------

    def _conversation(self, conv_id):
        conv = self.conversations.get(conv_id)
        if conv is None:
            raise not_found("Conversation", conv_id)
        return conv

    def conversation(self, conv_id):
        with self._lock:
            return _render_conversation(self._conversation(conv_id))

    def list_conversations(self, page, page_size, metadata):
        with self._lock:
            convs = [_render_conversation(c) for c in self.conversations.values()
                     if not metadata or _has_metadata(c.get("metadata"), metadata)]
        convs.reverse()
        return convs[page * page_size:(page + 1) * page_size]

    def history(self, conv_id):
        with self._lock:
            conv = self._conversation(conv_id)
            return {"object": "conversation.history", "conversation_id": conv_id,
                    "entries": copy.deepcopy(conv["entries"])}

    def messages(self, conv_id):
        with self._lock:
            conv = self._conversation(conv_id)
            return {"object": "conversation.messages", "conversation_id": conv_id,
                    "messages": [copy.deepcopy(e) for e in conv["entries"]
                                 if e["type"] in ("message.input", "message.output")]}

    def delete_conversation(self, conv_id):
        with self._lock:
            self._conversation(conv_id)
            if self._busy.get(conv_id):
                raise _busy_error(conv_id)
            del self.conversations[conv_id]
            self._save()

    # ---- conversations: turns -------------------------------------------------------

    def _claim(self, conv_id):
        """Marks a conversation busy for the length of a request; a second
        request meanwhile gets 409, as on the service."""
        if self._busy.get(conv_id):
            raise _busy_error(conv_id)
        self._busy[conv_id] = 1

    def release(self, conv_id):
        """Ends what _claim began: call when the answer has been sent."""
        with self._lock:
            self._busy.pop(conv_id, None)

    def start(self, body):
        """POST /v1/conversations. The new conversation is busy until
        release() (the caller's job)."""
        with self._lock:
            agent_id, model = body.get("agent_id"), body.get("model")
            if (agent_id is None) == (model is None):
                raise bad_request("Exactly one of agent_id and model must be given")
            version = None
            if agent_id is not None:
                for inline in ("instructions", "tools"):
                    if body.get(inline) is not None:
                        raise bad_request("%s can only be given with model, not with agent_id" % inline)
                rec = self._record(agent_id)
                version = self._version_of(rec, body.get("agent_version"))
                model = None
            elif body.get("agent_version") is not None:
                raise bad_request("agent_version can only be given with agent_id")
            stamp = now()
            conv = {
                "id": self.new_id("conv_"), "created_at": stamp, "updated_at": stamp,
                "agent_id": agent_id, "agent_version": version, "model": model,
                "instructions": body.get("instructions"), "tools": body.get("tools") or [],
                "completion_args": _completion_args(body.get("completion_args")),
                "guardrails": body.get("guardrails"), "name": body.get("name"),
                "description": body.get("description"), "metadata": body.get("metadata"),
                "entries": [],
                "handoff_ids": [],    # agent.handoff entries this server made
                "server_calls": [],   # tool_call_ids of server-side tools awaiting confirmation
                "confirm": {},        # tool_call_id -> what to do once confirmed
                "appended": False,    # restart needs one append first (docs)
            }
            return self._open(conv, body, body.get("store") is not False)

    def _open(self, conv, body, stored):
        """Runs the first turn of a new conversation (start or restart) and
        keeps it unless store is false."""
        turn = self._turn(conv, _inputs(body.get("inputs"), self), [], body, stored)
        if stored:
            self.conversations[conv["id"]] = conv
            self._claim(conv["id"])
        self._save()
        return turn

    def append(self, conv_id, body):
        """POST /v1/conversations/{id}; busy until release()."""
        with self._lock:
            conv = self._conversation(conv_id)
            self._claim(conv_id)
            try:
                inputs = _inputs(body.get("inputs"), self)
                confirmations = body.get("tool_confirmations") or []
                if not inputs and not confirmations:
                    raise bad_request("Nothing to append: give inputs or tool_confirmations")
                turn = self._turn(conv, inputs, confirmations, body, body.get("store", True))
                conv["appended"] = True
                self._save()
                return turn
            except Exception:
                self._busy.pop(conv_id, None)
                raise

    def restart(self, conv_id, body):
        """POST /v1/conversations/{id}/restart: a new conversation holding
        the entries up to and including from_entry_id, then the new inputs.
        Busy (the new one) until release()."""
        with self._lock:
            old = self._conversation(conv_id)
            if self._busy.get(conv_id):
                raise _busy_error(conv_id)
            if not old["appended"]:
                raise bad_request("You can only restart conversations on which you used append at least once")
            ids = [e["id"] for e in old["entries"]]
            if body["from_entry_id"] not in ids:
                raise bad_request("Entry %s not found in conversation %s" % (body["from_entry_id"], conv_id))
            kept = old["entries"][:ids.index(body["from_entry_id"]) + 1]
            conv = copy.deepcopy(old)
            stamp = now()
            conv.update(id=self.new_id("conv_"), created_at=stamp, updated_at=stamp,
                        entries=copy.deepcopy(kept), appended=False)
            if body.get("metadata") is not None:
                conv["metadata"] = body["metadata"]
            if body.get("agent_version") is not None:
                if conv["agent_id"] is None:
                    raise bad_request("agent_version can only be given for an agent conversation")
                conv["agent_version"] = self._version_of(self._record(conv["agent_id"]), body["agent_version"])
            return self._open(conv, body, body.get("store", True))

    # ---- the turn engine ----------------------------------------------------------

    def _turn(self, conv, inputs, confirmations, body, stored):
        """Checks the inputs against what the conversation waits for, plays
        the model, and (when stored) appends inputs and outputs to it."""
        began = now()
        history = list(conv["entries"])
        self._check_inputs(conv, history, inputs, confirmations)
        history += inputs
        outputs, usage = [], Usage()
        mode = body.get("handoff_execution") or "server"
        if confirmations:
            self._confirm(conv, history, confirmations, outputs, usage)
        else:
            self._play(conv, history, mode, outputs, usage)
        if stored:
            conv["entries"] = history + outputs
            conv["updated_at"] = now()
        return Turn(conv["id"], copy.deepcopy(outputs), usage, began)

    def _pending(self, conv, history):
        """(calls awaiting a function.result, calls awaiting a confirmation),
        each a dict tool_call_id -> entry."""
        calls, confirms = {}, {}
        for e in history:
            if e["type"] == "function.call":
                status, tcid = e.get("confirmation_status"), e["tool_call_id"]
                if status == "pending":
                    confirms[tcid] = e
                elif status in (None, "allowed") and tcid not in conv["server_calls"]:
                    calls[tcid] = e
            elif e["type"] == "function.result":
                calls.pop(e["tool_call_id"], None)
        return calls, confirms

    def _check_inputs(self, conv, history, inputs, confirmations):
        """Refuses inputs the service would refuse: a function.result with a
        malformed or unknown tool_call_id, a call left without its result,
        a confirmation nothing waits for or one left unanswered."""
        calls, confirms = self._pending(conv, history)
        owed = set(calls)
        for e in inputs:
            if e["type"] == "function.call":
                calls[e["tool_call_id"]] = e
            elif e["type"] == "function.result":
                tcid = e["tool_call_id"]
                if not re.fullmatch(r"[a-zA-Z0-9]{9}", tcid):
                    raise bad_request("Tool call id was %s but must be a-z, A-Z, 0-9, with a length of 9." % tcid,
                                      kind="invalid_function_call", code="3280",
                                      extra={"raw_status_code": 400})
                if calls.pop(tcid, None) is None:
                    raise bad_request("No function call with tool_call_id %s waits for a result" % tcid)
                owed.discard(tcid)
        if owed:
            raise bad_request("Not the same number of function calls and responses (missing: %s)"
                              % ", ".join(sorted(owed)))
        answered = [c["tool_call_id"] for c in confirmations]
        for tcid in answered:
            if tcid not in confirms:
                raise bad_request("No tool call %s waits for a confirmation" % tcid)
        if set(confirms) - set(answered):
            raise bad_request("Tool calls wait for a confirmation: %s"
                              % ", ".join(sorted(set(confirms) - set(answered))))

    def _agent_def(self, agent_id, version=None):
        """An agent's definition for a turn, or a stand-in if it was deleted."""
        rec = self.agents.get(agent_id)
        if rec is None:
            return {"id": agent_id, "name": agent_id, "model": "unknown", "instructions": None,
                    "tools": [], "handoffs": None}
        return rec["versions"][version if version in rec["versions"] else rec["active"]]

    def _speaker(self, conv, history):
        """The agent answering now: the target of the latest handoff this
        server made in the conversation, else the conversation's own agent;
        None for a conversation started with `model`."""
        made = set(conv["handoff_ids"])
        for e in reversed(history):
            if e["type"] == "agent.handoff" and e["id"] in made:
                return self._agent_def(e["next_agent_id"])
        if conv["agent_id"] is None:
            return None
        return self._agent_def(conv["agent_id"], conv["agent_version"])

    def _play(self, conv, history, mode, outputs, usage):
        """Lets the speaking agent act on the latest input; a handoff passes
        the same input to the next agent (server mode) or ends the turn
        (client mode)."""
        agent = self._speaker(conv, history)
        text = latest_input(history)
        for _ in range(MAX_HANDOFFS + 1):
            who = agent["name"] if agent else conv["model"]
            decision = self.script.decide(who, text)
            before = len(outputs)
            if decision.handoff is None:
                self._act(conv, agent, decision, outputs, usage)
                usage.step(_instructions(conv, agent), history + outputs[:before], outputs[before:])
                return
            target = self._handoff_target(agent, decision.handoff)
            outputs.append(self._entry("agent.handoff", "handoff_", True,
                                       previous_agent_id=agent["id"], previous_agent_name=agent["name"],
                                       next_agent_id=target["id"], next_agent_name=target["name"]))
            conv["handoff_ids"].append(outputs[-1]["id"])
            usage.step(_instructions(conv, agent), history + outputs[:before], outputs[before:])
            if mode == "client":
                return
            agent = target
        raise ScriptError("more than %d handoffs in one turn: the script loops" % MAX_HANDOFFS)

    def _handoff_target(self, agent, name):
        if agent is None:
            raise ScriptError("a conversation without an agent cannot hand off (to %s)" % name)
        for h in agent.get("handoffs") or []:
            target = self.agents.get(h)
            if target and target["versions"][target["active"]]["name"] == name:
                return target["versions"][target["active"]]
        raise ScriptError("agent %s cannot hand off to %s: it is not among its handoffs (%s)"
                          % (agent["name"], name, ", ".join(agent.get("handoffs") or []) or "none"))

    def _act(self, conv, agent, d, outputs, usage):
        """Plays a decision other than a handoff."""
        guarded = _confirmation_names(agent, conv)
        for name, args, info in d.tools:
            if name in guarded:  # wait for the user's word before running it
                call = self._call(agent, conv, name, args, "pending")
                conv["server_calls"].append(call["tool_call_id"])
                conv["confirm"][call["tool_call_id"]] = {
                    "kind": "tool", "agent_id": agent and agent["id"], "name": name,
                    "arguments": args, "info": info, "say": d.say, "denied": d.denied}
                outputs.append(call)
                return
            outputs.append(self._tool_execution(agent, conv, name, args, info))
            usage.tool(name)
        for name, args in d.calls:
            status = "pending" if name in guarded else None
            call = self._call(agent, conv, name, args, status)
            if status:
                conv["confirm"][call["tool_call_id"]] = {
                    "kind": "call", "agent_id": agent and agent["id"], "name": name,
                    "arguments": args, "denied": d.denied}
            outputs.append(call)
        if d.calls:
            return
        say = d.say
        if say is None:  # a tool rule without text still ends in a message
            say = "Done: %s." % ", ".join(t[0] for t in d.tools)
        outputs.append(self._message(agent, conv, say))

    def _confirm(self, conv, history, confirmations, outputs, usage):
        """Answers tool_confirmations: an allowed server tool runs and the
        agent replies; an allowed client function comes back as a
        function.call with confirmation_status "allowed" for the client to
        run; a denied one gets a reply without it."""
        for c in confirmations:
            tcid, allow = c["tool_call_id"], c["confirmation"] == "allow"
            i = next(i for i, e in enumerate(history)
                     if e["type"] == "function.call" and e["tool_call_id"] == tcid)
            history[i] = dict(history[i], confirmation_status="allowed" if allow else "denied")
            action = conv["confirm"].pop(tcid)
            agent = self._agent_def(action["agent_id"]) if action["agent_id"] else None
            before = len(outputs)
            if not allow:
                outputs.append(self._message(agent, conv, action["denied"] or
                                             "I did not run %s: you denied it." % action["name"]))
            elif action["kind"] == "call":
                outputs.append(self._call(agent, conv, action["name"], action["arguments"],
                                          "allowed", tool_call_id=tcid))
            else:
                outputs.append(self._tool_execution(agent, conv, action["name"],
                                                    action["arguments"], action["info"]))
                usage.tool(action["name"])
                outputs.append(self._message(agent, conv, action["say"] if action["say"] is not None
                                             else "Done: %s." % action["name"]))
            usage.step(_instructions(conv, agent), history + outputs[:before], outputs[before:])

    # ---- entries ------------------------------------------------------------------------

    def _entry(self, kind, prefix, completed, **fields):
        stamp = now()
        e = {"object": "entry", "type": kind, "created_at": stamp,
             "completed_at": stamp if completed else None, "id": self.new_id(prefix)}
        e.update(fields)
        return e

    def _producer(self, agent, conv):
        return {"agent_id": agent["id"] if agent else None,
                "model": agent["model"] if agent else conv["model"]}

    def _message(self, agent, conv, content):
        e = self._entry("message.output", "msg_", True, **self._producer(agent, conv))
        e.update(role="assistant", content=content)
        return e

    def _call(self, agent, conv, name, args, status, tool_call_id=None):
        e = self._entry("function.call", "fc_", False, **self._producer(agent, conv))
        e.update(tool_call_id=tool_call_id or self.new_tool_call_id(), name=name, arguments=args)
        if status:
            e["confirmation_status"] = status
        return e

    def _tool_execution(self, agent, conv, name, args, info):
        e = self._entry("tool.execution", "tool_exec_", True, **self._producer(agent, conv))
        e.update(name=name, arguments=args, info=info or {})
        return e

    def input_entry(self, item):
        """A stored entry for one client input (a string is a user message).
        The server gives every entry its own id and time, as the service
        does; the client's `id` and `created_at`, if any, are replaced."""
        if isinstance(item, str):
            item = {"type": "message.input", "role": "user", "content": item}
        kind = item.get("type") or _infer_type(item)
        prefix = {"message.input": "msg_", "message.output": "msg_", "function.call": "fc_",
                  "function.result": "fr_", "tool.execution": "tool_exec_",
                  "agent.handoff": "handoff_"}[kind]
        e = self._entry(kind, prefix, item.get("completed_at") is not None)
        for k, v in item.items():
            if k not in ("object", "type", "id", "created_at", "completed_at"):
                e[k] = v
        if kind == "message.input":
            e.setdefault("prefix", False)
        return e

    # ---- chat completions (stateless) --------------------------------------------------

    def chat(self, body, agent_id=None):
        """POST /v1/chat/completions and /v1/agents/completions: the client
        keeps the history, the scripted model answers its latest input.
        Rules are looked up under the agent's name (agents completions), or
        the agent whose system message it is, else the model's name (chat).
        A handoff is a call of transfer_to_AGENT; a call needs its function
        among the request's tools."""
        with self._lock:
            agent = self._agent_def(agent_id) if agent_id else None
            if agent_id and agent_id not in self.agents:
                raise not_found("Agent", agent_id)
            messages = body["messages"]
            _check_chat_messages(messages)
            system = next((_text(m.get("content")) for m in messages if m.get("role") == "system"), None)
            who = agent["name"] if agent else self.script.speaker(system, body["model"])
            model = agent["model"] if agent else body["model"]
            d = self.script.decide(who, chat_latest_input(messages))
            calls = list(d.calls)
            if d.handoff:
                calls.append((TRANSFER + d.handoff, "{}"))
            offered = {t["function"]["name"] for t in body.get("tools") or []
                       if t.get("type", "function") == "function"}
            for name, _ in calls:
                if name not in offered:
                    raise ScriptError("%s calls %s, which the request does not offer among its tools (%s)"
                                      % (who, name, ", ".join(sorted(offered)) or "none"))
            message = {"role": "assistant", "content": "", "tool_calls": None, "prefix": False}
            if calls:
                message["tool_calls"] = [{"id": self.new_tool_call_id(), "type": "function",
                                          "function": {"name": n, "arguments": a}, "index": i}
                                         for i, (n, a) in enumerate(calls)]
                finish = "tool_calls"
            else:
                say = d.say if d.say is not None else "Done."
                message["content"] = say if isinstance(say, str) else entry_text(
                    {"type": "message.output", "content": say})
                finish = "stop"
            prompt = sum(tokens(_text(m.get("content"))) for m in messages)
            completion = tokens(message["content"]) + sum(tokens(a) for _, a in calls)
            return {
                "id": self.new_id(""), "object": "chat.completion", "model": model,
                "created": int(datetime.now(timezone.utc).timestamp()),
                "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                          "total_tokens": prompt + completion},
                "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            }


def _text(content):
    """The text of a chat message's content: a string, or its text chunks."""
    if isinstance(content, list):
        return "".join(c.get("text", "") for c in content if isinstance(c, dict))
    return content or ""


def chat_latest_input(messages):
    """What the model answers in a chat: the results of the tool calls just
    made (joined by newlines), else the latest user message. A handoff's
    result (transfer_to_...) is no input: the next agent answers what the
    user asked."""
    transfers = {c.get("id") for m in messages if m.get("role") == "assistant"
                 for c in m.get("tool_calls") or [] if c["function"]["name"].startswith(TRANSFER)}
    results = []
    for m in reversed(messages):
        if m.get("role") != "tool":
            break
        if m.get("tool_call_id") not in transfers:
            results.append(_text(m.get("content")))
    if results:
        return "\n".join(reversed(results))
    for m in reversed(messages):
        if m.get("role") == "user":
            return _text(m.get("content"))
    return ""


def _check_chat_messages(messages):
    """Refuses histories the service refuses: a tool call without its
    result right after it, a result that answers no call, a tool_call_id
    that is not 9 characters of [a-zA-Z0-9], and a history that ends with
    something other than a user or tool message."""
    owed = []  # calls of the last assistant message still without a result
    for i, m in enumerate(messages):
        role = m.get("role")
        if role == "tool":
            tcid = m.get("tool_call_id") or ""
            if not re.fullmatch(r"[a-zA-Z0-9]{9}", tcid):
                raise bad_request("Tool call id was %s but must be a-z, A-Z, 0-9, with a length of 9." % tcid,
                                  kind="invalid_function_call", code="3280", extra={"raw_status_code": 400})
            if tcid not in owed:
                raise bad_request("messages[%d]: no tool call with id %s waits for a result" % (i, tcid))
            owed.remove(tcid)
            continue
        if owed:
            raise bad_request("Not the same number of function calls and responses (messages[%d] comes before "
                              "the results of %s)" % (i, ", ".join(owed)))
        if role == "assistant":
            owed = [c.get("id") for c in m.get("tool_calls") or []]
    if owed:
        raise bad_request("Not the same number of function calls and responses (missing: %s)" % ", ".join(owed))
    last = messages[-1].get("role") if messages else None
    if last not in ("user", "tool") and not (last == "assistant" and messages[-1].get("prefix")):
        raise bad_request("Expected last role User or Tool (or Assistant with prefix True) for serving but got %s"
                          % last)


# ---- helpers --------------------------------------------------------------------------


def _busy_error(conv_id):
    return ApiError(409, "Conversation %s is busy: a previous request on it is still running" % conv_id)


def _inputs(value, store):
    if value is None:
        return []
    if isinstance(value, str):
        return [store.input_entry(value)]
    return [store.input_entry(item) for item in value]


def _infer_type(item):
    """The entry type of an input without `type`, from its required fields
    (the order pydantic tries the union's members in)."""
    if "role" in item:
        return "message.input"
    if "result" in item:
        return "function.result"
    if "tool_call_id" in item:
        return "function.call"
    if "previous_agent_id" in item:
        return "agent.handoff"
    if "name" in item:
        return "tool.execution"
    return "message.output"


def _instructions(conv, agent):
    return agent.get("instructions") if agent else conv.get("instructions")


def _confirmation_names(agent, conv):
    """Tool names that need the user's confirmation: the union of
    tool_configuration.requires_confirmation over the agent's tools."""
    names = set()
    for t in (agent["tools"] if agent else conv["tools"]) or []:
        names.update((t.get("tool_configuration") or {}).get("requires_confirmation") or [])
    return names


def _completion_args(given):
    """CompletionArgs as the service echoes them: every field, null when
    unset, tool_choice "auto" by default."""
    args = {k: None for k in _COMPLETION_ARGS}
    args["tool_choice"] = "auto"
    args.update({k: v for k, v in (given or {}).items() if v is not None or k != "tool_choice"})
    return args


def _has_metadata(have, want):
    return isinstance(have, dict) and all(have.get(k) == v for k, v in want.items())


def _reorder(d, first):
    out = {k: d[k] for k in first if k in d}
    out.update((k, v) for k, v in d.items() if k not in out)
    return out


def _ordered_agent(a):
    return _reorder(a, ("instructions", "tools", "completion_args", "guardrails", "model", "name",
                        "description", "handoffs", "metadata", "object", "id", "version",
                        "versions", "created_at", "updated_at", "deployment_chat", "source",
                        "version_message"))


def _render_conversation(c):
    """AgentConversation or ModelConversation: which of agent_id and model
    is present tells them apart."""
    common = {"name": c["name"], "description": c["description"], "metadata": c["metadata"],
              "object": "conversation", "id": c["id"], "created_at": c["created_at"],
              "updated_at": c["updated_at"]}
    if c["agent_id"] is not None:
        return dict(common, agent_id=c["agent_id"], agent_version=c["agent_version"])
    return dict({"instructions": c["instructions"], "tools": c["tools"],
                 "completion_args": c["completion_args"], "guardrails": c["guardrails"]},
                **common, model=c["model"])
