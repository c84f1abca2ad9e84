"""What LlamaIndex objects become in a span: span types, inputs, outputs and the normalized chat attributes.

Everything here reads LlamaIndex objects by duck typing (attributes, not isinstance on private classes), so
that a shape it does not know yields less detail, never an error in the user's call.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Mapping, Sequence
from typing import Any

from spanlog.entities import SpanType
from spanlog.plugins.llm import provider_from_base_url, token_usage

CHAT_METHODS = frozenset({"chat", "achat", "stream_chat", "astream_chat"})
COMPLETION_METHODS = frozenset({"complete", "acomplete", "stream_complete", "astream_complete"})
MODEL_TYPES = frozenset({SpanType.CHAT_MODEL, SpanType.LLM, SpanType.EMBEDDING})
"""Span types that cover one model call: the provider's own span is suppressed inside them."""


class Classes:
    """The LlamaIndex base classes that decide a span's type, filled in by ``handlers.install``."""

    llm: tuple[type, ...] = ()
    embedding: tuple[type, ...] = ()
    retriever: tuple[type, ...] = ()
    postprocessor: tuple[type, ...] = ()
    tool: tuple[type, ...] = ()
    agent: tuple[type, ...] = ()
    parser: tuple[type, ...] = ()
    node_with_score: tuple[type, ...] = ()
    base_node: tuple[type, ...] = ()
    query_bundle: tuple[type, ...] = ()
    prompt: tuple[type, ...] = ()
    response: tuple[type, ...] = ()
    streaming: tuple[type, ...] = ()
    token_streams: tuple[type, ...] = ()
    chat_message: tuple[type, ...] = ()


CLASSES = Classes()

_types: dict[tuple[type, str], str] = {}  # (class of the instance, method) -> span type


def span_type(instance: Any, method: str) -> str:
    """The span type of ``method`` called on ``instance`` (computed once per class and method)."""
    if instance is None:
        return SpanType.CHAIN
    key = (type(instance), method)
    found = _types.get(key)
    if found is None:
        found = _types[key] = _classify(instance, method)
    return found


def _classify(instance: Any, method: str) -> str:
    c = CLASSES
    if isinstance(instance, c.llm):
        if method in CHAT_METHODS:
            return SpanType.CHAT_MODEL
        if method in COMPLETION_METHODS:
            return SpanType.LLM
        return SpanType.CHAIN  # predict, structured_predict, ...: they call chat/complete, which get the span
    if isinstance(instance, c.embedding):
        return SpanType.EMBEDDING
    if isinstance(instance, c.retriever):
        return SpanType.RETRIEVER
    if isinstance(instance, c.postprocessor):
        return SpanType.RERANKER
    if isinstance(instance, c.tool):
        return SpanType.TOOL
    if isinstance(instance, c.agent):
        return SpanType.AGENT
    if isinstance(instance, c.parser):
        return SpanType.PARSER
    return SpanType.CHAIN


def split_id(id_: str) -> tuple[str, str]:
    """LlamaIndex span ids read ``Class.method-<uuid4>``: the name ``Class.method`` and the method."""
    name = id_[:-37] if len(id_) > 37 and id_[-37] == "-" else id_
    if "<locals>." in name:  # a workflow step defined in a function: ``main.<locals>.Flow.step``
        name = name.rpartition("<locals>.")[2]
    return name, name.rpartition(".")[2]


def tool_name(instance: Any) -> str | None:
    """The name a tool is offered to the model under."""
    metadata = getattr(instance, "metadata", None)
    name = getattr(metadata, "name", None)
    return name if isinstance(name, str) and name else None


def inputs(bound_args: inspect.BoundArguments | None) -> dict[str, Any]:
    """The call's arguments, without ``self`` and without empty ``**kwargs``, LlamaIndex's own objects in
    their readable form (see :func:`plain`)."""
    if bound_args is None:
        return {}
    args = {}
    for name, value in bound_args.arguments.items():
        if name == "self":
            continue
        if bound_args.signature.parameters[name].kind is inspect.Parameter.VAR_KEYWORD:
            for key, item in value.items():
                args[key] = plain(item)
        else:
            args[name] = plain(value)
    return args


_SCALARS = (str, int, float, bool, type(None))


def plain(value: Any) -> Any:
    """A LlamaIndex object as a reader wants to see it, and cheap to serialize: a query bundle as its query
    string, a prompt template as its template, nodes and messages as small dicts; anything else unchanged."""
    if isinstance(value, _SCALARS):
        return value
    c = CLASSES
    if isinstance(value, c.query_bundle):
        return value.query_str
    if isinstance(value, c.node_with_score):
        return node(value)
    if isinstance(value, c.chat_message):
        return message(value)
    if isinstance(value, c.prompt):
        return prompt(value)
    if isinstance(value, c.base_node):
        return node(value)
    if isinstance(value, list) and value and not isinstance(value[0], _SCALARS):
        return [plain(item) for item in value]
    return value


def prompt(value: Any) -> Any:
    """A prompt template: its template text (a chat template: its messages), and the variables it fills."""
    messages_ = getattr(value, "message_templates", None)
    template = messages(messages_) if messages_ else getattr(value, "template", None)
    if template is None:
        get_template = getattr(value, "get_template", None)
        template = get_template() if callable(get_template) else str(value)
    variables = getattr(value, "kwargs", None)
    return {"template": template, "variables": dict(variables)} if variables else {"template": template}


def node(item: Any) -> dict[str, Any]:
    """A retrieved node with its score: ``{"id", "score", "text", "metadata"}``."""
    inner = getattr(item, "node", item)
    text = getattr(inner, "text", None)
    if text is None:
        get_content = getattr(inner, "get_content", None)
        text = get_content() if callable(get_content) else None
    return {
        "id": getattr(inner, "node_id", None) or getattr(inner, "id_", None),
        "score": getattr(item, "score", None),
        "text": text,
        "metadata": dict(getattr(inner, "metadata", None) or {}),
    }


def nodes(items: Sequence[Any]) -> list[dict[str, Any]]:
    """Retrieved (or reranked) nodes, in order, with their scores."""
    return [node(item) for item in items]


def is_nodes(value: Any) -> bool:
    """True for a non-empty list of ``NodeWithScore``."""
    return isinstance(value, list) and bool(value) and isinstance(value[0], CLASSES.node_with_score)


def outputs(value: Any) -> Any:
    """What a span shows as its outputs for a LlamaIndex result."""
    if isinstance(value, CLASSES.response):
        return response_outputs(value)
    if is_nodes(value):
        return nodes(value)
    if isinstance(value, CLASSES.chat_message):
        return message(value)
    reply = getattr(value, "message", None)
    if isinstance(reply, CLASSES.chat_message):  # ChatResponse
        return message(reply)
    return value


def response_outputs(value: Any) -> Any:
    """A query engine's or agent's response: its text, and the source nodes it was built from."""
    text = getattr(value, "response", None)
    sources = getattr(value, "source_nodes", None) or []
    if not sources:
        return text if text is not None else str(value)
    return {"response": text, "source_nodes": nodes(sources)}


def is_streaming_result(value: Any) -> bool:
    """True for a result whose content arrives later (a streaming response or chat response)."""
    return isinstance(value, CLASSES.streaming)


# -- chat ----------------------------------------------------------------------------------------------------


def _role(msg: Any) -> str:
    role = getattr(msg, "role", None)
    return str(getattr(role, "value", role) or "user")


def message(msg: Any) -> dict[str, Any]:
    """A ``ChatMessage`` in the OpenAI chat shape (``role``, ``content``, ``tool_calls``, ``tool_call_id``)."""
    out: dict[str, Any] = {"role": _role(msg), "content": getattr(msg, "content", None) or ""}
    calls = tool_calls(msg)
    if calls:
        out["tool_calls"] = calls
    extra = getattr(msg, "additional_kwargs", None) or {}
    if isinstance(extra, Mapping):
        if extra.get("tool_call_id"):
            out["tool_call_id"] = extra["tool_call_id"]
        if extra.get("name"):
            out["name"] = extra["name"]
    return out


def messages(items: Sequence[Any] | None) -> list[dict[str, Any]]:
    """Chat messages in the OpenAI chat shape."""
    return [message(item) for item in items or ()]


def _arguments(value: Any) -> str:
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, default=str)
    except (TypeError, ValueError):
        return str(value)


def tool_calls(msg: Any) -> list[dict[str, Any]]:
    """The tool calls of an assistant message, from its ``ToolCallBlock``s or OpenAI ``tool_calls``."""
    calls: list[dict[str, Any]] = []
    for block in getattr(msg, "blocks", None) or ():
        if getattr(block, "block_type", None) == "tool_call":
            calls.append(
                {
                    "id": getattr(block, "tool_call_id", None),
                    "type": "function",
                    "function": {
                        "name": getattr(block, "tool_name", None),
                        "arguments": _arguments(getattr(block, "tool_kwargs", {})),
                    },
                }
            )
    if calls:
        return calls
    extra = getattr(msg, "additional_kwargs", None) or {}
    for call in (extra.get("tool_calls") if isinstance(extra, Mapping) else None) or ():
        data = call.model_dump() if hasattr(call, "model_dump") else call
        if isinstance(data, Mapping):
            function = data.get("function") or {}
            calls.append(
                {
                    "id": data.get("id"),
                    "type": "function",
                    "function": {
                        "name": function.get("name"),
                        "arguments": _arguments(function.get("arguments")),
                    },
                }
            )
    return calls


def tools(additional_kwargs: Mapping[str, Any] | None) -> list[Any] | None:
    """The tools offered with a chat request (LlamaIndex passes them in the OpenAI shape)."""
    offered = (additional_kwargs or {}).get("tools")
    if not offered:
        return None
    out = []
    for tool in offered:
        if isinstance(tool, Mapping) and "function" in tool:
            out.append({"type": "function", "function": tool["function"]})
    return out or None


def model_and_provider(
    model_dict: Mapping[str, Any] | None, instance: Any = None
) -> tuple[str | None, str | None]:
    """The requested model and the provider, from a model's ``to_payload()`` / ``to_dict()`` and its
    API base URL (``local`` for a server on this machine, see ``provider_from_base_url``)."""
    data = model_dict or {}
    model = data.get("model_name") or data.get("model")
    base_url = (
        data.get("api_base")
        or data.get("base_url")
        or getattr(instance, "api_base", None)
        or getattr(instance, "base_url", None)
    )
    if base_url:
        provider = provider_from_base_url(base_url)
    else:
        class_name = str(data.get("class_name") or "")
        provider = "openai" if class_name.startswith("openai") else (class_name.lower() or None)
    return (str(model) if model else None), provider


def _raw_dict(raw: Any) -> Mapping[str, Any]:
    if isinstance(raw, Mapping):
        return raw
    dump = getattr(raw, "model_dump", None)
    if callable(dump):
        try:
            data = dump()
        except Exception:
            return {}
        return data if isinstance(data, Mapping) else {}
    return {}


def response_details(response: Any) -> tuple[str | None, str | None, dict[str, int] | None]:
    """The answering model, the finish reason and the token usage of a ``ChatResponse`` /
    ``CompletionResponse`` (read from its raw provider response, else from ``additional_kwargs``)."""
    raw = _raw_dict(getattr(response, "raw", None))
    model = raw.get("model") if isinstance(raw.get("model"), str) else None
    choices = raw.get("choices") or ()
    first = choices[0] if choices and isinstance(choices[0], Mapping) else {}
    finish = first.get("finish_reason")
    usage_data = raw.get("usage")
    if not isinstance(usage_data, Mapping):
        usage_data = getattr(response, "additional_kwargs", None) or {}
    usage = token_usage(
        usage_data.get("prompt_tokens", usage_data.get("input_tokens")),
        usage_data.get("completion_tokens", usage_data.get("output_tokens")),
        usage_data.get("total_tokens"),
    )
    return model, (str(finish) if finish else None), usage
