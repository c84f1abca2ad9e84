"""Read OpenAI requests and responses: span inputs and outputs as plain data, and the normalized attributes.

Everything here only reads: a request's arguments and the SDK's response objects are never changed, and an
iterable that is not a list (a generator of messages, say) is never consumed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from spanlog.plugins.llm import set_llm_attributes, token_usage

_SENTINELS = frozenset({"NotGiven", "Omit"})  # the SDK's "argument not given" markers
_HIDDEN_ARGUMENTS = frozenset({"extra_headers"})  # transport details that may carry credentials
_TYPE_ARGUMENTS = frozenset({"response_format", "text_format"})  # a pydantic class in .parse()
_PYDANTIC_V2: bool | None = None


_UNREAD = object()


class Request:
    """The request side of one call: its model, provider, messages and tools, each read at most once."""

    __slots__ = ("_messages", "_messages_of", "_tools", "_tools_of", "kwargs", "provider")

    def __init__(
        self,
        kwargs: Mapping[str, Any],
        provider: str | None,
        messages_of: Callable[[Mapping[str, Any]], list[Any] | None],
        tools_of: Callable[[Mapping[str, Any]], list[Any] | None] | None,
    ) -> None:
        self.kwargs = kwargs
        self.provider = provider
        self._messages_of = messages_of
        self._tools_of = tools_of
        self._messages: Any = _UNREAD
        self._tools: Any = _UNREAD

    @property
    def model(self) -> Any:
        """The requested model."""
        return given(self.kwargs, "model")

    @property
    def messages(self) -> list[Any] | None:
        """The request's messages in the chat shape."""
        if self._messages is _UNREAD:
            self._messages = self._messages_of(self.kwargs)
        return self._messages

    @property
    def tools(self) -> list[Any] | None:
        """The request's tools in the chat shape."""
        if self._tools is _UNREAD:
            self._tools = self._tools_of(self.kwargs) if self._tools_of is not None else None
        return self._tools

    def conversation(self, reply: Any) -> list[Any] | None:
        """The request's messages followed by the reply (when there is one)."""
        messages = self.messages
        if reply is None:
            return messages
        return [*(messages or ()), reply]

    def record(self, span: Any) -> None:
        """Set what is known without a response: model, provider, messages, tools."""
        set_llm_attributes(
            span, model=self.model, provider=self.provider, messages=self.messages, tools=self.tools
        )


def without_nulls(message: Mapping[str, Any]) -> dict[str, Any]:
    """A message dict without its null fields (``"refusal": null``, ...)."""
    return {key: value for key, value in message.items() if value is not None}


def request_inputs(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The span inputs of a call: its keyword arguments, without unset markers and ``extra_headers``."""
    inputs: dict[str, Any] = {}
    for key, value in kwargs.items():
        if key in _HIDDEN_ARGUMENTS or type(value).__name__ in _SENTINELS:
            continue
        if key in _TYPE_ARGUMENTS and isinstance(value, type):
            value = describe_type(value)
        inputs[key] = value
    return inputs


def describe_type(cls: type) -> dict[str, Any]:
    """A class given as a structured-output format, as the JSON schema format the request sends."""
    described: dict[str, Any] = {"type": "json_schema", "name": cls.__name__}
    schema = getattr(cls, "model_json_schema", None)
    if callable(schema):
        try:
            described["schema"] = schema()
        except Exception:  # a model pydantic cannot describe: the name is enough
            pass
    return described


def given(kwargs: Mapping[str, Any], key: str) -> Any:
    """An argument's value, or None when it is missing or an SDK "not given" marker."""
    value = kwargs.get(key)
    return None if value is None or type(value).__name__ in _SENTINELS else value


def plain(obj: Any) -> Any:
    """A response object as plain data: the fields the server sent (pydantic models dumped), else ``obj``."""
    dump = getattr(obj, "model_dump", None)
    if dump is None:
        return obj
    if _pydantic_v2():
        return dump(exclude_unset=True, warnings=False)
    return dump(exclude_unset=True)


def _pydantic_v2() -> bool:
    global _PYDANTIC_V2
    if _PYDANTIC_V2 is None:
        import pydantic

        _PYDANTIC_V2 = not pydantic.VERSION.startswith("1.")
    return _PYDANTIC_V2


def _compact(obj: Any) -> Any:
    """A message-like object as a dict without null fields (dicts given by the user are kept as they are)."""
    if isinstance(obj, dict):
        return obj
    dump = getattr(obj, "model_dump", None)
    if dump is None:
        return obj
    if _pydantic_v2():
        return dump(exclude_none=True, warnings=False)
    return dump(exclude_none=True)


def _get(obj: Any, key: str) -> Any:
    """``obj[key]`` for dicts, ``obj.key`` for SDK objects; None when missing."""
    if isinstance(obj, dict):
        return obj.get(key)
    return getattr(obj, key, None)


# -- chat completions -----------------------------------------------------------------------------------------


def chat_input_messages(kwargs: Mapping[str, Any]) -> list[Any] | None:
    """The request's messages (only when given as a list or tuple, so nothing is consumed)."""
    messages = kwargs.get("messages")
    if not isinstance(messages, (list, tuple)):
        return None
    return [_compact(message) for message in messages]


def chat_tools(kwargs: Mapping[str, Any]) -> list[Any] | None:
    """The tools a chat request offers, in the chat shape (legacy ``functions`` converted)."""
    tools = given(kwargs, "tools")
    if isinstance(tools, (list, tuple)) and tools:
        return [_compact(tool) for tool in tools]
    functions = given(kwargs, "functions")
    if isinstance(functions, (list, tuple)) and functions:
        return [{"type": "function", "function": _compact(function)} for function in functions]
    return None


def chat_message_tool_calls(message: Any) -> list[Any] | None:
    """The tool calls of an assistant message (a legacy ``function_call`` as one call), as dicts."""
    calls = _get(message, "tool_calls")
    if calls:
        return [_compact(call) for call in calls]
    function_call = _get(message, "function_call")
    if function_call:
        return [{"type": "function", "function": _compact(function_call)}]
    return None


def chat_usage(usage: Any) -> dict[str, int] | None:
    """Normalized usage of chat and legacy completions (``prompt_tokens`` ... ``cached_tokens``)."""
    if usage is None:
        return None
    details = _get(usage, "prompt_tokens_details")
    return token_usage(
        input_tokens=_get(usage, "prompt_tokens"),
        output_tokens=_get(usage, "completion_tokens"),
        total_tokens=_get(usage, "total_tokens"),
        cached_input_tokens=_get(details, "cached_tokens") if details is not None else None,
    )


def embedding_usage(usage: Any) -> dict[str, int] | None:
    """Normalized usage of an embeddings call (input and total tokens)."""
    if usage is None:
        return None
    return token_usage(input_tokens=_get(usage, "prompt_tokens"), total_tokens=_get(usage, "total_tokens"))


# -- responses ------------------------------------------------------------------------------------------------


def responses_input_messages(kwargs: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    """``instructions`` and ``input`` of a Responses request as chat messages (tool turns included)."""
    messages: list[dict[str, Any]] = []
    instructions = given(kwargs, "instructions")
    if isinstance(instructions, str):
        messages.append({"role": "system", "content": instructions})
    items = given(kwargs, "input")
    if isinstance(items, str):
        messages.append({"role": "user", "content": items})
    elif isinstance(items, (list, tuple)):
        for item in items:
            message = _responses_item_message(item)
            if message is not None:
                messages.append(message)
    return messages or None


def _responses_item_message(item: Any) -> dict[str, Any] | None:
    kind = _get(item, "type")
    role = _get(item, "role")
    if role is not None and kind in (None, "message"):
        return {"role": role, "content": _plain_content(_get(item, "content"))}
    if kind == "function_call":
        return {"role": "assistant", "content": None, "tool_calls": [_responses_tool_call(item)]}
    if kind == "function_call_output":
        return {"role": "tool", "tool_call_id": _get(item, "call_id"), "content": _get(item, "output")}
    return None


def _plain_content(content: Any) -> Any:
    if isinstance(content, (str, type(None))):
        return content
    if isinstance(content, (list, tuple)):
        return [_compact(part) for part in content]
    return _compact(content)


def _responses_tool_call(item: Any) -> dict[str, Any]:
    return {
        "id": _get(item, "call_id"),
        "type": "function",
        "function": {"name": _get(item, "name"), "arguments": _get(item, "arguments")},
    }


def responses_tools(kwargs: Mapping[str, Any]) -> list[Any] | None:
    """The tools of a Responses request; function tools in the chat shape, built-in tools as given."""
    tools = given(kwargs, "tools")
    if not isinstance(tools, (list, tuple)) or not tools:
        return None
    converted: list[Any] = []
    for tool in tools:
        if _get(tool, "type") == "function":
            function = {
                key: _get(tool, key)
                for key in ("name", "description", "parameters", "strict")
                if _get(tool, key) is not None
            }
            converted.append({"type": "function", "function": function})
        else:
            converted.append(_compact(tool))
    return converted


def responses_output(response: Any) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """The reply of a Responses result as one assistant message, and its function calls."""
    texts: list[str] = []
    refusals: list[str] = []
    calls: list[dict[str, Any]] = []
    for item in _get(response, "output") or ():
        kind = _get(item, "type")
        if kind == "message":
            for part in _get(item, "content") or ():
                part_type = _get(part, "type")
                if part_type == "output_text":
                    texts.append(_get(part, "text") or "")
                elif part_type == "refusal":
                    refusals.append(_get(part, "refusal") or "")
        elif kind == "function_call":
            calls.append(_responses_tool_call(item))
    if not (texts or refusals or calls):
        return None, calls
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts else None}
    if refusals:
        message["refusal"] = "".join(refusals)
    if calls:
        message["tool_calls"] = calls
    return message, calls


def responses_finish_reason(response: Any, has_calls: bool) -> str | None:
    """A chat-style finish reason for a Responses result: stop, tool_calls, length, content_filter, ..."""
    status = _get(response, "status")
    if status == "completed":
        return "tool_calls" if has_calls else "stop"
    if status == "incomplete":
        reason = _get(_get(response, "incomplete_details"), "reason")
        return "length" if reason == "max_output_tokens" else (reason or "incomplete")
    return status


def responses_usage(usage: Any) -> dict[str, int] | None:
    """Normalized usage of a Responses result (``input_tokens`` ... ``cached_tokens``)."""
    if usage is None:
        return None
    details = _get(usage, "input_tokens_details")
    return token_usage(
        input_tokens=_get(usage, "input_tokens"),
        output_tokens=_get(usage, "output_tokens"),
        total_tokens=_get(usage, "total_tokens"),
        cached_input_tokens=_get(details, "cached_tokens") if details is not None else None,
    )
