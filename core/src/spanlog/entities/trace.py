"""Traces: the finished tree of spans of one request, with its summary (``TraceInfo``) and spans (``TraceData``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import orjson

from spanlog.entities.span import Span, SpanAttributeKey


class TraceStatus(str, Enum):
    """The status of a whole trace: its root span's outcome."""

    OK = "OK"
    ERROR = "ERROR"
    IN_PROGRESS = "IN_PROGRESS"

    def __str__(self) -> str:
        return self.value


TOKEN_USAGE_METADATA = "spanlog.trace.tokenUsage"


@dataclass(slots=True)
class TraceInfo:
    """What a trace is about: ids, when, how long, how it ended, and its tags and metadata."""

    request_id: str
    experiment_id: str
    timestamp_ms: int
    execution_time_ms: int | None
    status: TraceStatus
    request_metadata: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def trace_id(self) -> str:
        """Same as :attr:`request_id`."""
        return self.request_id

    @property
    def token_usage(self) -> dict[str, int] | None:
        """Tokens used by the model calls of this trace (input, output, total, cached input where
        reported), summed over its outermost spans that report usage; None when none does."""
        raw = self.request_metadata.get(TOKEN_USAGE_METADATA)
        if raw is None:
            return None
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return None
        return value if isinstance(value, dict) else None

    def to_dict(self) -> dict[str, Any]:
        """Plain data, JSON-ready."""
        return {
            "request_id": self.request_id,
            "experiment_id": self.experiment_id,
            "timestamp_ms": self.timestamp_ms,
            "execution_time_ms": self.execution_time_ms,
            "status": self.status.value,
            "request_metadata": dict(self.request_metadata),
            "tags": dict(self.tags),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TraceInfo:
        """Rebuild from :meth:`to_dict` output."""
        return cls(
            request_id=data["request_id"],
            experiment_id=str(data["experiment_id"]),
            timestamp_ms=int(data["timestamp_ms"]),
            execution_time_ms=None
            if data.get("execution_time_ms") is None
            else int(data["execution_time_ms"]),
            status=TraceStatus(data.get("status") or "OK"),
            request_metadata={str(k): str(v) for k, v in (data.get("request_metadata") or {}).items()},
            tags={str(k): str(v) for k, v in (data.get("tags") or {}).items()},
        )


@dataclass(slots=True)
class TraceData:
    """The spans of a trace, root first, then in start order."""

    spans: list[Span] = field(default_factory=list)

    @property
    def root_span(self) -> Span | None:
        """The span without a parent (None for an empty trace)."""
        for span in self.spans:
            if span.parent_id is None:
                return span
        return None

    @property
    def request(self) -> str | None:
        """The root span's inputs as a JSON string."""
        root = self.root_span
        return None if root is None else root._attrs.get(SpanAttributeKey.INPUTS)

    @property
    def response(self) -> str | None:
        """The root span's outputs as a JSON string."""
        root = self.root_span
        return None if root is None else root._attrs.get(SpanAttributeKey.OUTPUTS)

    def to_dict(self) -> dict[str, Any]:
        """``{"spans": [...], "request": <json>, "response": <json>}`` (docs/schema.md)."""
        return {
            "spans": [s.to_dict() for s in self.spans],
            "request": self.request,
            "response": self.response,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TraceData:
        """Rebuild from :meth:`to_dict` output (``request``/``response`` are derived, so ignored)."""
        return cls(spans=[Span.from_dict(s) for s in data.get("spans") or []])


@dataclass(slots=True)
class Trace:
    """A finished trace: ``info`` (summary, tags, metadata) and ``data`` (its spans)."""

    info: TraceInfo
    data: TraceData
    _pending: list[Any] | None = field(default=None, repr=False, compare=False)
    """Spans whose deferred recorders have not run yet (see ``LiveSpan.defer``); None once complete."""

    def _whole(self) -> None:
        """Run what the spans deferred, if a reader got here before the exporter did."""
        if self._pending is not None:
            from spanlog.tracing.trace_manager import complete_trace

            complete_trace(self)

    def to_dict(self) -> dict[str, Any]:
        """``{"info": ..., "data": ...}``."""
        self._whole()
        return {"info": self.info.to_dict(), "data": self.data.to_dict()}

    def to_json(self, pretty: bool = False) -> str:
        """The trace as one JSON document."""
        return orjson.dumps(self.to_dict(), option=orjson.OPT_INDENT_2 if pretty else 0).decode()

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Trace:
        """Rebuild from :meth:`to_dict` output."""
        return cls(info=TraceInfo.from_dict(data["info"]), data=TraceData.from_dict(data["data"]))

    @classmethod
    def from_json(cls, text: str | bytes) -> Trace:
        """Rebuild from :meth:`to_json` output."""
        return cls.from_dict(orjson.loads(text))

    def get_span(self, name_or_id: str) -> Span | None:
        """The first span with this name or span id, or None."""
        self._whole()
        for span in self.data.spans:
            if span.name == name_or_id or span.span_id == name_or_id:
                return span
        return None

    def search_spans(self, name: str | None = None, span_type: str | None = None) -> list[Span]:
        """Spans matching a name and/or a span type, in trace order."""
        self._whole()
        return [
            s
            for s in self.data.spans
            if (name is None or s.name == name) and (span_type is None or s.span_type == span_type)
        ]

    def __repr__(self) -> str:
        return f"Trace(request_id={self.info.request_id!r}, spans={len(self.data.spans)})"
