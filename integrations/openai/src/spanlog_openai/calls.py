"""One span per OpenAI call: the wrappers that ``patch.py`` installs, and what each API records.

A call's span starts before the request (so a request that fails is an ERROR span with the SDK's exception),
is active while the SDK runs (so spans of the HTTP layer nest under it), and ends when the result is there;
for a stream, when the stream ends: exhausted, failed, closed, left by ``with``, or dropped unfinished (see
``spanlog.plugins.span_stream``). The user always gets the SDK's own result, or the proxy of its stream.

The user's thread does as little as it can: it starts and ends the span and copies the call's arguments
(the dict and its lists). Turning the response into inputs, outputs and the normalized attributes (dumped
once with ``model_dump``) is deferred (``span.defer``) to the store exporter's thread; a stream's items are
only collected while the user reads them, and reassembled there too.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from spanlog.entities import NoOpSpan, SpanType
from spanlog.plugins import (
    AutologContext,
    activate_span,
    deactivate_span,
    span_stream,
    start_detached_span,
)
from spanlog.plugins.llm import provider_from_base_url, set_llm_attributes
from spanlog.plugins.streams import StreamState
from spanlog_openai import extract, streams
from spanlog_openai.extract import Request

_RAW_RESPONSE_HEADER = "X-Stainless-Raw-Response"  # set by .with_raw_response / .with_streaming_response

# True while a traced SDK method runs: an SDK method that calls another one (``beta.chat.completions.parse``
# calls ``chat.completions.create`` in some versions) gets one span, not two.
_inside: ContextVar[bool] = ContextVar("spanlog_openai_inside", default=False)


@dataclass(frozen=True)
class Api:
    """How calls of one SDK method become spans."""

    name: str
    span_type: str
    messages: Callable[[Mapping[str, Any]], list[Any] | None]
    """The request's messages in the chat shape (None when it has none)."""
    tools: Callable[[Mapping[str, Any]], list[Any] | None] | None
    """The request's tools in the chat shape."""
    record: Callable[[Any, Request, Any], None]
    """Set a result's outputs and normalized attributes on the span."""
    stream: streams.AggregatorFactory | None
    """Builds the aggregator of a streamed result."""
    conversation: str | None = None
    """The argument holding the list of messages or inputs, copied when the call returns."""


def _no_messages(kwargs: Mapping[str, Any]) -> None:
    return None


def _record_chat(span: Any, request: Request, result: Any) -> None:
    data = extract.plain(result)
    choices = data.get("choices") or ()
    first = choices[0] if choices else {}
    message = first.get("message")
    reply = extract.without_nulls(message) if message else None
    set_llm_attributes(
        span,
        model=data.get("model") or request.model,
        provider=request.provider,
        messages=request.conversation(reply),
        tools=request.tools,
        tool_calls=extract.chat_message_tool_calls(reply) if reply else None,
        finish_reason=first.get("finish_reason"),
        usage=extract.chat_usage(data.get("usage")),
    )
    span.set_outputs(data)


def _record_completion(span: Any, request: Request, result: Any) -> None:
    data = extract.plain(result)
    choices = data.get("choices") or ()
    set_llm_attributes(
        span,
        model=data.get("model") or request.model,
        provider=request.provider,
        finish_reason=choices[0].get("finish_reason") if choices else None,
        usage=extract.chat_usage(data.get("usage")),
    )
    span.set_outputs(data)


def _record_embedding(span: Any, request: Request, result: Any) -> None:
    data = extract.plain(result)
    set_llm_attributes(
        span,
        model=data.get("model") or request.model,
        provider=request.provider,
        usage=extract.embedding_usage(data.get("usage")),
    )
    span.set_outputs(data)


def _record_response(span: Any, request: Request, result: Any) -> None:
    span.set_outputs(streams.record_response(span, request, result))


CHAT_CREATE = Api(
    "chat.completions.create",
    SpanType.CHAT_MODEL,
    extract.chat_input_messages,
    extract.chat_tools,
    _record_chat,
    streams.ChatStream,
    "messages",
)
CHAT_PARSE = Api(
    "chat.completions.parse",
    SpanType.CHAT_MODEL,
    extract.chat_input_messages,
    extract.chat_tools,
    _record_chat,
    streams.ChatStream,
    "messages",
)
COMPLETIONS_CREATE = Api(
    "completions.create",
    SpanType.LLM,
    _no_messages,
    None,
    _record_completion,
    streams.CompletionStream,
    "prompt",
)
EMBEDDINGS_CREATE = Api(
    "embeddings.create", SpanType.EMBEDDING, _no_messages, None, _record_embedding, None, "input"
)
RESPONSES_CREATE = Api(
    "responses.create",
    SpanType.CHAT_MODEL,
    extract.responses_input_messages,
    extract.responses_tools,
    _record_response,
    streams.ResponseStream,
    "input",
)
RESPONSES_PARSE = Api(
    "responses.parse",
    SpanType.CHAT_MODEL,
    extract.responses_input_messages,
    extract.responses_tools,
    _record_response,
    streams.ResponseStream,
    "input",
)


class SdkTypes:
    """The SDK classes the wrappers test results against, filled in by ``patch.py`` once openai is imported."""

    models: tuple[type, ...] = ()
    streams: tuple[type, ...] = ()
    iterate: tuple[Any, Any] = (None, None)
    """``Stream.__iter__`` and ``AsyncStream.__aiter__``: both only hand on the stream's ``_iterator``."""


SDK = SdkTypes()

_providers: dict[int, tuple[Any, str]] = {}  # id(base_url) -> (base_url, provider)


def provider_of(instance: Any) -> str:
    """The provider behind a resource's client, computed once per base URL object."""
    url = getattr(getattr(instance, "_client", None), "base_url", None)
    entry = _providers.get(id(url))
    if entry is not None and entry[0] is url:
        return entry[1]
    provider = provider_from_base_url(url)
    if len(_providers) >= 256:
        _providers.clear()
    _providers[id(url)] = (url, provider)
    return provider


def _request(api: Api, instance: Any, kwargs: Mapping[str, Any]) -> Request:
    return Request(kwargs, provider_of(instance), api.messages, api.tools)


def _record_result(api: Api, span: Any, request: Request, kwargs: Mapping[str, Any], result: Any) -> None:
    """Record a result that is not a stream the user iterates (the span ends after this)."""
    if isinstance(result, SDK.models):
        api.record(span, request, result)
        return
    # .with_raw_response: the body is read and parse() caches, so its model can be shown;
    # .with_streaming_response (and raw streams) have not read their body: nothing to show.
    headers = extract.given(kwargs, "extra_headers")
    raw_mode = headers.get(_RAW_RESPONSE_HEADER) if isinstance(headers, Mapping) else None
    if raw_mode == "true" and not kwargs.get("stream") and callable(getattr(result, "parse", None)):
        parsed = result.parse()
        if isinstance(parsed, SDK.models):
            api.record(span, request, parsed)
            return
    request.record(span)


def _arguments(api: Api, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The call's arguments as they are when it returns, for a recorder that reads them later: the dict is
    copied, and so is the list of messages or inputs (a chat loop appends to the list it passed)."""
    arguments = dict(kwargs)
    key = api.conversation
    if key is not None:
        value = arguments.get(key)
        if type(value) is list:
            arguments[key] = value[:]
    return arguments


def sync_wrapper(api: Api, ctx: AutologContext) -> Callable[..., Any]:
    """The wrapper of a sync SDK method: ``wrapper(call, instance, args, kwargs)``."""
    name, span_type = api.name, api.span_type

    def wrapper(
        call: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        if _inside.get():
            return call(*args, **kwargs)
        span = start_detached_span(name, span_type)
        if isinstance(span, NoOpSpan):
            return call(*args, **kwargs)
        token = activate_span(span)
        inside = _inside.set(True)
        try:
            result = call(*args, **kwargs)
        except BaseException as exc:
            _failed(api, span, instance, kwargs, exc)
            raise
        finally:
            _inside.reset(inside)
            deactivate_span(token)
        return _returned(api, ctx, span, instance, kwargs, result)

    return wrapper


def async_wrapper(api: Api, ctx: AutologContext) -> Callable[..., Any]:
    """The wrapper of an async SDK method: ``await wrapper(call, instance, args, kwargs)``."""
    name, span_type = api.name, api.span_type

    async def wrapper(
        call: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        if _inside.get():
            return await call(*args, **kwargs)
        span = start_detached_span(name, span_type)
        if isinstance(span, NoOpSpan):
            return await call(*args, **kwargs)
        token = activate_span(span)
        inside = _inside.set(True)
        try:
            result = await call(*args, **kwargs)
        except BaseException as exc:
            _failed(api, span, instance, kwargs, exc)
            raise
        finally:
            _inside.reset(inside)
            deactivate_span(token)
        return _returned(api, ctx, span, instance, kwargs, result)

    return wrapper


def _failed(api: Api, span: Any, instance: Any, kwargs: Mapping[str, Any], exc: BaseException) -> None:
    """The call raised: inputs, what the request tells, the exception (ERROR); the span ends now."""
    try:
        span.set_inputs(extract.request_inputs(kwargs))
        _request(api, instance, kwargs).record(span)
        if not isinstance(exc, GeneratorExit):
            span.record_exception(exc)
    finally:
        span.end()


def _returned(api: Api, ctx: AutologContext, span: Any, instance: Any, kwargs: Any, result: Any) -> Any:
    """The call returned ``result`` (given back to the user): a response ends the span now and is recorded
    later (``span.defer``, off the user's thread); a stream gets the proxy that ends the span with it."""
    if isinstance(result, SDK.streams) and kwargs.get("stream") is True and api.stream is not None:
        return _stream(api, ctx, span, instance, kwargs, result)
    try:
        if isinstance(result, SDK.models):
            span.defer(_record_later, api, instance, _arguments(api, kwargs), result)
        else:  # a raw response (.with_raw_response, ...): recorded now, its parse() caches on the user's object
            span.set_inputs(extract.request_inputs(kwargs))
            _record_result(api, span, _request(api, instance, kwargs), kwargs, result)
    finally:
        span.end()
    return result


def _record_later(span: Any, api: Api, instance: Any, arguments: dict[str, Any], result: Any) -> None:
    """The deferred recording of a response: inputs, outputs and the normalized attributes."""
    span.set_inputs(extract.request_inputs(arguments))
    api.record(span, _request(api, instance, arguments), result)


def _replay_later(
    span: Any,
    api: Api,
    instance: Any,
    arguments: dict[str, Any],
    source: streams.ByteTap | list[tuple[Any, int]],
    state: StreamState,
    chunk_events: int,
) -> None:
    """The deferred recording of a stream: the items the user received, reassembled into the outputs."""
    span.set_inputs(extract.request_inputs(arguments))
    aggregator = api.stream(span, _request(api, instance, arguments), chunk_events)  # type: ignore[misc]
    if isinstance(source, streams.ByteTap):
        items: Any = streams.sse_items(source, state.count)
    else:
        items = [(extract.plain(item), arrived_ns) for item, arrived_ns in list(source)]
    span.set_outputs(aggregator.replay(items))


def _inner_iterator(stream: Any) -> tuple[Any, bool | None]:
    """The generator the SDK stream's own iteration hands on (its ``_iterator``, when its class iterates
    the SDK's way) and whether it is async; ``(None, None)`` for a stream that iterates its own way."""
    cls = type(stream)
    sync_iter, async_iter = SDK.iterate
    if sync_iter is not None and getattr(cls, "__iter__", None) is sync_iter:
        return vars(stream).get("_iterator"), False
    if async_iter is not None and getattr(cls, "__aiter__", None) is async_iter:
        return vars(stream).get("_iterator"), True
    return None, None


def _stream(api: Api, ctx: AutologContext, span: Any, instance: Any, kwargs: Any, stream: Any) -> Any:
    """The user's stream behind a proxy that ends the span with it; what the stream carried (its raw bytes,
    or else its items) is kept and reassembled into the outputs once the span has ended (``span.defer``).
    The proxy reads the SDK stream's inner generator, the one the stream's own ``for`` loop goes through:
    the user's loop still passes one layer of Python per item, spanlog's instead of the SDK's."""
    try:
        source: Any = streams.tap(stream)
        collect = None if source is not None else []
        items, is_async = _inner_iterator(stream)
        proxy = span_stream(stream, span, name=api.name, collect=collect, items=items, is_async=is_async)
        if source is None:
            source = collect
        options = ctx.settings.options
        chunk_events = streams.chunk_event_limit(options) if options else 0
        # the proxy's state, not the proxy: a recorder holding the proxy would keep it from being collected
        state = proxy._self_state
        span.defer(_replay_later, api, instance, _arguments(api, kwargs), source, state, chunk_events)
        return proxy
    except BaseException:
        span.end()  # never leave the span open: the user gets the bare stream (see safe_patch)
        raise


def _unfinished(stream: Any) -> bool:
    """True for a stream spanlog handed out (``span_stream``'s proxy or twin) whose span has not ended."""
    state = getattr(stream, "_self_state", None) if isinstance(stream, SDK.streams) else None
    return isinstance(state, StreamState) and not state.finished


def close_helper_stream(
    call: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """Wrapper of ``close`` of the SDK's ``.stream()`` helpers: closing the helper (which its ``with`` block
    does) also ends the span of the stream it reads, instead of leaving it to garbage collection."""
    try:
        return call(*args, **kwargs)
    finally:
        raw = getattr(instance, "_raw_stream", None)
        if _unfinished(raw):
            raw.close()


async def aclose_helper_stream(
    call: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """``close_helper_stream`` for the async helpers, whose ``close`` is a coroutine."""
    try:
        return await call(*args, **kwargs)
    finally:
        raw = getattr(instance, "_raw_stream", None)
        if _unfinished(raw):
            closing = raw.close()
            if inspect.isawaitable(closing):
                await closing
