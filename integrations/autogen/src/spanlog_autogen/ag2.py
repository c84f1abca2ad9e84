"""What ``spanlog.ag2.autolog()`` patches in AG2 (the classic ``ConversableAgent`` API, module ``autogen``).

=============================================================== ============ ==================================
patched                                                         span type    span
=============================================================== ============ ==================================
``ConversableAgent.initiate_chat`` / ``a_initiate_chat``        AGENT        ``<sender>.initiate_chat``: root
``ConversableAgent.generate_reply`` / ``a_generate_reply``      AGENT        ``<agent>.generate_reply``: a turn
``OpenAIWrapper.create``                                        CHAT_MODEL   ``OpenAIWrapper.create``
``ConversableAgent.execute_function`` / ``a_execute_function``  TOOL         ``<function name>``
=============================================================== ============ ==================================

AG2 runs the model call of an async reply (``a_generate_oai_reply``) in a thread-pool executor, which does
not carry the caller's context; the model span finds its parent through the agent it is called for instead
(``OpenAIWrapper.create(..., agent=...)``), so it still nests under that agent's reply.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Mapping
from typing import Any

import spanlog
from spanlog.entities import SpanStatus, SpanStatusCode, SpanType
from spanlog.plugins import PROVIDER, AutologContext, suppress_spans, use_span
from spanlog.plugins.llm import provider_from_base_url, set_llm_attributes, token_usage
from spanlog_autogen._common import Guard, argument, is_noop
from spanlog_autogen.models import tool_arguments

AGENT_NAME = "ag2.agent.name"
RECIPIENT = "ag2.chat.recipient"
SENDER = "ag2.chat.sender"
TOOL_CALL_ID = "ag2.tool.call_id"

REPLY = Guard("spanlog_ag2_reply")  # the agent whose reply is traced in this context
MODEL_CALL = Guard("spanlog_ag2_model_call")

# async replies whose model call runs in an executor thread: id(agent) -> the reply's span
_async_replies: dict[int, Any] = {}
_async_lock = threading.Lock()


def _name(agent: Any) -> str:
    name = getattr(agent, "name", None)
    return name if isinstance(name, str) else type(agent).__name__


def _chat_inputs(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> dict[str, Any]:
    inputs: dict[str, Any] = {"message": argument(args, kwargs, 7, "message", None)}
    for key in ("max_turns", "summary_method", "clear_history"):
        if key in kwargs:
            inputs[key] = kwargs[key]
    return inputs


def _chat_attributes(instance: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> dict[str, Any]:
    recipient = argument(args, kwargs, 0, "recipient", None)
    return {SENDER: _name(instance), RECIPIENT: _name(recipient) if recipient is not None else None}


def _chat_outputs(span: Any, result: Any) -> None:
    history = getattr(result, "chat_history", None)
    span.set_outputs(
        {
            "summary": getattr(result, "summary", None),
            "chat_history": history,
            "cost": getattr(result, "cost", None),
        }
    )
    if history is not None:
        span.set_attribute("ag2.chat.messages", len(history))


def initiate_chat(
    call: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """``initiate_chat``: the AGENT span of a whole chat."""
    with spanlog.start_span(
        f"{_name(instance)}.initiate_chat",
        span_type=SpanType.AGENT,
        attributes=_chat_attributes(instance, args, kwargs),
    ) as span:
        if not is_noop(span):
            span.set_inputs(_chat_inputs(args, kwargs))
        result = call(*args, **kwargs)
        if not is_noop(span):
            _chat_outputs(span, result)
    return result


async def a_initiate_chat(
    call: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """``a_initiate_chat``: the AGENT span of a whole async chat."""
    with spanlog.start_span(
        f"{_name(instance)}.initiate_chat",
        span_type=SpanType.AGENT,
        attributes=_chat_attributes(instance, args, kwargs),
    ) as span:
        if not is_noop(span):
            span.set_inputs(_chat_inputs(args, kwargs))
        result = await call(*args, **kwargs)
        if not is_noop(span):
            _chat_outputs(span, result)
    return result


def _reply_span(instance: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Any:
    messages = argument(args, kwargs, 0, "messages", None)
    sender = argument(args, kwargs, 1, "sender", None)
    attributes: dict[str, Any] = {AGENT_NAME: _name(instance)}
    if sender is not None:
        attributes[SENDER] = _name(sender)
    if messages is None and sender is not None:
        messages = getattr(instance, "chat_messages", {}).get(sender)
    if messages is not None:
        attributes["ag2.messages.received"] = len(messages)
    return spanlog.start_span(
        f"{_name(instance)}.generate_reply", span_type=SpanType.AGENT, attributes=attributes
    ), messages


def generate_reply(
    call: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """``generate_reply``: one agent's turn, with the messages it replies to and its reply."""
    if REPLY.holds(instance):
        return call(*args, **kwargs)
    context, messages = _reply_span(instance, args, kwargs)
    with context as span:
        if not is_noop(span):
            span.set_inputs({"messages": messages})
        with REPLY.hold(instance):
            reply = call(*args, **kwargs)
        if not is_noop(span):
            span.set_outputs(reply)
    return reply


async def a_generate_reply(
    call: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """``a_generate_reply``: one agent's async turn (its executor-run model call still nests under it)."""
    if REPLY.holds(instance):
        return await call(*args, **kwargs)
    context, messages = _reply_span(instance, args, kwargs)
    with context as span:
        if is_noop(span):
            return await call(*args, **kwargs)
        span.set_inputs({"messages": messages})
        key = id(instance)
        with _async_lock:
            previous = _async_replies.get(key)
            _async_replies[key] = span
        try:
            with REPLY.hold(instance):
                reply = await call(*args, **kwargs)
        finally:
            with _async_lock:
                if previous is None:
                    _async_replies.pop(key, None)
                else:
                    _async_replies[key] = previous
        span.set_outputs(reply)
    return reply


def _function_span(instance: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Any:
    func_call = argument(args, kwargs, 0, "func_call", None) or {}
    call_id = argument(args, kwargs, 1, "call_id", None)
    name = func_call.get("name") if isinstance(func_call, Mapping) else None
    attributes: dict[str, Any] = {AGENT_NAME: _name(instance)}
    if call_id:
        attributes[TOOL_CALL_ID] = call_id
    context = spanlog.start_span(name or "execute_function", span_type=SpanType.TOOL, attributes=attributes)
    arguments = tool_arguments(func_call.get("arguments")) if isinstance(func_call, Mapping) else None
    return context, arguments


def _function_result(span: Any, result: Any) -> None:
    # AG2 catches the function's exception and returns (False, {"content": "Error: ..."}): show it as ERROR
    if isinstance(result, tuple) and len(result) == 2:
        ok, message = result
        content = message.get("content") if isinstance(message, Mapping) else message
        span.set_outputs(content)
        if ok is False:
            span.set_status(SpanStatus(SpanStatusCode.ERROR, str(content)))
    else:
        span.set_outputs(result)


def execute_function(
    call: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """``execute_function``: a TOOL span named after the function, ERROR when the function failed."""
    context, arguments = _function_span(instance, args, kwargs)
    with context as span:
        if not is_noop(span):
            span.set_inputs(arguments)
        result = call(*args, **kwargs)
        if not is_noop(span):
            _function_result(span, result)
    return result


async def a_execute_function(
    call: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """``a_execute_function``: a TOOL span named after the function, ERROR when the function failed."""
    context, arguments = _function_span(instance, args, kwargs)
    with context as span:
        if not is_noop(span):
            span.set_inputs(arguments)
        result = await call(*args, **kwargs)
        if not is_noop(span):
            _function_result(span, result)
    return result


def _config_value(wrapper: Any, key: str) -> Any:
    configs = getattr(wrapper, "_config_list", None) or ()
    for config in configs:
        if isinstance(config, Mapping) and config.get(key) is not None:
            return config[key]
    return None


def _provider(wrapper: Any, config: Mapping[str, Any]) -> str:
    """The provider of the wrapper's (first) client: from its OpenAI SDK client's base URL where it has one."""
    base_url = config.get("base_url")
    if base_url is None:
        for client in getattr(wrapper, "_clients", None) or ():
            base_url = getattr(getattr(client, "_oai_client", None), "base_url", None)
            if base_url is not None:
                break
    api_type = _config_value(wrapper, "api_type")
    return provider_from_base_url(base_url, default=api_type if isinstance(api_type, str) else "openai")


def _plain(value: Any) -> Any:
    dump = getattr(value, "model_dump", None)
    return dump(exclude_none=True) if callable(dump) else value


def _record_model_call(span: Any, wrapper: Any, config: Mapping[str, Any], response: Any) -> None:
    messages = [dict(m) if isinstance(m, Mapping) else m for m in (config.get("messages") or ())]
    tools = config.get("tools") or _config_value(wrapper, "tools")
    model = config.get("model") or _config_value(wrapper, "model")
    provider = _provider(wrapper, config)
    finish = usage = tool_calls = None
    if response is not None:
        model = getattr(response, "model", None) or model
        choices = getattr(response, "choices", None) or ()
        if choices:
            first = choices[0]
            finish = getattr(first, "finish_reason", None)
            reply = _plain(getattr(first, "message", None))
            if isinstance(reply, Mapping):
                reply = {k: v for k, v in reply.items() if v is not None}
                messages.append(reply)
                tool_calls = reply.get("tool_calls")
        raw = getattr(response, "usage", None)
        usage = token_usage(getattr(raw, "prompt_tokens", None), getattr(raw, "completion_tokens", None))
    set_llm_attributes(
        span,
        model=model,
        provider=provider,
        messages=messages,
        tools=tools,
        tool_calls=tool_calls,
        finish_reason=finish,
        usage=usage,
    )


def openai_wrapper_create(
    call: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """``OpenAIWrapper.create``: the CHAT_MODEL span of one model call (the OpenAI SDK's own span suppressed)."""
    if MODEL_CALL.current is not None:
        return call(*args, **kwargs)
    parent = None
    if spanlog.get_current_active_span() is None:  # an executor thread of an async reply: find its span
        agent = kwargs.get("agent")
        if agent is not None:
            with _async_lock:
                parent = _async_replies.get(id(agent))
    if parent is not None:
        with use_span(parent):
            return _create(call, instance, args, kwargs)
    return _create(call, instance, args, kwargs)


def _create(call: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    with spanlog.start_span(f"{type(instance).__name__}.create", span_type=SpanType.CHAT_MODEL) as span:
        if is_noop(span):
            with suppress_spans(PROVIDER):
                return call(*args, **kwargs)
        span.set_inputs({k: v for k, v in kwargs.items() if k not in ("agent", "cache")})
        with MODEL_CALL.hold(instance), suppress_spans(PROVIDER):
            try:
                response = call(*args, **kwargs)
            except BaseException:
                _record_model_call(span, instance, kwargs, None)
                raise
        _record_model_call(span, instance, kwargs, response)
        span.set_outputs(_plain(response))
    return response


def patch_ag2(ctx: AutologContext) -> None:
    """Patch chats, replies, model calls and function executions of AG2 (see the module docstring)."""
    conversable = importlib.import_module("autogen.agentchat.conversable_agent").ConversableAgent
    client = importlib.import_module("autogen.oai.client").OpenAIWrapper
    ctx.patch(conversable, "initiate_chat", initiate_chat, is_async=False)
    ctx.patch(conversable, "a_initiate_chat", a_initiate_chat, is_async=True)
    ctx.patch(conversable, "generate_reply", generate_reply, is_async=False)
    ctx.patch(conversable, "a_generate_reply", a_generate_reply, is_async=True)
    ctx.patch(conversable, "execute_function", execute_function, is_async=False)
    ctx.patch(conversable, "a_execute_function", a_execute_function, is_async=True)
    ctx.patch(client, "create", openai_wrapper_create, is_async=False)
