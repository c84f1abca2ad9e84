"""Reassemble streamed OpenAI results from their chunks (chat, legacy completions) or events (responses).

While the user reads the stream, its items are only collected with their arrival times (``span_stream``'s
``collect``). Once the span has ended, off the user's thread (``span.defer``), an aggregator replays them and
builds the span's outputs and normalized attributes: the full reply with its tool calls, as the non-streamed
call would have returned it, even when the user stopped early (then it holds what had arrived). The first
item carrying content adds the ``first_token`` event, stamped with the time it reached the user. Chunks themselves are not kept
as events unless ``spanlog.openai.autolog(chunk_events=N)`` asks for the first N (at most
:data:`MAX_CHUNK_EVENTS`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

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

    def replay(self, items: list[tuple[Any, int]]) -> Any:
        """Fold the collected ``(item, arrival ns)`` pairs in order and return the outputs (``finish``)."""
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
            event = SpanEvent(CHUNK_EVENT, arrived_ns, {"index": index, "chunk": dumps(extract.plain(item))})
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

    def _has_content(self, chunk: Any) -> bool:
        for choice in getattr(chunk, "choices", None) or ():
            delta = choice.delta
            if delta is not None and (
                delta.content
                or delta.tool_calls
                or getattr(delta, "refusal", None)
                or getattr(delta, "function_call", None)
            ):
                return True
        return False

    def _fold_one(self, chunk: Any) -> None:
        if self.id is None:
            self.id = getattr(chunk, "id", None)
            self.model = getattr(chunk, "model", None)
            self.created = getattr(chunk, "created", None)
            self.fingerprint = getattr(chunk, "system_fingerprint", None)
        usage = getattr(chunk, "usage", None)
        if usage is not None:
            self.usage = usage
        for choice in getattr(chunk, "choices", None) or ():
            state = self.choices.get(choice.index)
            if state is None:
                state = self.choices[choice.index] = _ChatChoice()
            delta = choice.delta
            if delta is not None:
                self._delta(state, delta)
            if choice.finish_reason:
                state.finish_reason = choice.finish_reason

    @staticmethod
    def _delta(state: _ChatChoice, delta: Any) -> None:
        if delta.role:
            state.role = delta.role
        if delta.content is not None:  # an empty piece still makes the content "" rather than null
            state.content.append(delta.content)
        refusal = getattr(delta, "refusal", None)
        if refusal:
            state.refusal.append(refusal)
        for call in delta.tool_calls or ():
            entry = state.tool_calls.get(call.index)
            if entry is None:
                entry = state.tool_calls[call.index] = {
                    "id": None,
                    "type": "function",
                    "function": {"name": "", "arguments": ""},
                }
            if call.id and not entry["id"]:
                entry["id"] = call.id
            if call.type:
                entry["type"] = call.type
            function = call.function
            if function is not None:
                _merge_name(entry["function"], function.name)
                _append(entry["function"], "arguments", function.arguments)
        function_call = getattr(delta, "function_call", None)
        if function_call is not None:
            if state.function_call is None:
                state.function_call = {"name": "", "arguments": ""}
            _merge_name(state.function_call, function_call.name)
            _append(state.function_call, "arguments", function_call.arguments)

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

    def _has_content(self, chunk: Any) -> bool:
        return any(choice.text for choice in getattr(chunk, "choices", None) or ())

    def _fold_one(self, chunk: Any) -> None:
        if self.id is None:
            self.id = getattr(chunk, "id", None)
            self.model = getattr(chunk, "model", None)
            self.created = getattr(chunk, "created", None)
        usage = getattr(chunk, "usage", None)
        if usage is not None:
            self.usage = usage
        for choice in getattr(chunk, "choices", None) or ():
            pieces = self.texts.setdefault(choice.index, [])
            if choice.text:
                pieces.append(choice.text)
            if choice.finish_reason:
                self.finish_reasons[choice.index] = choice.finish_reason

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

    def _has_content(self, event: Any) -> bool:
        kind = getattr(event, "type", None)
        return isinstance(kind, str) and kind.endswith(".delta")

    def _fold_one(self, event: Any) -> None:
        kind = getattr(event, "type", None)
        if kind == "response.output_text.delta":
            self.text.append(getattr(event, "delta", "") or "")
        elif kind in _FINAL_EVENTS:
            self.final = getattr(event, "response", None)
        elif kind in _SNAPSHOT_EVENTS:
            self.snapshot = getattr(event, "response", None)
        elif kind == "error":
            code = getattr(event, "code", None)
            message = getattr(event, "message", None) or "error event"
            self.error = f"{code}: {message}" if code else str(message)

    def finish(self) -> Any:
        """The final response as plain data (or what had arrived); sets the normalized attributes."""
        if self.final is not None:
            output = record_response(self.span, self.request, self.final)
        else:
            snapshot = self.snapshot
            text = "".join(self.text)
            output = {
                "id": getattr(snapshot, "id", None),
                "object": "response",
                "model": getattr(snapshot, "model", None),
                "status": getattr(snapshot, "status", None) or "in_progress",
                "output_text": text,
            }
            reply = {"role": "assistant", "content": text} if text else None
            set_llm_attributes(
                self.span,
                model=getattr(snapshot, "model", None) or self.request.model,
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
