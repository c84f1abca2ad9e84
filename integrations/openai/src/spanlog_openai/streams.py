"""Reassemble streamed OpenAI results from their chunks (chat, legacy completions) or events (responses).

While the user reads the stream, nothing is done per item: a :class:`ByteTap` standing in for the stream's
SSE decoder keeps the raw bytes the SDK reads, with their arrival times (bytes cost the garbage collector
nothing; holding the SDK's chunk objects until the span is recorded would). Once the span has ended, off the
user's thread (``span.defer``), the server-sent events are parsed again from those bytes and an aggregator
folds the items the user received into the span's outputs and normalized attributes: the full reply with its
tool calls, as the non-streamed call would have returned it, even when the user stopped early (then it holds
what they had read). The first item carrying content adds the ``first_token`` event, stamped with the time
its bytes arrived. A stream without an SSE decoder is read through the proxy's ``collect`` list instead. Chunks themselves are not kept
as events unless ``spanlog.openai.autolog(chunk_events=N)`` asks for the first N (at most
:data:`MAX_CHUNK_EVENTS`).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import Any

import orjson

from spanlog.entities import SpanEvent, SpanStatus, SpanStatusCode
from spanlog.plugins.llm import FIRST_TOKEN_EVENT, set_llm_attributes
from spanlog.tracing.serialization import dumps
from spanlog_openai import extract
from spanlog_openai.extract import Request

MAX_CHUNK_EVENTS = 1000
"""The most chunk events one streamed span keeps, whatever ``chunk_events`` asks for."""

CHUNK_EVENT = "chunk"
"""Name of the optional per-chunk events (attributes: ``index`` and ``chunk``, the chunk as JSON)."""


def chunk_event_limit(options: dict[str, Any]) -> int:
    """How many chunk events to keep, from the ``chunk_events`` autolog option (default 0)."""
    value = options.get("chunk_events", 0)
    if isinstance(value, bool) or not isinstance(value, int):
        return 0
    return max(0, min(value, MAX_CHUNK_EVENTS))


class _Aggregator:
    """What every aggregator shares: the span, the request, chunk events and the first token."""

    __slots__ = ("events_left", "first_token", "items", "request", "span")

    def __init__(self, span: Any, request: Request, chunk_events: int) -> None:
        self.span = span
        self.request = request
        self.events_left = chunk_events
        self.first_token = False
        self.items = 0

    def replay(self, items: Iterable[tuple[dict[str, Any], int]]) -> Any:
        """Fold ``(item as plain data, arrival ns)`` pairs in order and return the outputs (``finish``)."""
        add = self.add
        for item, arrived_ns in items:
            add(item, arrived_ns)
        return self.finish()

    def add(self, item: Any, arrived_ns: int) -> None:
        """Fold one item; the first-token and chunk events carry the time it reached the user."""
        index = self.items
        self.items = index + 1
        if self.events_left:
            self.events_left -= 1
            event = SpanEvent(CHUNK_EVENT, arrived_ns, {"index": index, "chunk": dumps(item)})
            self.span.add_event(event)
        if not self.first_token and self._has_content(item):
            self.first_token = True
            self.span.add_event(SpanEvent(FIRST_TOKEN_EVENT, arrived_ns, {"index": index}))
        self._fold_one(item)

    def finish(self) -> Any:
        raise NotImplementedError

    def _has_content(self, item: Any) -> bool:
        raise NotImplementedError

    def _fold_one(self, item: Any) -> None:
        raise NotImplementedError


class _ChatChoice:
    __slots__ = ("content", "finish_reason", "function_call", "refusal", "role", "tool_calls")

    def __init__(self) -> None:
        self.role: str | None = None
        self.content: list[str] = []
        self.refusal: list[str] = []
        self.tool_calls: dict[int, dict[str, Any]] = {}
        self.function_call: dict[str, str] | None = None
        self.finish_reason: str | None = None

    def message(self) -> dict[str, Any]:
        message: dict[str, Any] = {
            "role": self.role or "assistant",
            "content": "".join(self.content) if self.content else None,
        }
        if self.refusal:
            message["refusal"] = "".join(self.refusal)
        if self.tool_calls:
            message["tool_calls"] = [self.tool_calls[index] for index in sorted(self.tool_calls)]
        if self.function_call is not None:
            message["function_call"] = self.function_call
        return message


def _append(target: dict[str, Any], key: str, piece: Any) -> None:
    if piece:
        target[key] = (target.get(key) or "") + piece


def _merge_name(target: dict[str, Any], piece: Any) -> None:
    """A function name arrives whole in one chunk (OpenAI) or repeated in every chunk (some compatible
    servers); pieces that differ from what has arrived are appended."""
    if piece and piece != target["name"]:
        target["name"] += piece


class ChatStream(_Aggregator):
    """``chat.completions.create(stream=True)``: chunks of ``ChatCompletionChunk``."""

    __slots__ = ("choices", "created", "fingerprint", "id", "model", "usage")

    def __init__(self, span: Any, request: Request, chunk_events: int) -> None:
        super().__init__(span, request, chunk_events)
        self.id: str | None = None
        self.model: str | None = None
        self.created: int | None = None
        self.fingerprint: str | None = None
        self.usage: Any = None
        self.choices: dict[int, _ChatChoice] = {}

    def _has_content(self, chunk: dict[str, Any]) -> bool:
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta")
            if delta and (
                delta.get("content")
                or delta.get("tool_calls")
                or delta.get("refusal")
                or delta.get("function_call")
            ):
                return True
        return False

    def _fold_one(self, chunk: dict[str, Any]) -> None:
        if self.id is None:
            self.id = chunk.get("id")
            self.model = chunk.get("model")
            self.created = chunk.get("created")
            self.fingerprint = chunk.get("system_fingerprint")
        usage = chunk.get("usage")
        if usage is not None:
            self.usage = usage
        for choice in chunk.get("choices") or ():
            index = choice.get("index") or 0
            state = self.choices.get(index)
            if state is None:
                state = self.choices[index] = _ChatChoice()
            delta = choice.get("delta")
            if delta:
                self._delta(state, delta)
            if choice.get("finish_reason"):
                state.finish_reason = choice["finish_reason"]

    @staticmethod
    def _delta(state: _ChatChoice, delta: dict[str, Any]) -> None:
        if delta.get("role"):
            state.role = delta["role"]
        if delta.get("content") is not None:  # an empty piece still makes the content "" rather than null
            state.content.append(delta["content"])
        if delta.get("refusal"):
            state.refusal.append(delta["refusal"])
        for call in delta.get("tool_calls") or ():
            index = call.get("index") or 0
            entry = state.tool_calls.get(index)
            if entry is None:
                entry = state.tool_calls[index] = {
                    "id": None,
                    "type": "function",
                    "function": {"name": "", "arguments": ""},
                }
            if call.get("id") and not entry["id"]:
                entry["id"] = call["id"]
            if call.get("type"):
                entry["type"] = call["type"]
            function = call.get("function")
            if function:
                _merge_name(entry["function"], function.get("name"))
                _append(entry["function"], "arguments", function.get("arguments"))
        function_call = delta.get("function_call")
        if function_call:
            if state.function_call is None:
                state.function_call = {"name": "", "arguments": ""}
            _merge_name(state.function_call, function_call.get("name"))
            _append(state.function_call, "arguments", function_call.get("arguments"))

    def finish(self) -> dict[str, Any]:
        """The reassembled completion (the span's outputs); sets the normalized attributes."""
        choices = []
        for index in sorted(self.choices):
            state = self.choices[index]
            choices.append({"index": index, "message": state.message(), "finish_reason": state.finish_reason})
        output: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": choices,
        }
        if self.fingerprint is not None:
            output["system_fingerprint"] = self.fingerprint
        if self.usage is not None:
            output["usage"] = extract.plain(self.usage)
        first = choices[0] if choices else None
        reply = first["message"] if first else None
        set_llm_attributes(
            self.span,
            model=self.model or self.request.model,
            provider=self.request.provider,
            messages=self.request.conversation(reply),
            tools=self.request.tools,
            tool_calls=extract.chat_message_tool_calls(reply) if reply else None,
            finish_reason=first["finish_reason"] if first else None,
            usage=extract.chat_usage(self.usage),
        )
        return output


class CompletionStream(_Aggregator):
    """Legacy ``completions.create(stream=True)``: chunks of ``Completion`` with text pieces."""

    __slots__ = ("created", "finish_reasons", "id", "model", "texts", "usage")

    def __init__(self, span: Any, request: Request, chunk_events: int) -> None:
        super().__init__(span, request, chunk_events)
        self.id: str | None = None
        self.model: str | None = None
        self.created: int | None = None
        self.usage: Any = None
        self.texts: dict[int, list[str]] = {}
        self.finish_reasons: dict[int, str] = {}

    def _has_content(self, chunk: dict[str, Any]) -> bool:
        return any(choice.get("text") for choice in chunk.get("choices") or ())

    def _fold_one(self, chunk: dict[str, Any]) -> None:
        if self.id is None:
            self.id = chunk.get("id")
            self.model = chunk.get("model")
            self.created = chunk.get("created")
        usage = chunk.get("usage")
        if usage is not None:
            self.usage = usage
        for choice in chunk.get("choices") or ():
            index = choice.get("index") or 0
            pieces = self.texts.setdefault(index, [])
            if choice.get("text"):
                pieces.append(choice["text"])
            if choice.get("finish_reason"):
                self.finish_reasons[index] = choice["finish_reason"]

    def finish(self) -> dict[str, Any]:
        """The reassembled completion (the span's outputs); sets the normalized attributes."""
        choices = [
            {
                "index": index,
                "text": "".join(self.texts[index]),
                "finish_reason": self.finish_reasons.get(index),
            }
            for index in sorted(self.texts)
        ]
        output: dict[str, Any] = {
            "id": self.id,
            "object": "text_completion",
            "created": self.created,
            "model": self.model,
            "choices": choices,
        }
        if self.usage is not None:
            output["usage"] = extract.plain(self.usage)
        set_llm_attributes(
            self.span,
            model=self.model or self.request.model,
            provider=self.request.provider,
            finish_reason=choices[0]["finish_reason"] if choices else None,
            usage=extract.chat_usage(self.usage),
        )
        return output


_FINAL_EVENTS = frozenset({"response.completed", "response.failed", "response.incomplete"})
_SNAPSHOT_EVENTS = frozenset({"response.created", "response.in_progress", "response.queued"})


class ResponseStream(_Aggregator):
    """``responses.create(stream=True)``: typed events; the final ``response.completed`` (or ``.failed`` /
    ``.incomplete``) carries the whole response, which becomes the outputs."""

    __slots__ = ("error", "final", "snapshot", "text")

    def __init__(self, span: Any, request: Request, chunk_events: int) -> None:
        super().__init__(span, request, chunk_events)
        self.final: Any = None
        self.snapshot: Any = None
        self.text: list[str] = []
        self.error: str | None = None

    def _has_content(self, event: dict[str, Any]) -> bool:
        kind = event.get("type")
        return isinstance(kind, str) and kind.endswith(".delta")

    def _fold_one(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "response.output_text.delta":
            self.text.append(event.get("delta") or "")
        elif kind in _FINAL_EVENTS:
            self.final = event.get("response")
        elif kind in _SNAPSHOT_EVENTS:
            self.snapshot = event.get("response")
        elif kind == "error":
            code = event.get("code")
            message = event.get("message") or "error event"
            self.error = f"{code}: {message}" if code else str(message)

    def finish(self) -> Any:
        """The final response as plain data (or what had arrived); sets the normalized attributes."""
        if self.final is not None:
            output = record_response(self.span, self.request, self.final)
        else:
            snapshot = self.snapshot or {}
            text = "".join(self.text)
            output = {
                "id": snapshot.get("id"),
                "object": "response",
                "model": snapshot.get("model"),
                "status": snapshot.get("status") or "in_progress",
                "output_text": text,
            }
            reply = {"role": "assistant", "content": text} if text else None
            set_llm_attributes(
                self.span,
                model=snapshot.get("model") or self.request.model,
                provider=self.request.provider,
                messages=self.request.conversation(reply),
                tools=self.request.tools,
            )
        if self.error is not None:
            mark_failed(self.span, f"error event: {self.error}")
        return output


def record_response(span: Any, request: Request, response: Any) -> Any:
    """Normalized attributes of a Responses result (streamed or not), ERROR if it failed; returns the
    response as plain data (the span's outputs)."""
    data = extract.plain(response)
    reply, calls = extract.responses_output(data)
    set_llm_attributes(
        span,
        model=data.get("model") or request.model,
        provider=request.provider,
        messages=request.conversation(reply),
        tools=request.tools,
        tool_calls=calls or None,
        finish_reason=extract.responses_finish_reason(data, bool(calls)),
        usage=extract.responses_usage(data.get("usage")),
    )
    if data.get("status") == "failed":
        error = data.get("error") or {}
        detail = error.get("message") or error.get("code") or "no details"
        mark_failed(span, f"response failed: {detail}")
    return data


def mark_failed(span: Any, message: str) -> None:
    """Set ERROR with ``message``, unless an exception already made the span ERROR."""
    status = span.status
    if status.status_code is not SpanStatusCode.ERROR:
        span.set_status(SpanStatus(SpanStatusCode.ERROR, message))


AggregatorFactory = Callable[[Any, Request, int], Any]


_time_ns = time.time_ns


class ByteTap:
    """Stands in for a ``Stream``'s SSE decoder and keeps the raw bytes the decoder reads, with the time each
    piece arrived: the stream's items are rebuilt from them later (:func:`sse_items`), off the user's thread,
    at the cost of one step per network read instead of work on every item. Everything else is the
    decoder's."""

    __slots__ = ("chunks", "decoder", "times")

    def __init__(self, decoder: Any) -> None:
        self.decoder = decoder
        self.chunks: list[bytes] = []
        self.times: list[int] = []

    def iter_bytes(self, iterator: Iterator[bytes]) -> Any:
        return self.decoder.iter_bytes(self._keep(iterator))

    def aiter_bytes(self, iterator: AsyncIterator[bytes]) -> Any:
        return self.decoder.aiter_bytes(self._akeep(iterator))

    def _keep(self, iterator: Iterator[bytes]) -> Iterator[bytes]:
        chunks, times = self.chunks, self.times
        for chunk in iterator:
            chunks.append(chunk)
            times.append(_time_ns())
            yield chunk

    async def _akeep(self, iterator: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        chunks, times = self.chunks, self.times
        async for chunk in iterator:
            chunks.append(chunk)
            times.append(_time_ns())
            yield chunk

    def __getattr__(self, name: str) -> Any:
        return getattr(self.decoder, name)


def tap(stream: Any) -> ByteTap | None:
    """Put a :class:`ByteTap` in front of an SDK stream's SSE decoder (before anything has been read);
    None when the stream has no decoder of its own to stand in for."""
    decoder = vars(stream).get("_decoder") if hasattr(stream, "__dict__") else None
    if decoder is None or not hasattr(decoder, "iter_bytes"):
        return None
    byte_tap = ByteTap(decoder)
    stream._decoder = byte_tap
    return byte_tap


def sse_items(byte_tap: ByteTap, limit: int) -> Iterator[tuple[dict[str, Any], int]]:
    """The first ``limit`` items the SDK made of the tapped bytes, as plain data with their arrival times:
    the JSON of each server-sent event before ``[DONE]``, read as the SDK reads it (an event carrying an
    ``error`` ends the stream there: the SDK raised it to the user)."""
    if limit <= 0:
        return
    count = 0
    for data, event, arrived_ns in _sse_events(byte_tap.chunks, byte_tap.times):
        if data.startswith("[DONE]"):
            return
        if event and event.startswith("thread."):  # Assistants events: no API this integration traces
            continue
        try:
            item = orjson.loads(data)
        except orjson.JSONDecodeError:
            continue
        if not isinstance(item, dict) or item.get("error"):
            return
        yield item, arrived_ns
        count += 1
        if count >= limit:
            return


def _sse_events(chunks: list[bytes], times: list[int]) -> Iterator[tuple[str, str | None, int]]:
    """``(data, event name, arrival ns)`` of each server-sent event in the byte chunks (``field: value``
    lines, an event ended by a blank line, ``:`` comments); an event is stamped with the arrival of the
    chunk that completed it."""
    pending = b""
    data: list[str] = []
    event: str | None = None
    arrived_ns = 0
    # strict=False: read while the user is still reading, the times may lag the chunks by one
    for chunk, arrived_ns in zip(chunks, times, strict=False):
        lines = (pending + chunk).split(b"\n")
        pending = lines.pop()
        for raw in lines:
            line = raw[:-1] if raw.endswith(b"\r") else raw
            if not line:
                if data:
                    yield "\n".join(data), event, arrived_ns
                data, event = [], None
                continue
            if line.startswith(b":"):
                continue
            field, _, value = line.partition(b":")
            if value.startswith(b" "):
                value = value[1:]
            if field == b"data":
                data.append(value.decode("utf-8", "replace"))
            elif field == b"event":
                event = value.decode("utf-8", "replace")
    last = pending[:-1] if pending.endswith(b"\r") else pending
    if last.startswith(b"data:"):
        value = last[5:]
        data.append((value[1:] if value.startswith(b" ") else value).decode("utf-8", "replace"))
    if data:
        yield "\n".join(data), event, arrived_ns
