"""The client API: explicit, thread-safe control of traces and spans by id, for code whose spans cannot follow
the call stack (callbacks, queues, work that starts on one thread and ends on another).

Client spans are never made active in the context: a fluent ``start_span`` inside a client trace starts a
separate trace, as the guide's FAQ warns.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from spanlog.entities import LiveSpan, NoOpSpan, SpanStatus, SpanStatusCode, SpanType, Trace
from spanlog.exceptions import InvalidArgumentError, TraceNotFoundError


class SpanlogClient:
    """Start, end and fetch traces and spans by their ids. Safe to share between threads."""

    def __init__(self, tracking_uri: str | None = None) -> None:
        self.tracking_uri = tracking_uri

    def start_trace(
        self,
        name: str,
        span_type: str = SpanType.UNKNOWN,
        inputs: Any = None,
        attributes: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
        experiment_id: str | None = None,
        start_time_ns: int | None = None,
    ) -> LiveSpan | NoOpSpan:
        """Start a new trace and return its root span; its ``request_id`` names the trace from now on."""
        from spanlog.tracing import trace_manager

        _check_name(name)
        span = trace_manager.start_client_trace(
            name,
            str(span_type),
            attributes,
            tags,
            None if experiment_id is None else str(experiment_id),
            start_time_ns,
        )
        if inputs is not None:
            span.set_inputs(inputs)
        return span

    def start_span(
        self,
        name: str,
        request_id: str,
        parent_id: str,
        span_type: str = SpanType.UNKNOWN,
        inputs: Any = None,
        attributes: Mapping[str, Any] | None = None,
        start_time_ns: int | None = None,
    ) -> LiveSpan | NoOpSpan:
        """Start a child of span ``parent_id`` in the open trace ``request_id``; end it with :meth:`end_span`."""
        from spanlog.tracing import trace_manager

        _check_name(name)
        span = trace_manager.start_client_span(
            name, request_id, parent_id, str(span_type), attributes, start_time_ns
        )
        if inputs is not None:
            span.set_inputs(inputs)
        return span

    def end_span(
        self,
        request_id: str,
        span_id: str,
        outputs: Any = None,
        attributes: Mapping[str, Any] | None = None,
        status: SpanStatus | SpanStatusCode | str = "OK",
        end_time_ns: int | None = None,
    ) -> None:
        """End span ``span_id`` of trace ``request_id``, recording outputs, attributes and status."""
        from spanlog.tracing import trace_manager
        from spanlog.tracing.state import STATE

        if not STATE.enabled and request_id is None:
            return
        span = trace_manager.find_span(request_id, span_id)
        span.end(outputs=outputs, attributes=attributes, status=status, end_time_ns=end_time_ns)

    def end_trace(
        self,
        request_id: str,
        outputs: Any = None,
        attributes: Mapping[str, Any] | None = None,
        status: SpanStatus | SpanStatusCode | str = "OK",
        end_time_ns: int | None = None,
    ) -> None:
        """End the root span of trace ``request_id``, and with it the trace. Spans still open are ended too
        (marked ``spanlog.spanEndedWithTrace``) and a warning names them."""
        from spanlog.tracing import trace_manager
        from spanlog.tracing.state import STATE

        if not STATE.enabled and request_id is None:
            return
        root = trace_manager.find_record(request_id).root
        assert root is not None
        root.end(outputs=outputs, attributes=attributes, status=status, end_time_ns=end_time_ns)

    def get_trace(self, request_id: str) -> Trace:
        """The finished trace with this request id; raises TraceNotFoundError when there is none."""
        from spanlog.tracing import trace_manager

        trace = trace_manager.get_finished_trace(request_id)
        if trace is None:
            raise TraceNotFoundError(f"no finished trace with request_id {request_id!r}")
        return trace

    def search_traces(
        self,
        experiment_ids: list[str],
        filter_string: str | None = None,
        max_results: int = 100,
        order_by: list[str] | None = None,
        page_token: str | None = None,
    ) -> Any:
        """One page of matching traces: a list of Trace with ``.token`` for the next page (None at the end)."""
        from spanlog.store.fluent import search_trace_page

        return search_trace_page(experiment_ids, filter_string, max_results, order_by, page_token)

    def delete_traces(
        self,
        experiment_id: str,
        max_timestamp_millis: int | None = None,
        max_traces: int | None = None,
        request_ids: list[str] | None = None,
    ) -> int:
        """Delete traces of an experiment by age, count and/or ids; returns how many were deleted."""
        from spanlog.store.fluent import delete_traces

        return delete_traces(experiment_id, max_timestamp_millis, max_traces, request_ids)

    def set_trace_tag(self, request_id: str, key: str, value: str) -> None:
        """Set a tag on a stored trace."""
        from spanlog.store.fluent import set_trace_tag

        set_trace_tag(request_id, key, value)

    def delete_trace_tag(self, request_id: str, key: str) -> None:
        """Remove a tag from a stored trace."""
        from spanlog.store.fluent import delete_trace_tag

        delete_trace_tag(request_id, key)

    def get_current_time_ns(self) -> int:
        """Now, in ns since the epoch (for ``start_time_ns`` / ``end_time_ns``)."""
        return time.time_ns()


def _check_name(name: Any) -> None:
    if not isinstance(name, str) or not name:
        raise InvalidArgumentError(f"a span name must be a non-empty string, got {name!r}")
