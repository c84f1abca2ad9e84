"""Anthropic requests and replies in spanlog's shapes: plain data for inputs and outputs, and the OpenAI chat
shapes of the normalized attributes (messages, tools, tool calls, token usage).

Everything here only reads: the user's arguments and the SDK's objects are never changed, and an iterable
that is not a list or a tuple (a generator of messages, say) is never consumed. Request values may be dicts
(the SDK's ``TypedDict`` params) or SDK objects (a previous reply's ``content`` sent back), so every field is
read with :func:`get`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from spanlog.plugins.llm import token_usage

_SENTINELS = frozenset({"NotGiven", "Omit"})  # the SDK's "argument not given" markers
_HIDDEN_ARGUMENTS = frozenset({"extra_headers"})  # transport details that may carry credentials
_SKIPPED_BLOCKS = frozenset({"thinking", "redacted_thinking"})  # reasoning: not part of the chat shape


def get(obj: Any, key: str) -> Any:
    """``obj[key]`` for mappings, ``obj.key`` for SDK objects; None when missing."""
    if isinstance(obj, Mapping):
        return obj.get(key)
    return getattr(obj, key, None)


def given(kwargs: Mapping[str, Any], key: str) -> Any:
    """An argument's value, or None when it is missing or an SDK "not given" marker."""
    value = kwargs.get(key)
    return None if value is None or type(value).__name__ in _SENTINELS else value


def plain(obj: Any) -> Any:
    """An SDK object as plain data (the fields the API sent); anything else as it is."""
    to_dict = getattr(obj, "to_dict", None)
    if callable(to_dict) and not isinstance(obj, Mapping):
        return to_dict(mode="json", warnings=False)
    dump = getattr(obj, "model_dump", None)
    if callable(dump):
        return dump(mode="json", exclude_unset=True)
    return obj


def request_inputs(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The span inputs of a call: its keyword arguments, without unset markers and ``extra_headers``."""
    inputs: dict[str, Any] = {}
    for key, value in kwargs.items():
        if key in _HIDDEN_ARGUMENTS or type(value).__name__ in _SENTINELS:
            continue
        if isinstance(value, type):  # ``output_format=SomeModel`` of messages.stream / parse
            value = {"type": "json_schema", "name": value.__name__}
        inputs[key] = value
    return inputs


# -- messages -------------------------------------------------------------------------------------------------


def input_messages(kwargs: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    """The request as chat messages: ``system`` as a system message, then each message converted."""
    messages: list[dict[str, Any]] = []
    system = given(kwargs, "system")
    if system is not None:
        messages.append({"role": "system", "content": content(system)})
    turns = given(kwargs, "messages")
    if isinstance(turns, (list, tuple)):
        for turn in turns:
            messages.extend(chat_messages(turn))
    return messages or None


def chat_messages(message: Any) -> list[dict[str, Any]]:
    """One Anthropic message as chat messages: ``tool_result`` blocks become ``tool`` messages (first, as
    they answer the previous turn), ``tool_use`` blocks the ``tool_calls`` of the message itself."""
    role = get(message, "role")
    body = get(message, "content")
    if not isinstance(body, (list, tuple)):
        return [{"role": role, "content": content(body)}]
    results: list[dict[str, Any]] = []
    blocks: list[Any] = []
    calls: list[dict[str, Any]] = []
    for block in body:
        kind = get(block, "type")
        if kind == "tool_result":
            answer = content(get(block, "content"))
            results.append({"role": "tool", "tool_call_id": get(block, "tool_use_id"), "content": answer})
        elif kind == "tool_use":
            calls.append(tool_call(block))
        elif kind not in _SKIPPED_BLOCKS:
            blocks.append(block)
    if blocks or calls or not results:
        turn: dict[str, Any] = {"role": role, "content": content(blocks) if blocks else None}
        if calls:
            turn["tool_calls"] = calls
        results.append(turn)
    return results


def content(value: Any) -> Any:
    """Message content in the chat shape: text blocks joined into one string (as the SDK's
    ``get_final_text`` joins them); with images or other blocks, a list of chat content parts."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if not isinstance(value, (list, tuple)):
        return plain(value)
    parts = [_part(block) for block in value if get(block, "type") not in _SKIPPED_BLOCKS]
    if all(isinstance(part, Mapping) and part.get("type") == "text" for part in parts):
        return "".join(part.get("text") or "" for part in parts)
    return parts


def _part(block: Any) -> Any:
    kind = get(block, "type")
    if kind == "text":
        return {"type": "text", "text": get(block, "text")}
    if kind == "image":
        source = get(block, "source")
        source_type = get(source, "type")
        if source_type == "base64":
            url = f"data:{get(source, 'media_type')};base64,{get(source, 'data')}"
            return {"type": "image_url", "image_url": {"url": url}}
        if source_type == "url":
            return {"type": "image_url", "image_url": {"url": get(source, "url")}}
    return plain(block)  # documents, files, search results, ...: as given


def tool_call(block: Any) -> dict[str, Any]:
    """A ``tool_use`` block as a chat tool call; ``arguments`` is the input as a JSON string."""
    arguments = get(block, "input")
    if not isinstance(arguments, str):  # a string: the unparsable JSON of a stream cut short
        arguments = json.dumps(plain(arguments) if arguments is not None else {}, default=str)
    return {
        "id": get(block, "id"),
        "type": "function",
        "function": {"name": get(block, "name"), "arguments": arguments},
    }


# -- tools ----------------------------------------------------------------------------------------------------


def tools(kwargs: Mapping[str, Any]) -> list[Any] | None:
    """The tools offered: client tools (those with an ``input_schema``) in the chat function shape, server
    tools (web search, code execution, ...) as given."""
    offered = given(kwargs, "tools")
    if not isinstance(offered, (list, tuple)) or not offered:
        return None
    converted: list[Any] = []
    for tool in offered:
        schema = get(tool, "input_schema")
        if schema is None and get(tool, "type") not in (None, "custom"):
            converted.append(plain(tool))
            continue
        function: dict[str, Any] = {"name": get(tool, "name")}
        description = get(tool, "description")
        if description is not None:
            function["description"] = description
        function["parameters"] = plain(schema) if schema is not None else {}
        converted.append({"type": "function", "function": function})
    return converted


# -- replies --------------------------------------------------------------------------------------------------


def reply(message: Any) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """A reply (``Message`` or its plain dict) as one assistant chat message, and its tool calls."""
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in get(message, "content") or ():
        kind = get(block, "type")
        if kind == "text":
            texts.append(get(block, "text") or "")
        elif kind == "tool_use":
            calls.append(tool_call(block))
    if not texts and not calls:
        return None, calls
    turn: dict[str, Any] = {
        "role": get(message, "role") or "assistant",
        "content": "".join(texts) if texts else None,
    }
    if calls:
        turn["tool_calls"] = calls
    return turn, calls


def usage(value: Any) -> dict[str, int] | None:
    """Normalized usage. Anthropic counts cache reads and cache writes apart from ``input_tokens``; the
    normalized ``input_tokens`` is the whole prompt (as for every provider), ``cached_input_tokens`` the
    part read from the cache."""
    if value is None:
        return None
    uncached = get(value, "input_tokens")
    read = get(value, "cache_read_input_tokens")
    written = get(value, "cache_creation_input_tokens")
    prompt = uncached
    if isinstance(uncached, int):
        prompt = uncached + sum(n for n in (read, written) if isinstance(n, int) and not isinstance(n, bool))
    return token_usage(
        input_tokens=prompt,
        output_tokens=get(value, "output_tokens"),
        cached_input_tokens=read,
    )
