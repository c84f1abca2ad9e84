"""The data model: spans, traces, span types and statuses, experiments and runs."""

from __future__ import annotations

from spanlog.entities.experiment import Experiment, Run, RunInfo, RunStatus
from spanlog.entities.span import LiveSpan, NoOpSpan, Span, SpanAttributeKey
from spanlog.entities.span_event import SpanEvent
from spanlog.entities.span_status import SpanStatus, SpanStatusCode
from spanlog.entities.span_type import SpanType
from spanlog.entities.trace import Trace, TraceData, TraceInfo, TraceStatus

__all__ = [
    "Experiment",
    "LiveSpan",
    "NoOpSpan",
    "Run",
    "RunInfo",
    "RunStatus",
    "Span",
    "SpanAttributeKey",
    "SpanEvent",
    "SpanStatus",
    "SpanStatusCode",
    "SpanType",
    "Trace",
    "TraceData",
    "TraceInfo",
    "TraceStatus",
]
