"""The wire contract: Mistral's OpenAPI spec, loaded once, used to route
requests to operations and to validate what crosses the wire.

Requests are checked the way the real service (FastAPI + pydantic) checks
them, and refused with the spec's HTTPValidationError shape:

    {"detail": [{"type": "extra_forbidden", "loc": ["body", "foo"],
                 "msg": "Extra inputs are not permitted", "input": 1}]}

Two deliberate departures from the letter of the spec:

* Unknown fields are refused everywhere. Most request schemas say
  `additionalProperties: false`; a few (ConversationRequestBase,
  GuardrailConfig) do not, but the real service refuses unknown fields there
  too (MISTRAL_API.md section 1). So every object schema that lists
  `properties` and says nothing about `additionalProperties` is closed here.
* `loc` is the JSON path of the offending value. Pydantic adds the names of
  union members to it (".., 'MessageInputEntry', 'foo'"); a client only needs
  the path, so that detail is left out.

Only PyYAML and jsonschema are needed. openapi-schema-validator is not used
(Debian 12 does not package it): every `$ref` used here points into
components/schemas and the schemas form no cycle, so the references are
inlined before jsonschema sees them. That also keeps the code clear of
jsonschema's reference-resolution API, which changed between 4.10 (Debian
12) and 4.18.
"""

import copy
import json
import re
import threading

import jsonschema
import yaml

# Keywords that only describe: dropped when inlining, to keep schemas small.
_ANNOTATIONS = ("title", "description", "examples", "example", "default",
                "deprecated", "readOnly", "writeOnly")

# Where the spec disagrees with what the service really sends (MISTRAL_API.md
# section 13). Applied to response schemas only, for the self-check.
_RESPONSE_ERRATA = {
    # Lists "data" as required; real chat completions have no such field.
    "ChatCompletionResponse": lambda s: s.update(
        required=[r for r in s.get("required", []) if r != "data"]),
}


class SpecError(Exception):
    """The spec file cannot be used."""


class Operation:
    """One (method, path) of the spec, with the schemas that apply to it.

    The spec gives a streaming variant its own operation under a path with a
    `#stream` suffix (a Speakeasy device; it is not part of the URL). Both
    variants are merged here: `body_schema(stream)` picks the right one.
    """

    def __init__(self, method, template, op_id):
        self.method = method
        self.template = template
        self.op_id = op_id
        self.body = {}            # stream flag -> request schema name
        self.raw_response = None  # the spec's schema of the 200 JSON body
        self.raw_params = []      # the spec's parameter objects
        self.response = None      # raw_response inlined, on first use
        self.params = None        # [(name, where, required, schema, is_json)], on first use
        names = re.findall(r"\{(\w+)\}", template)
        pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template))
        self.regex = re.compile("^" + pattern + "$")
        # Literal paths win over templated ones (/v1/agents/pages is not an
        # agent id): fewer parameters sort first.
        self.rank = len(names)

    def body_schema(self, stream):
        """The request schema name for this body, or None without a body."""
        return self.body.get(bool(stream), self.body.get(False))


class Spec:
    """Routing and validation against one OpenAPI document."""

    def __init__(self, path):
        try:
            with open(path, "rb") as f:
                loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
                doc = yaml.load(f, Loader=loader)
        except (OSError, yaml.YAMLError) as e:
            raise SpecError("cannot read the spec %s: %s" % (path, e)) from e
        try:
            self._components = doc["components"]["schemas"]
            paths = doc["paths"]
        except (KeyError, TypeError) as e:
            raise SpecError("%s is not an OpenAPI document" % path) from e
        self.path = path
        self._components_inlined = {}   # memo of _inline_component
        self._validators = {}
        # Handlers run on many threads; the memos above are filled lazily.
        # One lock around them and around validation keeps that simple
        # (validating takes a fraction of a millisecond).
        self._lock = threading.Lock()
        self.operations = self._read_operations(paths)
        self.event_schemas = self._read_event_schemas()

    # ---- routing -----------------------------------------------------------

    def _read_operations(self, paths):
        ops = {}
        for raw_path, item in paths.items():
            template, _, variant = raw_path.partition("#")
            for method, op in item.items():
                if method not in ("get", "post", "put", "patch", "delete"):
                    continue
                key = (method.upper(), template)
                o = ops.get(key)
                if o is None:
                    o = ops[key] = Operation(method.upper(), template, op.get("operationId"))
                stream = variant == "stream"
                if not stream:
                    o.op_id = op.get("operationId")
                    o.raw_params = op.get("parameters", [])
                    ok = op.get("responses", {}).get("200", {}).get("content", {})
                    o.raw_response = ok.get("application/json", {}).get("schema")
                body = (op.get("requestBody", {}).get("content", {})
                        .get("application/json", {}).get("schema", {}))
                if "$ref" in body:
                    o.body[stream] = body["$ref"].rsplit("/", 1)[-1]
        return sorted(ops.values(), key=lambda o: (o.rank, o.template))

    def _param(self, p):
        schema, is_json = p.get("schema"), False
        if schema is None and "content" in p:  # JSON-encoded query value
            schema, is_json = p["content"]["application/json"]["schema"], True
        return (p["name"], p["in"], bool(p.get("required")),
                self._inline(schema or {}, ()), is_json)

    def _response_schema(self, op):
        """The operation's 200 schema, inlined and corrected by the errata.
        Inlined on first use: schemas of operations never served here may
        refer to themselves, which inlining cannot do."""
        if op.response is None and op.raw_response is not None:
            name = op.raw_response.get("$ref", "").rsplit("/", 1)[-1]
            inlined = copy.deepcopy(self._inline(op.raw_response, ()))
            if name in _RESPONSE_ERRATA:
                _RESPONSE_ERRATA[name](inlined)
            op.response = inlined
        return op.response

    def _params(self, op):
        if op.params is None:
            op.params = [self._param(p) for p in op.raw_params]
        return op.params

    def _read_event_schemas(self):
        """SSE event type -> schema name, from ConversationEvents' mapping."""
        data = self._components.get("ConversationEvents", {}).get("properties", {}).get("data", {})
        mapping = data.get("discriminator", {}).get("mapping", {})
        return {t: ref.rsplit("/", 1)[-1] for t, ref in mapping.items()}

    def find(self, method, path):
        """(operation, path parameters) for a request, or (None, methods):
        methods is the list of methods the path allows (empty: no such path)."""
        allowed = []
        for o in self.operations:
            m = o.regex.match(path)
            if m is None:
                continue
            if o.method == method:
                return o, m.groupdict()
            allowed.append(o.method)
        return None, allowed

    # ---- schemas -----------------------------------------------------------

    def schema(self, name):
        """The inlined, closed schema of components/schemas/NAME."""
        if name not in self._components:
            raise SpecError("the spec has no schema %s" % name)
        with self._lock:
            return self._inline_component(name, (name,))

    def _inline(self, node, stack):
        """A copy of node with every $ref replaced by its target, every allOf
        of objects merged into one object, and open objects closed. `stack`
        holds the names being inlined, to catch a cycle."""
        if isinstance(node, list):
            return [self._inline(n, stack) for n in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node:
            ref = node["$ref"]
            name = ref.rsplit("/", 1)[-1]
            if not ref.startswith("#/components/schemas/") or name not in self._components:
                raise SpecError("unsupported reference %s" % ref)
            if name in stack:
                raise SpecError("the spec's schemas refer to themselves: %s"
                                % " -> ".join(stack + (name,)))
            target = self._inline_component(name, stack + (name,))
            siblings = {k: v for k, v in node.items() if k != "$ref" and k not in _ANNOTATIONS}
            if siblings:  # OpenAPI 3.1 allows keywords beside $ref
                return {"allOf": [target, self._inline(siblings, stack)]}
            return target
        out = {}
        for k, v in node.items():
            if k in _ANNOTATIONS and not (k == "title" and isinstance(v, str)):
                continue  # the title stays: pydantic names models by it
            if k in ("properties", "patternProperties"):
                out[k] = {prop: self._inline(s, stack) for prop, s in v.items()}
            elif k in ("enum", "const", "required", "discriminator"):
                out[k] = v
            else:
                out[k] = self._inline(v, stack)
        if "allOf" in out:
            out = _merge_all_of(out)
        if "properties" in out and "additionalProperties" not in out:
            out["additionalProperties"] = False
        return out

    def _inline_component(self, name, stack):
        """components/schemas/NAME inlined, memoized (the same dict is shared
        by every place that refers to it; nothing mutates it)."""
        done = self._components_inlined.get(name)
        if done is None:
            done = dict(self._inline(self._components[name], stack))
            done["x-component"] = name
            self._components_inlined[name] = done
        return done

    def _validator(self, key, schema):
        v = self._validators.get(key)
        if v is None:
            cls = jsonschema.Draft202012Validator
            v = self._validators[key] = cls(schema)
        return v

    # ---- validation --------------------------------------------------------

    def validate_body(self, name, instance):
        """Pydantic-style errors of a request body against schema NAME."""
        return self._errors(("body", name), self.schema(name), instance, ["body"])

    def validate_response(self, op, instance):
        """Errors of a JSON response body against the operation's 200 schema."""
        with self._lock:
            schema = self._response_schema(op)
        if schema is None:
            return []
        return self._errors(("response", op.method, op.template), schema, instance, [])

    def validate_event(self, data):
        """Errors of one SSE event's data against its event schema."""
        name = self.event_schemas.get(data.get("type") if isinstance(data, dict) else None)
        if name is None:
            return [{"type": "union_tag_invalid", "loc": ["type"], "msg": "unknown event type"}]
        return self._errors(("event", name), self.schema(name), data, [])

    def validate_params(self, op, path_params, query):
        """Checks path and query parameters. query maps names to lists of
        strings. Returns (values, errors): values are converted to the types
        the spec gives (integers, booleans, lists, decoded JSON)."""
        values, errors = {}, []
        declared = set()
        with self._lock:
            params = self._params(op)
        for name, where, required, schema, is_json in params:
            declared.add((where, name))
            if where == "path":
                raw = [path_params[name]]
            elif where == "query":
                raw = query.get(name)
            else:
                continue  # header parameters: none in the operations used
            loc = [where, name]
            if not raw:
                if required:
                    errors.append(_err("missing", loc, "Field required", None))
                continue
            try:
                value = _convert(raw, schema, is_json)
            except ValueError as e:
                errors.append(_err("json_invalid", loc, "JSON decode error", raw[-1], {"error": str(e)}))
                continue
            found = self._errors(("param", op.method, op.template, name), schema, value, loc)
            errors.extend(found)
            if not found:
                values[name] = value
        # Unknown query parameters are refused too: FastAPI would ignore them,
        # but a client that sends one has a bug the tests should see.
        for name in query:
            if ("query", name) not in declared:
                errors.append(_err("extra_forbidden", ["query", name],
                                   "Extra inputs are not permitted", query[name][-1]))
        return values, errors

    def _errors(self, key, schema, instance, loc):
        with self._lock:
            v = self._validator(key, schema)
            raw = sorted(v.iter_errors(instance), key=lambda e: list(map(str, e.absolute_path)))
            out, seen = [], set()
            for e in raw:
                for d in _pydantic(e, loc):
                    # One error a location, as pydantic gives: a value that
                    # is not a boolean is not also "not False".
                    key = json.dumps(d["loc"])
                    if key not in seen:
                        seen.add(key)
                        out.append(d)
            return out


# ---- helpers ----------------------------------------------------------------


def _merge_all_of(schema):
    """Merges `allOf: [object, object...]` into one object schema, so that a
    closed object can still be extended (ConversationRequest is
    ConversationRequestBase plus `stream`). Anything else is left alone."""
    parts = schema["allOf"]
    if not all(isinstance(p, dict) and (p.get("type") == "object" or "properties" in p) for p in parts):
        return schema
    merged = {k: v for k, v in schema.items() if k != "allOf"}
    merged["type"] = "object"
    props, required, names = {}, [], []
    for p in parts:
        for k, v in p.get("properties", {}).items():
            props[k] = {"allOf": [props[k], v]} if k in props else v
        required += [r for r in p.get("required", []) if r not in required]
        if "x-component" in p:
            names.append(p["x-component"])
        if p.get("additionalProperties") not in (None, False):
            merged["additionalProperties"] = p["additionalProperties"]
    merged["properties"] = props
    if required:
        merged["required"] = required
    if names and "x-component" not in merged:
        merged["x-component"] = names[0]
    return merged


def _types_of(schema):
    """The JSON types a (possibly union) parameter schema accepts."""
    if "anyOf" in schema or "oneOf" in schema:
        out = []
        for s in schema.get("anyOf", []) + schema.get("oneOf", []):
            out += _types_of(s)
        return out
    t = schema.get("type")
    return t if isinstance(t, list) else [t] if t else []


def _convert(raw, schema, is_json):
    """Turns query strings into the JSON values the schema expects."""
    if is_json:
        return json.loads(raw[-1])
    types = _types_of(schema)
    if "array" in types:
        return raw
    s = raw[-1]
    if "integer" in types and re.fullmatch(r"-?[0-9]+", s):
        return int(s)
    if "number" in types and re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", s):
        return float(s)
    if "boolean" in types and s.lower() in ("true", "false", "1", "0"):
        return s.lower() in ("true", "1")
    return s


def _err(kind, loc, msg, value, ctx=None):
    d = {"type": kind, "loc": list(loc), "msg": msg, "input": value}
    if ctx is not None:
        d["ctx"] = ctx
    return d


def _expected(values):
    """Pydantic's list of choices: "'a', 'b' or 'c'"."""
    r = [repr(v) for v in values]
    return r[0] if len(r) == 1 else ", ".join(r[:-1]) + " or " + r[-1]


def _plural(n, word):
    return "%d %s%s" % (n, word, "" if n == 1 else "s")


# jsonschema type -> (pydantic error type, message); the second pair is for a
# string that could not be parsed, as pydantic words it.
_TYPE_ERRORS = {
    "string": ("string_type", "Input should be a valid string"),
    "integer": ("int_type", "Input should be a valid integer"),
    "number": ("float_type", "Input should be a valid number"),
    "boolean": ("bool_type", "Input should be a valid boolean"),
    "array": ("list_type", "Input should be a valid list"),
    "object": ("dict_type", "Input should be a valid dictionary"),
    "null": ("none_required", "Input should be None"),
}
_PARSE_ERRORS = {
    "integer": ("int_parsing", "Input should be a valid integer, unable to parse string as an integer"),
    "number": ("float_parsing", "Input should be a valid number, unable to parse string as a number"),
    "boolean": ("bool_parsing", "Input should be a valid boolean, unable to interpret input"),
}


def _pydantic(error, prefix):
    """The pydantic-style error dicts for one jsonschema error."""
    loc = prefix + list(error.absolute_path)
    inst, schema, kw = error.instance, error.schema, error.validator
    val = error.validator_value
    if kw in ("anyOf", "oneOf"):
        return _union(error, prefix)
    if kw == "additionalProperties":
        props = schema.get("properties", {})
        pats = [re.compile(p) for p in schema.get("patternProperties", {})]
        return [_err("extra_forbidden", loc + [k], "Extra inputs are not permitted", inst[k])
                for k in inst if k not in props and not any(p.search(k) for p in pats)]
    if kw == "required":
        return [_err("missing", loc + [k], "Field required", inst) for k in val if k not in inst]
    if kw == "type":
        want = val if isinstance(val, str) else val[0]
        if want == "integer" and isinstance(inst, float):
            return [_err("int_from_float", loc,
                         "Input should be a valid integer, got a number with a fractional part", inst)]
        if want == "object" and "properties" in schema and "title" in schema:
            return [_err("model_type", loc, "Input should be a valid dictionary or instance of %s"
                         % schema["title"], inst, {"class_name": schema["title"]})]
        kind, msg = (_PARSE_ERRORS[want] if isinstance(inst, str) and want in _PARSE_ERRORS
                     else _TYPE_ERRORS.get(want, ("value_error", error.message)))
        return [_err(kind, loc, msg, inst)]
    if kw == "enum":
        exp = _expected(val)
        return [_err("enum" if len(val) > 1 else "literal_error", loc,
                     "Input should be " + exp, inst, {"expected": exp})]
    if kw == "const":
        exp = _expected([val])
        return [_err("literal_error", loc, "Input should be " + exp, inst, {"expected": exp})]
    bounds = {
        "minimum": ("greater_than_equal", "greater than or equal to", "ge"),
        "maximum": ("less_than_equal", "less than or equal to", "le"),
        "exclusiveMinimum": ("greater_than", "greater than", "gt"),
        "exclusiveMaximum": ("less_than", "less than", "lt"),
    }
    if kw in bounds:
        kind, words, key = bounds[kw]
        return [_err(kind, loc, "Input should be %s %s" % (words, val), inst, {key: val})]
    if kw == "minItems":
        return [_err("too_short", loc, "List should have at least %s after validation, not %d"
                     % (_plural(val, "item"), len(inst)), inst,
                     {"field_type": "List", "min_length": val, "actual_length": len(inst)})]
    if kw == "maxItems":
        return [_err("too_long", loc, "List should have at most %s after validation, not %d"
                     % (_plural(val, "item"), len(inst)), inst,
                     {"field_type": "List", "max_length": val, "actual_length": len(inst)})]
    if kw == "minLength":
        return [_err("string_too_short", loc, "String should have at least %s"
                     % _plural(val, "character"), inst, {"min_length": val})]
    if kw == "maxLength":
        return [_err("string_too_long", loc, "String should have at most %s"
                     % _plural(val, "character"), inst, {"max_length": val})]
    if kw == "pattern":
        return [_err("string_pattern_mismatch", loc, "String should match pattern '%s'" % val,
                     inst, {"pattern": val})]
    return [_err("value_error", loc, "Value error, " + error.message, inst)]


def _union(error, prefix):
    """Errors of a failed anyOf/oneOf, as the member the input was meant for
    would report them. A tagged union (OpenAPI `discriminator`) is decided by
    its tag, as pydantic does. Otherwise members whose type, or whose
    `type`/`object`/`role` constant, does not fit are passed over, and of the
    rest the one with the fewest errors wins."""
    loc = prefix + list(error.absolute_path)
    inst, schema, kw = error.instance, error.schema, error.validator
    members = schema[kw]
    if not error.context:  # oneOf matched more than one member
        return [_err("value_error", loc, "Value error, input matches more than one union member", inst)]
    by_member = {}
    for e in error.context:
        by_member.setdefault(e.schema_path[0], []).append(e)

    disc = schema.get("discriminator")
    if disc and isinstance(inst, dict):
        prop = disc["propertyName"]
        tags = disc.get("mapping", {})
        expected = ", ".join(repr(t) for t in tags)
        if prop not in inst:
            return [_err("union_tag_not_found", loc, "Unable to extract tag using discriminator %r" % prop,
                         inst, {"discriminator": repr(prop)})]
        target = tags.get(inst[prop], "").rsplit("/", 1)[-1]
        for i, m in enumerate(members):
            if target and m.get("x-component") == target and i in by_member:
                return [d for e in by_member[i] for d in _pydantic(e, prefix)]
        if not target:
            return [_err("union_tag_invalid", loc,
                         "Input tag %r found using %r does not match any of the expected tags: %s"
                         % (inst[prop], prop, expected), inst,
                         {"discriminator": repr(prop), "tag": repr(inst[prop]), "expected_tags": expected})]

    depth = len(error.absolute_path)

    def misfit(e):
        rel = list(e.absolute_path)[depth:]
        if not rel and e.validator in ("type", "const", "enum"):
            return True
        if len(rel) == 1 and e.validator in ("const", "enum") and rel[0] in ("type", "object", "role"):
            return True
        return False

    fitting = [i for i, errs in sorted(by_member.items()) if not any(misfit(e) for e in errs)]
    if fitting:
        best = min(fitting, key=lambda i: len(by_member[i]))
    else:  # no member fits: report the first that is not `null`
        best = next((i for i in sorted(by_member) if members[i].get("type") != "null"), min(by_member))
    return [d for e in by_member[best] for d in _pydantic(e, prefix)]
