"""Spans: one timed unit of work in a trace, with inputs, outputs, attributes, events and a status.

``Span`` is the finished, read-only record. ``LiveSpan`` is what user code holds while the work runs; when it
ends it *becomes* the finished span (no copy is made), and later setters are ignored with a warning.
``NoOpSpan`` stands in when tracing is disabled or the trace was sampled out, so user code never branches.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from spanlog.entities.span_event import SpanEvent, exception_message
from spanlog.entities.span_status import OK_STATUS, SpanStatus, SpanStatusCode
from spanlog.tracing.serialization import dumps, loads
from spanlog.tracing.state import STATE, report_internal_error, warn_once

if TYPE_CHECKING:
    from collections.abc import Mapping

_logger = logging.getLogger("spanlog.tracing")


class SpanAttributeKey:
    """Attribute keys spanlog reserves; their values are JSON strings like every attribute."""

    REQUEST_ID = "spanlog.traceRequestId"
    SPAN_TYPE = "spanlog.spanType"
    INPUTS = "spanlog.spanInputs"
    OUTPUTS = "spanlog.spanOutputs"
    ENDED_WITH_TRACE = "spanlog.spanEndedWithTrace"
    RESERVED = frozenset({REQUEST_ID, SPAN_TYPE, INPUTS, OUTPUTS})

    # normalized model-call attributes that every integration writes the same way (docs/schema.md)
    CHAT_MESSAGES = "spanlog.chat.messages"
    CHAT_TOOLS = "spanlog.chat.tools"
    CHAT_TOOL_CALLS = "spanlog.chat.toolCalls"
    TOKEN_USAGE = "spanlog.chat.tokenUsage"
    MODEL = "spanlog.llm.model"
    PROVIDER = "spanlog.llm.provider"
    FINISH_REASON = "spanlog.llm.finishReason"


def format_span_id(span_id: int) -> str:
    """16 lowercase hex digits, the form ``span_id`` and ``parent_id`` take."""
    return f"{span_id:016x}"


def request_id_from_trace_id(trace_id: int) -> str:
    """The request id of a trace: ``"tr-"`` and the 32 hex digits of its OpenTelemetry trace id."""
    return f"tr-{trace_id:032x}"


def trace_id_from_request_id(request_id: str) -> int:
    """Inverse of :func:`request_id_from_trace_id`; raises ValueError for anything else."""
    if not isinstance(request_id, str) or not request_id.startswith("tr-") or len(request_id) != 35:
        raise ValueError(request_id)
    return int(request_id[3:], 16)


class Span:
    """A finished span. Values are kept as JSON strings (as exported) and decoded on access."""

    __slots__ = (
        "_attrs",
        "_end_ns",
        "_events",
        "_name",
        "_parent_id",
        "_request_id",
        "_span_id",
        "_span_type",
        "_start_ns",
        "_status",
        "_trace_id",
    )

    def __init__(
        self,
        *,
        name: str,
        trace_id: int,
        span_id: int,
        parent_id: int | None,
        start_time_ns: int,
        end_time_ns: int | None,
        status: SpanStatus | None,
        attributes: dict[str, str],
        events: list[SpanEvent] | None = None,
        span_type: str | None = None,
        request_id: str | None = None,
    ) -> None:
        self._name = name
        self._trace_id = trace_id
        self._span_id = span_id
        self._parent_id = parent_id
        self._start_ns = start_time_ns
        self._end_ns = end_time_ns
        self._status = status
        self._attrs = attributes
        self._events = events if events is not None else []
        self._request_id = request_id or request_id_from_trace_id(trace_id)
        if span_type is None:
            span_type = loads(attributes.get(SpanAttributeKey.SPAN_TYPE)) or "UNKNOWN"
        self._span_type = span_type

    # -- identity ---------------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        """The span's name (a decorated function's ``__name__`` by default)."""
        return self._name

    @property
    def request_id(self) -> str:
        """The id of the trace this span belongs to (``"tr-"`` + 32 hex digits)."""
        return self._request_id

    @property
    def trace_id(self) -> str:
        """Same as :attr:`request_id`."""
        return self._request_id

    @property
    def span_id(self) -> str:
        """This span's id, 16 hex digits."""
        return format_span_id(self._span_id)

    @property
    def parent_id(self) -> str | None:
        """The parent span's id, or None for the root span of a trace."""
        return None if self._parent_id is None else format_span_id(self._parent_id)

    @property
    def span_type(self) -> str:
        """One of :class:`spanlog.entities.SpanType` or any custom string."""
        return self._span_type

    # -- content ----------------------------------------------------------------------------------------
    @property
    def inputs(self) -> Any:
        """The recorded inputs as plain data (None if none were set)."""
        return loads(self._attrs.get(SpanAttributeKey.INPUTS))

    @property
    def outputs(self) -> Any:
        """The recorded outputs as plain data (None if none were set)."""
        return loads(self._attrs.get(SpanAttributeKey.OUTPUTS))

    @property
    def attributes(self) -> dict[str, Any]:
        """Every attribute as plain data, including spanlog's own (``spanlog.spanType``, ...)."""
        return {key: loads(value) for key, value in self._attrs.items()}

    def get_attribute(self, key: str) -> Any:
        """One attribute as plain data, or None."""
        return loads(self._attrs.get(key))

    @property
    def events(self) -> list[SpanEvent]:
        """Events in the order they were added (an ``exception`` event when the span failed)."""
        return list(self._events)

    @property
    def status(self) -> SpanStatus:
        """OK, ERROR with a message, or UNSET (ended with its trace before the span was ended itself)."""
        return self._status or SpanStatus(SpanStatusCode.UNSET)

    @property
    def start_time_ns(self) -> int:
        """Start time in ns since the epoch."""
        return self._start_ns

    @property
    def end_time_ns(self) -> int | None:
        """End time in ns since the epoch; None while the span is still running."""
        return self._end_ns

    # -- (de)serialization ------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The span in the OpenTelemetry-like shape documented in docs/schema.md."""
        status = self.status
        return {
            "name": self._name,
            "context": {"span_id": f"0x{self._span_id:016x}", "trace_id": f"0x{self._trace_id:032x}"},
            "parent_id": None if self._parent_id is None else f"0x{self._parent_id:016x}",
            "start_time": self._start_ns,
            "end_time": self._end_ns,
            "status_code": status.status_code.value,
            "status_message": status.description,
            "attributes": dict(self._attrs),
            "events": [event.to_dict() for event in self._events],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Span:
        """Rebuild a finished span from :meth:`to_dict` output."""
        context = data["context"]
        parent = data.get("parent_id")
        status_code = data.get("status_code") or "UNSET"
        return cls(
            name=data["name"],
            trace_id=_parse_hex(context["trace_id"]),
            span_id=_parse_hex(context["span_id"]),
            parent_id=None if parent in (None, "") else _parse_hex(parent),
            start_time_ns=int(data["start_time"]),
            end_time_ns=None if data.get("end_time") is None else int(data["end_time"]),
            status=SpanStatus(SpanStatusCode(status_code), data.get("status_message") or ""),
            attributes={str(k): v if isinstance(v, str) else dumps(v) for k, v in data["attributes"].items()},
            events=[SpanEvent.from_dict(e) for e in data.get("events") or []],
        )

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name={self._name!r}, span_type={self._span_type!r}, "
            f"request_id={self._request_id!r}, span_id={self.span_id!r}, parent_id={self.parent_id!r})"
        )


def _parse_hex(value: str | int) -> int:
    if isinstance(value, int):
        return value
    return int(value[2:] if value.startswith("0x") else value, 16)


class LiveSpan(Span):
    """A span that is still running: set its inputs, outputs, attributes, status and events.

    Created by ``spanlog.start_span``, ``@spanlog.trace`` or ``SpanlogClient``; never directly. When it ends it
    is the finished span of its trace, and further setters are ignored with a warning.
    """

    __slots__ = ("_deferred", "_otel", "_otel_parent_ctx", "_otel_view", "_record", "_recording")

    def __init__(
        self,
        otel_span: Any,
        record: Any,
        name: str,
        trace_id: int,
        span_id: int,
        parent_id: int | None,
        start_time_ns: int,
        attributes: dict[str, str],
        span_type: str,
        request_id: str,
    ) -> None:
        # positional and flat, not Span.__init__ with keywords: this runs once per traced call
        self._name = name
        self._trace_id = trace_id
        self._span_id = span_id
        self._parent_id = parent_id
        self._start_ns = start_time_ns
        self._end_ns: int | None = None
        self._status = None
        self._attrs = attributes
        self._events = []
        self._request_id = request_id
        self._span_type = span_type
        self._otel = otel_span  # an SDK span when span processors want one, else None
        self._otel_view: Any = otel_span  # what OpenTelemetry sees as the current span (made on demand)
        self._record = record
        self._otel_parent_ctx: Any = None
        self._deferred: list[tuple[Callable[..., None], tuple[Any, ...]]] | None = None  # run after the end
        self._recording = False  # True while they run: the setters write although the span has ended

    def _ended(self, what: str) -> bool:
        if self._end_ns is None or self._recording:
            return False
        warn_once(
            f"late-{what}",
            "span %r has already ended: %s after the end is ignored",
            self._name,
            what,
        )
        return True

    def defer(self, recorder: Callable[..., None], *args: Any) -> None:
        """Run ``recorder(span, *args)`` later, off the caller's thread when possible, to set what the span
        records.

        Integrations use this to keep the work of turning a response into attributes off the user's call:
        the recorder runs once, before anything reads the finished trace (the store exporter's thread runs
        it before writing; ``get_last_active_trace`` and in-memory reads run it first), and on the user's
        thread when plugin hooks, a masking function or another exporter must see the span complete (with a
        ``spanlog_span_end`` hook, just before the span ends: do not rely on ``end_time_ns``). It may use
        every setter although the span has ended. It must read only values that do not change after the call
        (copy the user's mutable arguments first). A recorder that fails is reported; the span keeps the rest.
        """
        if self._end_ns is not None and not self._recording:
            warn_once("late-defer", "span %r has already ended: defer after the end is ignored", self._name)
            return
        if self._deferred is None:
            self._deferred = [(recorder, args)]
            self._record.deferred.append(self)
        else:
            self._deferred.append((recorder, args))

    def set_inputs(self, inputs: Any) -> None:
        """Record the span's inputs (any value; serialized to JSON now, so later mutation is not seen)."""
        if self._ended("set_inputs"):
            return
        if not STATE.hide_inputs:
            self._attrs[SpanAttributeKey.INPUTS] = dumps(inputs)

    def set_outputs(self, outputs: Any) -> None:
        """Record the span's outputs (any value; serialized to JSON now)."""
        if self._ended("set_outputs"):
            return
        if not STATE.hide_outputs:
            self._attrs[SpanAttributeKey.OUTPUTS] = dumps(outputs)

    def set_attribute(self, key: str, value: Any) -> None:
        """Set one attribute; the value may be any object (it is stored as JSON)."""
        if self._ended("set_attribute"):
            return
        self._attrs[str(key)] = dumps(value)

    def set_attributes(self, attributes: Mapping[str, Any]) -> None:
        """Set several attributes at once."""
        if self._ended("set_attributes"):
            return
        for key, value in attributes.items():
            self._attrs[str(key)] = dumps(value)

    def set_span_type(self, span_type: str) -> None:
        """Change the span's type (integrations use this once they know what a call turned out to be)."""
        if self._ended("set_span_type"):
            return
        self._span_type = str(span_type)
        self._attrs[SpanAttributeKey.SPAN_TYPE] = dumps(self._span_type)

    def set_status(self, status: SpanStatus | SpanStatusCode | str) -> None:
        """Set OK / ERROR / UNSET; a string names a code, a SpanStatus may carry a message."""
        if self._ended("set_status"):
            return
        self._status = SpanStatus.coerce(status)

    def add_event(self, event: SpanEvent | str, attributes: Mapping[str, Any] | None = None) -> None:
        """Add a SpanEvent, or an event built from a name and attributes, stamped now."""
        if self._ended("add_event"):
            return
        if not isinstance(event, SpanEvent):
            event = SpanEvent(str(event), time.time_ns(), dict(attributes or {}))
        self._events.append(event)

    def record_exception(self, exc: BaseException) -> None:
        """Mark the span ERROR ``"<Type>: <message>"`` and add the ``exception`` event with the stack trace."""
        if self._ended("record_exception"):
            return
        from spanlog.tracing.errors import user_stacktrace

        self._events.append(SpanEvent.from_exception(exc, user_stacktrace(exc)))
        self._status = SpanStatus(SpanStatusCode.ERROR, f"{type(exc).__name__}: {exception_message(exc)}")

    def end(
        self,
        outputs: Any = None,
        attributes: Mapping[str, Any] | None = None,
        status: SpanStatus | SpanStatusCode | str | None = None,
        end_time_ns: int | None = None,
    ) -> None:
        """End the span (once; later calls warn and do nothing). Ending a root span ends its trace."""
        if self._end_ns is None and outputs is None and not attributes and status is None:
            self._record.end_span(self, end_time_ns)  # the usual case, without the checks below
            return
        if self._ended("end"):
            return
        if outputs is not None:
            self.set_outputs(outputs)
        if attributes:
            self.set_attributes(attributes)
        if status is not None:
            self.set_status(status)
        self._record.end_span(self, end_time_ns)


def _run_recorders(span: LiveSpan, recorders: list[tuple[Callable[..., None], tuple[Any, ...]]]) -> None:
    """Run deferred recorders on ``span`` with its setters open; a failing one is reported, not raised."""
    span._recording = True
    events = len(span._events)
    try:
        for recorder, args in recorders:
            try:
                recorder(span, *args)
            except Exception as exc:
                report_internal_error(f"recording span {span._name!r}", exc)
    finally:
        span._recording = False
        if len(span._events) > events:  # recorders stamp events in the past: keep the events in time order
            span._events.sort(key=_event_time)


def _event_time(event: SpanEvent) -> int:
    return event.timestamp


def run_deferred(span: LiveSpan) -> None:
    """Run what ``span.defer`` postponed, once (the caller holds the lock that makes it once)."""
    recorders = span._deferred
    if recorders is not None:
        span._deferred = None
        _run_recorders(span, recorders)


class NoOpSpan:
    """The span handed out when tracing is disabled or a trace is sampled out: every method does nothing."""

    __slots__ = ()

    name = None
    request_id = None
    trace_id = None
    span_id = None
    parent_id = None
    span_type = None
    inputs = None
    outputs = None
    start_time_ns = None
    end_time_ns = None

    @property
    def attributes(self) -> dict[str, Any]:
        """Always empty."""
        return {}

    @property
    def events(self) -> list[SpanEvent]:
        """Always empty."""
        return []

    @property
    def status(self) -> SpanStatus:
        """Always UNSET."""
        return SpanStatus(SpanStatusCode.UNSET)

    def get_attribute(self, key: str) -> Any:
        """Always None."""
        return None

    def set_inputs(self, inputs: Any) -> None:
        """Ignored."""

    def set_outputs(self, outputs: Any) -> None:
        """Ignored."""

    def set_attribute(self, key: str, value: Any) -> None:
        """Ignored."""

    def set_attributes(self, attributes: Mapping[str, Any]) -> None:
        """Ignored."""

    def set_span_type(self, span_type: str) -> None:
        """Ignored."""

    def set_status(self, status: Any) -> None:
        """Ignored."""

    def add_event(self, event: Any, attributes: Any = None) -> None:
        """Ignored."""

    def record_exception(self, exc: BaseException) -> None:
        """Ignored."""

    def defer(self, recorder: Any, *args: Any) -> None:
        """Ignored: nothing is recorded."""

    def end(self, *args: Any, **kwargs: Any) -> None:
        """Ignored."""

    def to_dict(self) -> dict[str, Any]:
        """Always empty: a no-op span records nothing."""
        return {}

    def __repr__(self) -> str:
        return "NoOpSpan()"


NO_OP_SPAN = NoOpSpan()

__all__ = [
    "NO_OP_SPAN",
    "OK_STATUS",
    "LiveSpan",
    "NoOpSpan",
    "Span",
    "SpanAttributeKey",
]
