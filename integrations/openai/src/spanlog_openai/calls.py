"""One span per OpenAI call: the wrappers that ``patch.py`` installs, and what each API records.

A call's span starts before the request (so a request that fails is an ERROR span with the SDK's exception),
is active while the SDK runs (so spans of the HTTP layer nest under it), and ends when the result is there;
for a stream, when the stream ends: exhausted, failed, closed, left by ``with``, or dropped unfinished (see
``spanlog.plugins.span_stream``). The user always gets the SDK's own result, or the proxy of its stream.

The hot path is kept short: the normalized attributes are set once, when the call ends, from the response
dumped once (``model_dump``), and the provider of a client's base URL is computed once per URL.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import spanlog
from spanlog.entities import NoOpSpan, SpanType
from spanlog.plugins import (
    AsyncStreamProxy,
    AutologContext,
    StreamProxy,
    span_stream,
    start_detached_span,
    use_span,
)
from spanlog.plugins.llm import provider_from_base_url, set_llm_attributes
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
)
CHAT_PARSE = Api(
    "chat.completions.parse",
    SpanType.CHAT_MODEL,
    extract.chat_input_messages,
    extract.chat_tools,
    _record_chat,
    streams.ChatStream,
)
COMPLETIONS_CREATE = Api(
    "completions.create", SpanType.LLM, _no_messages, None, _record_completion, streams.CompletionStream
)
EMBEDDINGS_CREATE = Api("embeddings.create", SpanType.EMBEDDING, _no_messages, None, _record_embedding, None)
RESPONSES_CREATE = Api(
    "responses.create",
    SpanType.CHAT_MODEL,
    extract.responses_input_messages,
    extract.responses_tools,
    _record_response,
    streams.ResponseStream,
)
RESPONSES_PARSE = Api(
    "responses.parse",
    SpanType.CHAT_MODEL,
    extract.responses_input_messages,
    extract.responses_tools,
    _record_response,
    streams.ResponseStream,
)


class SdkTypes:
    """The SDK classes the wrappers test results against, filled in by ``patch.py`` once openai is imported."""

    models: tuple[type, ...] = ()
    streams: tuple[type, ...] = ()


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


def _streaming(api: Api, kwargs: Mapping[str, Any]) -> bool:
    return api.stream is not None and kwargs.get("stream") is True


def sync_wrapper(api: Api, ctx: AutologContext) -> Callable[..., Any]:
    """The wrapper of a sync SDK method: ``wrapper(call, instance, args, kwargs)``."""

    def wrapper(
        call: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        if _inside.get():
            return call(*args, **kwargs)
        if _streaming(api, kwargs):
            return _sync_stream(api, ctx, call, instance, args, kwargs)
        with spanlog.start_span(api.name, api.span_type) as span:
            if isinstance(span, NoOpSpan):
                return call(*args, **kwargs)
            span.set_inputs(extract.request_inputs(kwargs))
            request = _request(api, instance, kwargs)
            token = _inside.set(True)
            try:
                result = call(*args, **kwargs)
            except BaseException:
                request.record(span)  # the span records the exception when the block ends
                raise
            finally:
                _inside.reset(token)
            _record_result(api, span, request, kwargs, result)
        return result

    return wrapper


def async_wrapper(api: Api, ctx: AutologContext) -> Callable[..., Any]:
    """The wrapper of an async SDK method: ``await wrapper(call, instance, args, kwargs)``."""

    async def wrapper(
        call: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        if _inside.get():
            return await call(*args, **kwargs)
        if _streaming(api, kwargs):
            return await _async_stream(api, ctx, call, instance, args, kwargs)
        with spanlog.start_span(api.name, api.span_type) as span:
            if isinstance(span, NoOpSpan):
                return await call(*args, **kwargs)
            span.set_inputs(extract.request_inputs(kwargs))
            request = _request(api, instance, kwargs)
            token = _inside.set(True)
            try:
                result = await call(*args, **kwargs)
            except BaseException:
                request.record(span)
                raise
            finally:
                _inside.reset(token)
            _record_result(api, span, request, kwargs, result)
        return result

    return wrapper


def _sync_stream(
    api: Api, ctx: AutologContext, call: Callable[..., Any], instance: Any, args: Any, kwargs: Any
) -> Any:
    span = start_detached_span(api.name, api.span_type)
    if isinstance(span, NoOpSpan):
        return call(*args, **kwargs)
    span.set_inputs(extract.request_inputs(kwargs))
    request = _request(api, instance, kwargs)
    token = _inside.set(True)
    try:
        with use_span(span):
            stream = call(*args, **kwargs)
    except BaseException as exc:
        _failed(span, request, exc)
        raise
    finally:
        _inside.reset(token)
    return _stream(api, ctx, span, request, kwargs, stream)


async def _async_stream(
    api: Api, ctx: AutologContext, call: Callable[..., Any], instance: Any, args: Any, kwargs: Any
) -> Any:
    span = start_detached_span(api.name, api.span_type)
    if isinstance(span, NoOpSpan):
        return await call(*args, **kwargs)
    span.set_inputs(extract.request_inputs(kwargs))
    request = _request(api, instance, kwargs)
    token = _inside.set(True)
    try:
        with use_span(span):
            stream = await call(*args, **kwargs)
    except BaseException as exc:
        _failed(span, request, exc)
        raise
    finally:
        _inside.reset(token)
    return _stream(api, ctx, span, request, kwargs, stream)


def _failed(span: Any, request: Request, exc: BaseException) -> None:
    try:
        request.record(span)
        span.record_exception(exc)
    finally:
        span.end()


def _stream(api: Api, ctx: AutologContext, span: Any, request: Request, kwargs: Any, stream: Any) -> Any:
    """The user's stream behind a proxy that ends the span with it (a raw response ends it now)."""
    if not isinstance(stream, SDK.streams):
        try:
            _record_result(api, span, request, kwargs, stream)
        finally:
            span.end()
        return stream
    try:
        aggregator = api.stream(span, request, streams.chunk_event_limit(ctx.options))  # type: ignore[misc]
        return span_stream(stream, span, on_item=aggregator.add, outputs=aggregator.finish, name=api.name)
    except BaseException:
        span.end()  # never leave the span open: the user gets the bare stream (see safe_patch)
        raise


def close_helper_stream(
    call: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """Wrapper of ``close`` of the SDK's ``.stream()`` helpers: closing the helper (which its ``with`` block
    does) also ends the span of the stream it reads, instead of leaving it to garbage collection."""
    try:
        return call(*args, **kwargs)
    finally:
        raw = getattr(instance, "_raw_stream", None)
        if isinstance(raw, StreamProxy) and not raw.finished:
            raw.close()


async def aclose_helper_stream(
    call: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """``close_helper_stream`` for the async helpers, whose ``close`` is a coroutine."""
    try:
        return await call(*args, **kwargs)
    finally:
        raw = getattr(instance, "_raw_stream", None)
        if isinstance(raw, AsyncStreamProxy) and not raw.finished:
            closing = raw.close()
            if inspect.isawaitable(closing):
                await closing
