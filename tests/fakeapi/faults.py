"""Faults injected on request, and the error bodies the service sends.

A fault is posted to /_fake/faults as an object (or a list of them):

    {"match": {"method": "POST", "path": "^/v1/conversations", "body": "RE",
               "stream": true},
     "times": 1, "skip": 0,
     "fault": "status", "status": 429, "retry_after": "1"}

`match` (every key optional) selects requests: `method` and `path` are
regular expressions matched against the start of the method and searched in
the path (query string excluded), `body` is searched in the raw body, and
`stream` compares with the body's "stream" flag. The first `skip` matching
requests pass untouched; the fault then applies `times` times (default 1;
null or 0 for every matching request) and is dropped.

Kinds and their parameters:

    status       status (required), retry_after (seconds or an HTTP date,
                 sent as Retry-After), shape (the error body's shape, see
                 ERROR_SHAPES), message, body (any JSON, sent instead),
                 headers (extra response headers)
    latency      ms: wait this long before answering; adds to other faults
    reset        after (events, default 2): the connection is reset (RST)
                 after that many events; a JSON answer is reset unsent
    truncate     after (default 2): the body ends cleanly in the middle of
                 the next event (no blank line); a JSON answer stops halfway
    malformed    after (default 2): an event whose data is not JSON is sent
                 before that event; a JSON answer is not JSON
    stall        after (default 2), seconds (default 5): nothing is sent for
                 that long, the connection kept open; then the rest follows
    error_event  after (default 2), message, code (default 500): a
                 conversation.response.error event, then the stream ends
                 (streams only)

reset, truncate and error_event also take `hold` (seconds, default 0): the
conversation stays busy that long after the cut, as it does on the service
while the model finishes a turn nobody reads any more; meanwhile a request
on it gets 409.

Status faults answer before the request is looked at, as a gateway would:
nothing is stored. The stream faults break the answer of a turn that was
stored in full, as a network fault would.
"""

import re
import threading
import uuid

KINDS = ("status", "latency", "reset", "truncate", "malformed", "stall", "error_event")
STREAM_KINDS = ("reset", "truncate", "malformed", "stall", "error_event")


# The bodies the service has been seen to send (MISTRAL_API.md section 11).
# Each takes the status and a message.
def _glossary(status, message):
    return {"object": "error", "message": message, "type": _ERROR_TYPES.get(status, "invalid_request_error"),
            "param": None, "code": None}


def _coded(status, message):
    code = {429: "1300", 400: "3280"}.get(status, str(status))
    kind = {429: "rate_limited", 400: "invalid_request_error"}.get(status, _ERROR_TYPES.get(status, "error"))
    return {"object": "error", "message": message, "type": kind, "param": None, "code": code,
            "raw_status_code": status}


def _nested(status, message):
    return {"object": "error",
            "message": {"detail": [{"type": "value_error", "loc": ["body"], "msg": message, "input": None}]},
            "type": "invalid_request_error", "param": None, "code": None}


ERROR_SHAPES = {
    # {"object":"error","message":"…","type":"…","param":null,"code":null} (docs)
    "glossary": _glossary,
    # … with a string code and raw_status_code (observed 429 in 2026, 400)
    "coded": _coded,
    # {"message":"…"} (observed 429 in 2025)
    "message": lambda status, message: {"message": message},
    # {"message":"Unauthorized","request_id":"…"} (observed 401)
    "request_id": lambda status, message: {"message": message, "request_id": uuid.uuid4().hex},
    # {"detail":"…"} (observed 401)
    "detail": lambda status, message: {"detail": message},
    # message is an object holding pydantic's detail list (observed 422)
    "nested": _nested,
    # not JSON at all: what a proxy in front of the service sends
    "html": lambda status, message: "<html><head><title>%d %s</title></head><body><center><h1>%d %s</h1>"
                                    "</center></body></html>\n" % (status, message, status, message),
}

_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "invalid_request_error",
                404: "invalid_request_error", 409: "invalid_request_error", 429: "rate_limit_error",
                500: "server_error", 502: "server_error", 503: "server_error", 504: "server_error"}

# Status -> (default shape, default message): the shapes differ on purpose,
# so that a client's error parsing meets each of them.
_DEFAULTS = {
    400: ("coded", "Bad request"),
    401: ("request_id", "Unauthorized"),
    403: ("glossary", "Forbidden"),
    404: ("glossary", "Not found"),
    409: ("glossary", "Conversation is busy: a previous request on it is still running"),
    422: ("nested", "Unprocessable entity"),
    429: ("coded", "Rate limit exceeded"),
    500: ("glossary", "Internal server error"),
    502: ("html", "Bad Gateway"),
    503: ("detail", "Service Unavailable"),
    504: ("html", "Gateway Time-out"),
}


def error_body(status, shape=None, message=None):
    """The body for an error status: a dict (JSON) or a str (HTML)."""
    default_shape, default_message = _DEFAULTS.get(status, ("glossary", "Error"))
    return ERROR_SHAPES[shape or default_shape](status, message or default_message)


class Fault:
    """One posted fault, checked."""

    def __init__(self, spec, index):
        where = "faults[%d]" % index
        if not isinstance(spec, dict):
            raise ValueError("%s: expected an object" % where)
        self.spec = spec
        self.kind = spec.get("fault")
        if self.kind not in KINDS:
            raise ValueError("%s.fault: expected one of %s" % (where, ", ".join(KINDS)))
        match = spec.get("match") or {}
        if not isinstance(match, dict) or set(match) - {"method", "path", "body", "stream"}:
            raise ValueError("%s.match: expected an object with method, path, body, stream" % where)
        try:
            self.method = re.compile(match.get("method", ""), re.IGNORECASE)
            self.path = re.compile(match.get("path", ""))
            self.body = re.compile(match.get("body", ""), re.DOTALL)
        except re.error as e:
            raise ValueError("%s.match: bad regular expression: %s" % (where, e)) from e
        self.stream = match.get("stream")
        times = spec.get("times", 1)
        self.times = None if times in (None, 0) else times  # None: unlimited
        self.skip = spec.get("skip", 0)
        if self.times is not None and (not isinstance(self.times, int) or self.times < 0):
            raise ValueError("%s.times: expected a count, or null for always" % where)
        if self.kind == "status":
            if not isinstance(spec.get("status"), int) or not 100 <= spec["status"] <= 599:
                raise ValueError("%s.status: expected an HTTP status" % where)
            if spec.get("shape") is not None and spec["shape"] not in ERROR_SHAPES:
                raise ValueError("%s.shape: expected one of %s" % (where, ", ".join(ERROR_SHAPES)))
        if self.kind == "latency" and not isinstance(spec.get("ms"), (int, float)):
            raise ValueError("%s.ms: expected milliseconds" % where)
        self.after = spec.get("after", 2)
        self.seconds = spec.get("seconds", 5)
        self.hold = spec.get("hold", 0)

    def matches(self, method, path, body, stream):
        return (self.method.match(method) is not None and self.path.search(path) is not None
                and self.body.search(body) is not None
                and (self.stream is None or self.stream == stream)
                and (self.kind != "error_event" or stream))

    def describe(self):
        d = dict(self.spec)
        d["times_left"] = self.times
        d["skip_left"] = self.skip
        return d


class Faults:
    """The faults waiting to happen; thread-safe."""

    def __init__(self):
        self._lock = threading.Lock()
        self._faults = []

    def add(self, specs):
        specs = specs if isinstance(specs, list) else [specs]
        new = [Fault(s, i) for i, s in enumerate(specs)]
        with self._lock:
            self._faults += new

    def clear(self):
        with self._lock:
            self._faults.clear()

    def dump(self):
        with self._lock:
            return [f.describe() for f in self._faults]

    def take(self, method, path, body, stream):
        """For one request: (milliseconds to wait, the fault to apply or
        None). Every matching latency fault adds its delay; of the other
        kinds, the first matching one applies. Both count as used."""
        delay, chosen = 0, None
        with self._lock:
            for f in list(self._faults):
                if (f.kind != "latency" and chosen is not None) or not f.matches(method, path, body, stream):
                    continue
                if f.skip:
                    f.skip -= 1
                    continue
                if f.kind == "latency":
                    delay += f.spec["ms"]
                else:
                    chosen = f
                if f.times is not None:
                    f.times -= 1
                    if f.times <= 0:
                        self._faults.remove(f)
        return delay, chosen
