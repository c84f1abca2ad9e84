"""CHAT_MODEL spans for autogen-core's model clients (``ChatCompletionClient.create`` / ``create_stream``).

AutoGen's messages (``SystemMessage``, ``UserMessage``, ``AssistantMessage``, ``FunctionExecutionResultMessage``)
and results (``CreateResult``) are turned into the normalized chat attributes of docs/schema.md: OpenAI chat
shapes, token usage, model, provider and finish reason. The client's own provider call (the OpenAI SDK under
``OpenAIChatCompletionClient``) is suppressed, so ``spanlog.openai.autolog()`` adds no second span.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import spanlog
from spanlog.entities import SpanType
from spanlog.plugins import PROVIDER, suppress_spans
from spanlog.plugins import start_detached_span as _start_detached_span
from spanlog.plugins.llm import FIRST_TOKEN_EVENT, provider_from_base_url, set_llm_attributes, token_usage
from spanlog_autogen._common import ActiveStream, Guard, argument, is_noop, open_stream

# held while a model span is open: a client that delegates to another one (``ChatCompletionCache``) gets one span
MODEL_CALL = Guard("spanlog_autogen_model_call")

_FINISH_REASONS = {
    "function_calls": "tool_calls"
}  # autogen renames OpenAI's reason; the schema keeps the provider's

# client class name fragments -> provider, for clients that have no base URL to look at
_PROVIDER_BY_CLASS = (
    ("Anthropic", "anthropic"),
    ("Ollama", "ollama"),
    ("AzureAI", "azure"),
    ("LlamaCpp", "llama_cpp"),
    ("Gemini", "google"),
)


def function_call(call: Any) -> dict[str, Any]:
    """An autogen ``FunctionCall`` as an OpenAI tool call."""
    return {
        "id": getattr(call, "id", None),
        "type": "function",
        "function": {"name": getattr(call, "name", None), "arguments": getattr(call, "arguments", None)},
    }


def _content(content: Any) -> Any:
    if isinstance(content, str) or content is None:
        return content
    if isinstance(content, list):
        parts: list[dict[str, Any]] = []
        for part in content:
            if isinstance(part, str):
                parts.append({"type": "text", "text": part})
            else:  # an autogen Image: show that there was one, not its bytes
                parts.append({"type": "image_url", "image_url": {"url": "<image>"}})
        return parts
    return str(content)


def chat_messages(messages: Sequence[Any]) -> list[dict[str, Any]]:
    """AutoGen ``LLMMessage`` objects in the OpenAI chat shape (one tool message per function result)."""
    result: list[dict[str, Any]] = []
    for message in messages:
        kind = getattr(message, "type", None)
        content = getattr(message, "content", None)
        if kind == "SystemMessage":
            result.append({"role": "system", "content": _content(content)})
        elif kind == "UserMessage":
            result.append({"role": "user", "content": _content(content), "name": message.source})
        elif kind == "AssistantMessage":
            if isinstance(content, list):
                entry: dict[str, Any] = {
                    "role": "assistant",
                    "content": getattr(message, "thought", None),
                    "tool_calls": [function_call(c) for c in content],
                }
            else:
                entry = {"role": "assistant", "content": _content(content)}
            entry["name"] = message.source
            result.append(entry)
        elif kind == "FunctionExecutionResultMessage":
            for item in content or ():
                result.append({"role": "tool", "content": item.content, "tool_call_id": item.call_id})
        elif isinstance(message, Mapping):  # already a chat dict
            result.append(dict(message))
        else:
            result.append({"role": "user", "content": str(content if content is not None else message)})
    return result


def reply_message(result: Any) -> dict[str, Any] | None:
    """A ``CreateResult`` as the assistant's chat message."""
    content = getattr(result, "content", None)
    if isinstance(content, list):
        return {
            "role": "assistant",
            "content": getattr(result, "thought", None),
            "tool_calls": [function_call(c) for c in content],
        }
    if content is None:
        return None
    return {"role": "assistant", "content": content}


def chat_tools(tools: Sequence[Any] | None) -> list[dict[str, Any]] | None:
    """autogen tools (``Tool`` objects or ``ToolSchema`` dicts) in the OpenAI chat shape."""
    if not tools:
        return None
    result = []
    for tool in tools:
        schema = tool if isinstance(tool, Mapping) else getattr(tool, "schema", None)
        if not isinstance(schema, Mapping):
            continue
        function = {"name": schema.get("name"), "description": schema.get("description", "")}
        if "parameters" in schema:
            function["parameters"] = schema["parameters"]
        result.append({"type": "function", "function": function})
    return result


def _tool_choice(choice: Any) -> Any:
    if isinstance(choice, str) or choice is None:
        return choice
    name = getattr(choice, "name", None)
    return {"type": "function", "function": {"name": name}}


def model_of(client: Any) -> str | None:
    """The model a client calls: its create args' model, else its configured model."""
    for attr in ("_create_args", "_raw_config"):
        config = getattr(client, attr, None)
        if isinstance(config, Mapping) and isinstance(config.get("model"), str):
            return config["model"]
    model = getattr(client, "model", None)
    return model if isinstance(model, str) else None


def provider_of(client: Any) -> str | None:
    """The provider behind a client: from its SDK client's base URL where it has one, else its class."""
    sdk = getattr(client, "_client", None)
    base_url = getattr(sdk, "base_url", None)
    if base_url is not None:
        return provider_from_base_url(base_url)
    name = type(client).__name__
    if "OpenAI" in name:
        return "openai"
    for fragment, provider in _PROVIDER_BY_CLASS:
        if fragment in name:
            return provider
    return None


class Request:
    """What one ``create`` call asked for, and how its result is recorded on the span."""

    __slots__ = ("_chat", "client", "messages", "tools")

    def __init__(self, client: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
        self.client = client
        self.messages = argument(args, kwargs, 0, "messages", ())
        self.tools = kwargs.get("tools") or ()
        self._chat: list[dict[str, Any]] | None = None

    @property
    def chat(self) -> list[dict[str, Any]]:
        """The request's messages in the chat shape (converted once)."""
        if self._chat is None:
            self._chat = chat_messages(self.messages)
        return self._chat

    def inputs(self, kwargs: Mapping[str, Any]) -> dict[str, Any]:
        """The span's inputs: the messages (chat shape), the tools' names and the call's options."""
        inputs: dict[str, Any] = {"messages": self.chat}
        if self.tools:
            inputs["tools"] = [
                t.get("name") if isinstance(t, Mapping) else getattr(t, "name", t) for t in self.tools
            ]
        for key, value in kwargs.items():
            if key in ("messages", "tools", "cancellation_token"):
                continue
            inputs[key] = _tool_choice(value) if key == "tool_choice" else value
        return inputs

    def record(self, span: Any, result: Any) -> None:
        """Set the normalized attributes from the call's ``CreateResult`` (or only the request's, without one)."""
        messages = list(self.chat)
        usage = finish = None
        tool_calls = None
        if result is not None:
            reply = reply_message(result)
            if reply is not None:
                messages.append(reply)
                tool_calls = reply.get("tool_calls")
            raw_usage = getattr(result, "usage", None)
            usage = token_usage(
                getattr(raw_usage, "prompt_tokens", None), getattr(raw_usage, "completion_tokens", None)
            )
            reason = getattr(result, "finish_reason", None)
            finish = _FINISH_REASONS.get(reason, reason) if isinstance(reason, str) else None
        set_llm_attributes(
            span,
            model=model_of(self.client),
            provider=provider_of(self.client),
            messages=messages,
            tools=chat_tools(self.tools),
            tool_calls=tool_calls,
            finish_reason=finish,
            usage=usage,
        )


def _span_name(instance: Any, method: str) -> str:
    return f"{type(instance).__name__}.{method}"


async def create_wrapper(
    call: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """``create``: one CHAT_MODEL span, active while the client runs, its provider spans suppressed."""
    if MODEL_CALL.current is not None:
        return await call(*args, **kwargs)
    request = Request(instance, args, kwargs)
    with spanlog.start_span(_span_name(instance, "create"), span_type=SpanType.CHAT_MODEL) as span:
        if is_noop(span):
            with suppress_spans(PROVIDER):
                return await call(*args, **kwargs)
        span.set_inputs(request.inputs(kwargs))
        with MODEL_CALL.hold(instance), suppress_spans(PROVIDER):
            try:
                result = await call(*args, **kwargs)
            except BaseException:
                request.record(span, None)
                raise
        request.record(span, result)
        span.set_outputs(result)
    return result


class _StreamRecorder:
    """Follows a ``create_stream``: marks the first token, keeps the final ``CreateResult``."""

    __slots__ = ("request", "result", "span", "started")

    def __init__(self, span: Any, request: Request) -> None:
        self.span = span
        self.request = request
        self.started = False
        self.result: Any = None

    def on_item(self, item: Any) -> None:
        if isinstance(item, str):
            if not self.started and item:
                self.started = True
                self.span.add_event(FIRST_TOKEN_EVENT)
        else:
            self.result = item

    def outputs(self) -> Any:
        self.request.record(self.span, self.result)
        return self.result


def create_stream_wrapper(
    call: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """``create_stream``: a CHAT_MODEL span that ends with the stream (exactly once, also on an early break)."""
    if MODEL_CALL.current is not None:
        return call(*args, **kwargs)
    request = Request(instance, args, kwargs)
    span = _start_detached_span(_span_name(instance, "create_stream"), SpanType.CHAT_MODEL)
    if is_noop(span):
        return call(*args, **kwargs)
    span.set_inputs(request.inputs(kwargs))
    stream = open_stream(call, args, kwargs, span)
    recorder = _StreamRecorder(span, request)
    return ActiveStream(
        stream,
        span,
        on_item=recorder.on_item,
        outputs=recorder.outputs,
        guard=MODEL_CALL,
        owner=instance,
        suppress=True,
        name="autogen model stream",
    )


def tool_arguments(arguments: Any) -> Any:
    """Tool-call arguments as a dict when they are a JSON object string, else unchanged."""
    if isinstance(arguments, str):
        try:
            return json.loads(arguments)
        except ValueError:
            return arguments
    return arguments
