"""Turning answers into server-sent events, as MISTRAL_API.md section 9 and
12.1 show them.

Conversation streams: `event: TYPE` and `data: JSON` lines and a blank line
per event; conversation.response.started first, conversation.response.done
(with usage) last, no [DONE]. Each output entry becomes a group of events
sharing its output_index: message text is cut into several
message.output.delta events, function arguments into several
function.call.delta events, a tool execution into started/delta/done, a
handoff into started/done. Rebuilding the entries the way the official SDK
does (concatenate per output_index) gives back the stored entries.

Chat streams: data-only events of chat.completion.chunk objects, the last
content chunk with finish_reason and usage, then `data: [DONE]`. A tool call
comes whole in one delta, as observed on Mistral's service, or split as
OpenAI-compatible servers (vLLM, Ollama, llama.cpp) send it: the id and name
in a first delta, the arguments in fragments after it, each with the call's
`index`.
"""

import json
import re


def frame(event_type, data):
    """One conversation event as bytes."""
    return b"event: %s\ndata: %s\n\n" % (event_type.encode(), dumps(data).encode())


def data_frame(data):
    """One data-only event (chat streams); data is an object or "[DONE]"."""
    text = data if isinstance(data, str) else dumps(data)
    return b"data: %s\n\n" % text.encode()


def dumps(obj):
    """Compact JSON on one line, as the service writes event data."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def text_pieces(text, words=2):
    """Text cut into deltas of a few words; joined, they give the text back."""
    parts = re.findall(r"\s*\S+\s*|\s+", text)
    pieces = ["".join(parts[i:i + words]) for i in range(0, len(parts), words)]
    return pieces or [""]


def fragments(s, n=3):
    """A string cut into n fragments (fewer if it is short)."""
    if len(s) < n * 2:
        return [s]
    step = -(-len(s) // n)
    return [s[i:i + step] for i in range(0, len(s), step)]


def conversation_events(conversation_id, outputs, usage, created_at):
    """The (type, data) pairs of a conversation stream."""
    events = [("conversation.response.started",
               {"type": "conversation.response.started", "created_at": created_at,
                "conversation_id": conversation_id})]
    for index, e in enumerate(outputs):
        events += _entry_events(index, e)
    events.append(("conversation.response.done",
                   {"type": "conversation.response.done", "created_at": created_at,
                    "usage": usage.as_json(omit_nulls=True)}))
    return events


def _entry_events(index, e):
    kind = e["type"]
    base = {"created_at": e["created_at"], "output_index": index, "id": e["id"]}
    producer = {"model": e.get("model"), "agent_id": e.get("agent_id")}
    out = []
    if kind == "message.output":
        content = e["content"]
        # A string is content_index 0 throughout; a chunk list numbers its
        # chunks, text chunks being cut into several deltas each.
        chunks = [content] if isinstance(content, str) else content
        for ci, chunk in enumerate(chunks):
            if isinstance(chunk, str) or chunk.get("type") == "text":
                text = chunk if isinstance(chunk, str) else chunk["text"]
                pieces = text_pieces(text)
            else:
                pieces = [chunk]
            for piece in pieces:
                out.append(dict({"type": "message.output.delta"}, **base, content_index=ci,
                                **producer, role="assistant", content=piece))
    elif kind == "function.call":
        args = e["arguments"] if isinstance(e["arguments"], str) else dumps(e["arguments"])
        extra = {"confirmation_status": e["confirmation_status"]} if e.get("confirmation_status") else {}
        for piece in fragments(args):
            out.append(dict({"type": "function.call.delta"}, **base, **producer, name=e["name"],
                            tool_call_id=e["tool_call_id"], arguments=piece, **extra))
    elif kind == "tool.execution":
        out.append(dict({"type": "tool.execution.started"}, **base, **producer,
                        name=e["name"], arguments=""))
        for piece in fragments(e["arguments"]) if e["arguments"] else []:
            out.append(dict({"type": "tool.execution.delta"}, **base, name=e["name"], arguments=piece))
        out.append(dict({"type": "tool.execution.done"}, **base, name=e["name"], info=e.get("info") or {}))
    elif kind == "agent.handoff":
        out.append(dict({"type": "agent.handoff.started"}, **base,
                        previous_agent_id=e["previous_agent_id"],
                        previous_agent_name=e["previous_agent_name"]))
        out.append(dict({"type": "agent.handoff.done"}, **base,
                        next_agent_id=e["next_agent_id"], next_agent_name=e["next_agent_name"]))
    return [(d["type"], d) for d in out]


def chat_chunks(completion, split=False):
    """The data objects of a streamed chat completion, ending with "[DONE]";
    split: tool calls cut into several deltas."""
    choice = completion["choices"][0]
    message = choice["message"]

    def chunk(delta, finish=None, usage=None):
        return {"id": completion["id"], "object": "chat.completion.chunk",
                "created": completion["created"], "model": completion["model"],
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                "usage": usage}

    out = [chunk({"role": "assistant", "content": ""})]
    if message.get("tool_calls") and split:
        deltas = []
        for call in message["tool_calls"]:
            fn = call["function"]
            deltas.append({"index": call["index"], "id": call["id"], "type": "function",
                           "function": {"name": fn["name"], "arguments": ""}})
            deltas += [{"index": call["index"], "function": {"arguments": piece}}
                       for piece in fragments(fn["arguments"])]
        for i, delta in enumerate(deltas):
            last = i == len(deltas) - 1
            out.append(chunk({"tool_calls": [delta]}, choice["finish_reason"] if last else None,
                             completion["usage"] if last else None))
    elif message.get("tool_calls"):
        # Each tool call whole in one delta, as observed on the service.
        calls = message["tool_calls"]
        for i, call in enumerate(calls):
            last = i == len(calls) - 1
            out.append(chunk({"tool_calls": [call]}, choice["finish_reason"] if last else None,
                             completion["usage"] if last else None))
    else:
        pieces = text_pieces(message["content"])
        for i, piece in enumerate(pieces):
            last = i == len(pieces) - 1
            out.append(chunk({"content": piece}, choice["finish_reason"] if last else None,
                             completion["usage"] if last else None))
    out.append("[DONE]")
    return out
