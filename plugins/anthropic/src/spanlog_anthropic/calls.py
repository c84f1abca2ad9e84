"""The wrappers ``plugin.py`` installs: one ``CHAT_MODEL`` span per ``messages.create`` or ``messages.stream``.

A span starts before the request, so a request that fails is an ERROR span with the SDK's own exception, which
reaches the user unchanged. While the SDK sends the request the span is active, so spans of the HTTP layer
nest under it. A reply ends the span at once; a stream ends it when the stream ends (see ``streams.py``).
The user always gets the SDK's own result, or its stream behind a proxy that ``isinstance`` sees through.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from spanlog.plugins import span_stream, start_detached_span, use_span
from spanlog.plugins.llm import provider_from_base_url, set_llm_attributes
from spanlog_anthropic import convert
from spanlog_anthropic.streams import MessageRecorder, record_message

CHAT_MODEL = "CHAT_MODEL"
CREATE_SPAN = "anthropic.messages.create"
STREAM_SPAN = "anthropic.messages.stream"

Wrapper = Callable[[Callable[..., Any], Any, tuple[Any, ...], dict[str, Any]], Any]


def _start(name: str, instance: Any, kwargs: Mapping[str, Any]) -> tuple[Any, list[Any] | None]:
    """Start the span of a call and record the request; None when no span is wanted (tracing is off, or
    the trace is sampled out)."""
    span = start_detached_span(name, span_type=CHAT_MODEL)
    if span.span_id is None:  # the no-op span
        return None, None
    try:
        span.set_inputs(convert.request_inputs(kwargs))
        messages = convert.input_messages(kwargs)
        client = getattr(instance, "_client", None)
        set_llm_attributes(
            span,
            model=convert.given(kwargs, "model"),
            provider=provider_from_base_url(getattr(client, "base_url", None), default="anthropic"),
            messages=messages,
            tools=convert.tools(kwargs),
        )
    except BaseException:
        span.end()  # a bug of ours: the span ends, and safe_patch runs the call without it
        raise
    return span, messages


def _failed(span: Any, exc: BaseException) -> None:
    span.record_exception(exc)
    span.end()


def _finish(span: Any, messages: list[Any] | None, result: Any, message_type: type) -> None:
    """Record a reply and end the span. Other results (``with_raw_response`` and the like) end it as is."""
    try:
        if isinstance(result, message_type):
            span.set_outputs(record_message(span, messages, result))
    finally:
        span.end()


def _stream(span: Any, messages: list[Any] | None, stream: Any) -> Any:
    """The SDK's stream behind a proxy that rebuilds the reply and ends the span with the stream."""
    try:
        recorder = MessageRecorder(span, messages)
        return span_stream(stream, span, on_item=recorder.add, outputs=recorder.outputs, name=CREATE_SPAN)
    except BaseException:
        span.end()  # never leave the span open: the user gets the bare stream (see safe_patch)
        raise


def sync_create(message_type: type, stream_types: tuple[type, ...]) -> Wrapper:
    """The wrapper of ``Messages.create``."""

    def create(call: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        span, messages = _start(CREATE_SPAN, instance, kwargs)
        if span is None:
            return call(*args, **kwargs)
        try:
            with use_span(span):
                result = call(*args, **kwargs)
        except BaseException as exc:
            _failed(span, exc)
            raise
        if isinstance(result, stream_types):
            return _stream(span, messages, result)
        _finish(span, messages, result, message_type)
        return result

    return create


def async_create(message_type: type, stream_types: tuple[type, ...]) -> Wrapper:
    """The wrapper of ``AsyncMessages.create``."""

    async def create(
        call: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        span, messages = _start(CREATE_SPAN, instance, kwargs)
        if span is None:
            return await call(*args, **kwargs)
        try:
            with use_span(span):
                result = await call(*args, **kwargs)
        except BaseException as exc:
            _failed(span, exc)
            raise
        if isinstance(result, stream_types):
            return _stream(span, messages, result)
        _finish(span, messages, result, message_type)
        return result

    return create


def stream_helper(proxy_class: Callable[[Any, MessageRecorder, str], Any]) -> Wrapper:
    """The wrapper of ``Messages.stream`` / ``AsyncMessages.stream`` (both plain functions: the request is
    sent when the returned manager is entered)."""

    def stream(call: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        span, messages = _start(STREAM_SPAN, instance, kwargs)
        if span is None:
            return call(*args, **kwargs)
        try:
            manager = call(*args, **kwargs)
        except BaseException as exc:
            _failed(span, exc)
            raise
        try:
            return proxy_class(manager, MessageRecorder(span, messages), STREAM_SPAN)
        except BaseException:
            span.end()
            raise

    return stream
