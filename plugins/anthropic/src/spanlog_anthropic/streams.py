"""Streamed messages: rebuild the reply from its events, and end the span with the stream, exactly once.

``messages.create(stream=True)`` returns the SDK's ``Stream`` of raw events: ``span_stream`` hands the user
that stream behind a proxy and a :class:`MessageRecorder` folds each event into the reply.

``messages.stream(...)`` returns a ``MessageStreamManager`` whose ``with`` block sends the request and yields
a ``MessageStream``. :class:`MessageStreamManagerProxy` records a request that fails on entering, and hands
out the ``MessageStream`` behind a :class:`MessageStreamProxy`. The SDK consumes that stream internally in
``text_stream``, ``until_done()`` and ``get_final_message()``, where no proxy would see the events, so the
proxy reads them through itself instead; the span ends when the events run out, or when the ``with``
block ends, whichever comes first.
"""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

from spanlog.plugins import AsyncStreamProxy, StreamProxy, end_stream_span, use_span
from spanlog.plugins.llm import FIRST_TOKEN_EVENT, set_llm_attributes
from spanlog_anthropic import convert

_CONTENT_DELTAS = frozenset({"text_delta", "input_json_delta", "thinking_delta"})
"""Deltas that carry generated content: the first one stamps the ``first_token`` event."""


class MessageRecorder:
    """Folds the events of one streamed message into the reply, and ends the span with it."""

    __slots__ = (
        "blocks",
        "ended",
        "first_token",
        "items",
        "json_parts",
        "lock",
        "message",
        "messages",
        "source",
        "span",
    )

    def __init__(self, span: Any, messages: list[Any] | None) -> None:
        self.span = span
        self.messages = messages
        self.message: dict[str, Any] = {}
        self.blocks: dict[int, dict[str, Any]] = {}
        self.json_parts: dict[int, list[str]] = {}
        self.items = 0
        self.first_token = False
        self.source: Any = None  # the SDK's MessageStream, whose own snapshot is preferred at the end
        self.ended = False
        self.lock = threading.Lock()

    def add(self, event: Any) -> None:
        """Fold one event (raw, or one of the helper's derived events, which are skipped) into the reply."""
        self.items += 1
        kind = convert.get(event, "type")
        if kind == "content_block_delta":
            self._delta(convert.get(event, "index"), convert.get(event, "delta"))
        elif kind == "message_start":
            self.message = dict(convert.plain(convert.get(event, "message")) or {})
            self.message["content"] = []
        elif kind == "content_block_start":
            block = convert.plain(convert.get(event, "content_block"))
            self.blocks[convert.get(event, "index")] = dict(block) if isinstance(block, dict) else {}
        elif kind == "message_delta":
            delta = convert.get(event, "delta")
            for key in ("stop_reason", "stop_sequence"):
                self.message[key] = convert.get(delta, key)
            usage = convert.plain(convert.get(event, "usage"))
            if isinstance(usage, dict):  # cumulative counts; fields it leaves out keep their start value
                merged = dict(self.message.get("usage") or {})
                merged.update({key: value for key, value in usage.items() if value is not None})
                self.message["usage"] = merged

    def _delta(self, index: int, delta: Any) -> None:
        kind = convert.get(delta, "type")
        block = self.blocks.get(index)
        if block is not None:
            if kind == "text_delta":
                block["text"] = (block.get("text") or "") + (convert.get(delta, "text") or "")
            elif kind == "input_json_delta":
                self.json_parts.setdefault(index, []).append(convert.get(delta, "partial_json") or "")
            elif kind == "thinking_delta":
                block["thinking"] = (block.get("thinking") or "") + (convert.get(delta, "thinking") or "")
            elif kind == "signature_delta":
                block["signature"] = convert.get(delta, "signature")
            elif kind == "citations_delta":
                block.setdefault("citations", []).append(convert.plain(convert.get(delta, "citation")))
        if kind in _CONTENT_DELTAS and not self.first_token:
            self.first_token = True
            self.span.add_event(FIRST_TOKEN_EVENT, {"index": self.items - 1})

    def assembled(self) -> dict[str, Any]:
        """The reply as the non-streamed call would have returned it (as far as it arrived)."""
        message = dict(self.message)
        content = []
        for index in sorted(self.blocks):
            block = dict(self.blocks[index])
            parts = self.json_parts.get(index)
            if parts:
                text = "".join(parts)
                try:
                    block["input"] = json.loads(text)
                except ValueError:
                    block["input"] = text  # cut short: keep what arrived
            content.append(block)
        message["content"] = content
        return message

    def _snapshot(self) -> Any:
        """The helper's own accumulated message, or None (``create(stream=True)`` has none)."""
        if self.source is None:
            return None
        try:
            return self.source.current_message_snapshot  # asserts that a message_start arrived
        except Exception:
            return None

    def outputs(self) -> Any:
        """The reply as plain data (the span's outputs); sets the normalized attributes."""
        snapshot = self._snapshot()
        if snapshot is not None:
            return record_message(self.span, self.messages, convert.plain(snapshot))
        if not self.message:  # no message_start: nothing arrived (a helper that was never entered, say)
            return None
        return record_message(self.span, self.messages, self.assembled())

    def end(self, reason: str, error: BaseException | None = None) -> None:
        """End the span once, as ``span_stream`` does: ERROR for a failed stream, a ``stream_closed_early``
        event for one the user stopped early; the reply that arrived becomes the outputs."""
        with self.lock:
            if self.ended:
                return
            self.ended = True
        end_stream_span(self.span, reason, error, self.items, self.outputs)

    def fail(self, error: BaseException) -> None:
        """The request failed before any event: ERROR with the SDK's exception (only calls that cannot fail)."""
        with self.lock:
            if self.ended:
                return
            self.ended = True
        self.span.record_exception(error)
        self.span.end()


def record_message(span: Any, messages: list[Any] | None, message: Any) -> Any:
    """Set the normalized attributes of a reply (a ``Message`` or its plain dict) and return it as plain data."""
    reply, calls = convert.reply(message)
    set_llm_attributes(
        span,
        model=convert.get(message, "model"),
        messages=[*(messages or ()), reply] if reply is not None else messages,
        tool_calls=calls,
        finish_reason=convert.get(message, "stop_reason"),
        usage=convert.usage(convert.get(message, "usage")),
    )
    return convert.plain(message)


def _is_text_delta(event: Any) -> bool:
    return getattr(event, "type", None) == "content_block_delta" and event.delta.type == "text_delta"


# -- messages.stream(...) -------------------------------------------------------------------------------------


class MessageStreamManagerProxy(StreamProxy):
    """``messages.stream(...)``: entering sends the request, inside the span, and returns the SDK's
    ``MessageStream`` behind a :class:`MessageStreamProxy`; leaving the ``with`` block ends the span."""

    def __init__(self, manager: Any, recorder: MessageRecorder, name: str) -> None:
        super().__init__(manager, None, recorder.end, name=name)
        self._self_recorder = recorder
        self._self_name = name

    def __enter__(self) -> Any:
        recorder = self._self_recorder
        try:
            with use_span(recorder.span):
                stream = self.__wrapped__.__enter__()
        except BaseException as exc:
            recorder.fail(exc)
            raise
        recorder.source = stream
        return MessageStreamProxy(stream, recorder, self._self_name)


class MessageStreamProxy(StreamProxy):
    """The SDK's ``MessageStream``: every way of reading it goes through this proxy, so the span sees each
    event and ends when they run out."""

    def __init__(self, stream: Any, recorder: MessageRecorder, name: str) -> None:
        super().__init__(stream, recorder.add, recorder.end, name=name)

    @property
    def text_stream(self) -> Iterator[str]:
        """The text deltas, as the SDK's ``text_stream`` yields them, read through this proxy."""
        return (event.delta.text for event in self if _is_text_delta(event))

    def until_done(self) -> None:
        """Read the stream to its end (through this proxy)."""
        for _ in self:
            pass

    def get_final_message(self) -> Any:
        """Read the stream to its end, then return the SDK's accumulated message."""
        self.until_done()
        return self.__wrapped__.get_final_message()

    def get_final_text(self) -> str:
        """Read the stream to its end, then return the SDK's joined text blocks."""
        self.until_done()
        return self.__wrapped__.get_final_text()


class AsyncMessageStreamManagerProxy(AsyncStreamProxy):
    """``AsyncMessages.stream(...)``: :class:`MessageStreamManagerProxy` for ``async with``."""

    def __init__(self, manager: Any, recorder: MessageRecorder, name: str) -> None:
        super().__init__(manager, None, recorder.end, name=name)
        self._self_recorder = recorder
        self._self_name = name

    async def __aenter__(self) -> Any:
        recorder = self._self_recorder
        try:
            with use_span(recorder.span):
                stream = await self.__wrapped__.__aenter__()
        except BaseException as exc:
            recorder.fail(exc)
            raise
        recorder.source = stream
        return AsyncMessageStreamProxy(stream, recorder, self._self_name)


class AsyncMessageStreamProxy(AsyncStreamProxy):
    """The SDK's ``AsyncMessageStream``, read through this proxy however the user reads it."""

    def __init__(self, stream: Any, recorder: MessageRecorder, name: str) -> None:
        super().__init__(stream, recorder.add, recorder.end, name=name)

    @property
    def text_stream(self) -> AsyncIterator[str]:
        """The text deltas, as the SDK's ``text_stream`` yields them, read through this proxy."""
        return _async_text(self)

    async def until_done(self) -> None:
        """Read the stream to its end (through this proxy)."""
        async for _ in self:
            pass

    async def get_final_message(self) -> Any:
        """Read the stream to its end, then return the SDK's accumulated message."""
        await self.until_done()
        return await self.__wrapped__.get_final_message()

    async def get_final_text(self) -> str:
        """Read the stream to its end, then return the SDK's joined text blocks."""
        await self.until_done()
        return await self.__wrapped__.get_final_text()


async def _async_text(stream: AsyncMessageStreamProxy) -> AsyncIterator[str]:
    async for event in stream:
        if _is_text_delta(event):
            yield event.delta.text
