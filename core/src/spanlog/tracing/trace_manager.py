"""Trace assembly: start spans on spanlog's OpenTelemetry tracer, keep each open trace's spans together, and
hand the finished trace to the exporter when its root span ends.

One lock per trace (not a global one) guards ending spans, so traces on different threads never contend.
The active span lives in the OpenTelemetry context under spanlog's own key, next to OpenTelemetry's current
span, so one ``attach`` makes it current for spanlog and for any other OpenTelemetry instrumentation.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections.abc import Mapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry.context import Context
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags
from opentelemetry.trace.propagation import _SPAN_KEY

from spanlog import export as _export
from spanlog.entities.span import NO_OP_SPAN, LiveSpan, NoOpSpan, SpanAttributeKey, run_deferred
from spanlog.entities.span_status import OK_STATUS, UNSET_STATUS, SpanStatusCode
from spanlog.entities.trace import TOKEN_USAGE_METADATA, Trace, TraceData, TraceInfo, TraceStatus
from spanlog.exceptions import SpanNotFoundError, TraceNotFoundError
from spanlog.tracing import hooks as _hooks
from spanlog.tracing import provider as _provider_module
from spanlog.tracing.provider import get_tracer
from spanlog.tracing.serialization import dumps, loads
from spanlog.tracing.state import STATE, report_internal_error, warn_once
from spanlog.tracking import fluent as _tracking

_logger = logging.getLogger("spanlog.tracing")

SPANLOG_SPAN_KEY = otel_context.create_key("spanlog-span")
_EMPTY_CONTEXT = Context()
_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
_getrandbits = random.getrandbits
_dict_set = dict.__setitem__
_time_ns = time.time_ns

TRACE_NAME_TAG = "spanlog.traceName"
SOURCE_RUN_METADATA = "spanlog.sourceRun"

_active: dict[str, TraceRecord] = {}
# the trace that finished last: a Trace, or the Finished holder of one not yet built (see _finish_trace)
_last_trace: Trace | Finished | None = None
_type_json: dict[str, str] = {}
# one lock for completing traces (running deferred recorders): the exporter's thread does nearly all of it, so
# it is seldom contended; re-entrant, so a recorder that reads a trace does not wait on itself
_complete_lock = threading.RLock()


def _after_fork_in_child() -> None:
    """In the child of a fork only the forking thread lives on: a lock another thread held at that instant
    would stay held forever, so the child gets new ones."""
    global _complete_lock
    _complete_lock = threading.RLock()
    for record in list(_active.values()):
        record.lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _context_accessors() -> tuple[Any, Any, Any]:
    """get / attach / detach of the OpenTelemetry context. With OpenTelemetry's default runtime context
    (a ContextVar) these are the ContextVar's own methods, which is what ``otel_context`` calls through two
    layers of Python; any other runtime context is used through ``otel_context``."""
    runtime = getattr(otel_context, "_RUNTIME_CONTEXT", None)
    var: Any = getattr(runtime, "_current_context", None)
    if type(runtime).__name__ == "ContextVarsRuntimeContext" and hasattr(var, "reset"):
        return var.get, var.set, var.reset
    return otel_context.get_current, otel_context.attach, otel_context.detach


_get_context, _attach, _reset = _context_accessors()


def type_json(span_type: str) -> str:
    """The JSON form of a span type, cached: most programs use a handful."""
    cached = _type_json.get(span_type)
    if cached is None:
        cached = _type_json[span_type] = dumps(span_type)
    return cached


class TraceRecord:
    """A trace that has started and not ended: its spans, tags and metadata."""

    __slots__ = (
        "by_id",
        "deferred",
        "experiment_id",
        "finished",
        "lock",
        "metadata",
        "request_id",
        "rid_json",
        "root",
        "spans",
        "tags",
    )

    def __init__(self, request_id: str, experiment_id: str) -> None:
        self.request_id = request_id
        self.rid_json = '"' + request_id + '"'
        self.experiment_id = experiment_id
        self.root: LiveSpan | None = None
        self.spans: list[LiveSpan] = []
        self.by_id: dict[int, LiveSpan] = {}
        self.tags: dict[str, str] = {}
        self.metadata: dict[str, str] = {}
        self.lock = threading.Lock()
        self.finished = False
        self.deferred: list[LiveSpan] = []  # spans with recorders to run (LiveSpan.defer)

    def end_span(self, span: LiveSpan, end_time_ns: int | None) -> None:
        """End ``span`` once; when it is the root, end the open children too and finish the trace."""
        if _hooks.span_end and span._end_ns is None:
            # outside the lock: a hook may itself start or end spans of this trace; it sees them complete
            if span is self.root:
                for child in [s for s in self.spans if s._end_ns is None and s is not span]:
                    _complete_span(child)
                    _hooks.run(_hooks.span_end, "spanlog_span_end", child)  # ends with its trace
            _complete_span(span)
            _hooks.run(_hooks.span_end, "spanlog_span_end", span)
        with self.lock:
            if span._end_ns is not None:
                return
            otel = span._otel
            if otel is not None:
                otel.end(end_time=end_time_ns)
                span._end_ns = otel.end_time
            else:
                span._end_ns = end_time_ns or _time_ns()
            if span._status is None:
                span._status = OK_STATUS
            if span is not self.root:
                return
            left_open = self._end_open_spans(span._end_ns) if len(self.spans) > 1 else ()
            self.finished = True
        if left_open:
            self._warn_ended_with_trace(left_open, "ended while %d of its spans were still open")
        _finish_trace(self)

    def _end_open_spans(self, end_ns: int) -> list[LiveSpan]:
        """End the spans still open as the trace ends, at ``end_ns``, marked as ended with it; the caller holds
        the lock. Returns them."""
        left_open = [s for s in self.spans if s._end_ns is None]
        for child in left_open:
            child._attrs[SpanAttributeKey.ENDED_WITH_TRACE] = "true"
            if child._otel is not None:
                child._otel.end(end_time=end_ns)
            child._end_ns = end_ns
            child._status = UNSET_STATUS
        return left_open

    def _warn_ended_with_trace(self, spans: list[LiveSpan], what: str) -> None:
        _logger.warning(
            "trace %s " + what + " (%s); they were ended with it and marked %s",
            self.request_id,
            len(spans),
            ", ".join(repr(s._name) for s in spans[:5]),
            SpanAttributeKey.ENDED_WITH_TRACE,
        )


Finished = list
"""What the store exporter is handed for a finished trace: ``[record, None]``, which :func:`trace_of` turns
into ``[None, trace]`` once. The holder, not the record, keeps the built Trace: the record is referred to by
every span of the trace, so a record holding its Trace would make a reference cycle."""


def _new_span(
    name: str,
    span_type: str,
    parent: LiveSpan | None,
    attributes: Mapping[str, Any] | None,
    experiment_id: str | None = None,
    start_time_ns: int | None = None,
) -> LiveSpan:
    if parent is None:
        if not _hooks.loaded:
            _hooks.load_plugins()
        parent_id = None
        parent_ctx = _EMPTY_CONTEXT
    else:
        parent_id = parent._span_id
        parent_ctx = None
    # an SDK span only while span processors are registered on spanlog's provider (they are what it feeds)
    provider = _provider_module._provider
    if provider is not None and provider._active_span_processor._span_processors:
        if parent_ctx is None:
            parent_ctx = parent._otel_parent_ctx  # type: ignore[union-attr]
            if parent_ctx is None:
                parent_ctx = parent._otel_parent_ctx = Context({_SPAN_KEY: otel_view(parent)})  # type: ignore[union-attr, arg-type]
        otel_span = get_tracer().start_span(name, context=parent_ctx, start_time=start_time_ns)
        sc = otel_span.get_span_context()
        trace_id, span_id, start_ns = sc.trace_id, sc.span_id, otel_span.start_time
    else:
        otel_span = None
        trace_id = parent._trace_id if parent is not None else _new_trace_id()
        span_id = _getrandbits(64) or 1
        start_ns = start_time_ns or _time_ns()
    if parent is None:
        experiment_id = experiment_id or _tracking._active_experiment_id or _tracking.active_experiment_id()
        # request_id_from_trace_id(trace_id), inlined with bytes.hex: a format spec (``:032x``) runs the
        # general formatting machinery, which costs a root span several µs when its code is out of the cache
        record = TraceRecord("tr-" + trace_id.to_bytes(16, "big").hex(), experiment_id)
        run = _tracking._active_run.get()
        if run is not None:
            record.metadata[SOURCE_RUN_METADATA] = run.info.run_id
    else:
        record = parent._record
    span_type_json = _type_json.get(span_type) or type_json(span_type)
    attrs = {SpanAttributeKey.REQUEST_ID: record.rid_json, SpanAttributeKey.SPAN_TYPE: span_type_json}
    if attributes:
        for key, value in attributes.items():
            attrs[str(key)] = dumps(value)
    span = LiveSpan(
        otel_span, record, name, trace_id, span_id, parent_id, start_ns, attrs, span_type, record.request_id
    )
    if parent is None:
        # no lock: nobody else can see the record before it is in _active
        record.root = span
        record.spans.append(span)
        record.by_id[span_id] = span
        _active[record.request_id] = record
    else:
        with record.lock:
            record.spans.append(span)
            record.by_id[span_id] = span
    if _hooks.span_start:
        _hooks.run(_hooks.span_start, "spanlog_span_start", span)
    return span


def _new_trace_id() -> int:
    return _getrandbits(128) or 1


class _SpanView(NonRecordingSpan):
    """What OpenTelemetry sees of a spanlog span that has no SDK span: its ids, made into a SpanContext
    only when something asks for it (most calls put the span in the context and nothing ever looks)."""

    def __init__(self, trace_id: int, span_id: int) -> None:
        self._ids = (trace_id, span_id)
        self._context: SpanContext | None = None  # type: ignore[assignment]

    def get_span_context(self) -> SpanContext:
        context = self._context
        if context is None:
            context = self._context = SpanContext(self._ids[0], self._ids[1], False, _SAMPLED)
        return context

    def __repr__(self) -> str:
        return f"NonRecordingSpan({self.get_span_context()!r})"


def otel_view(span: LiveSpan) -> Any:
    """The OpenTelemetry span that stands for ``span`` in the OpenTelemetry context."""
    view = span._otel_view
    if view is None:
        view = span._otel_view = _SpanView(span._trace_id, span._span_id)
    return view


# -- fluent spans (follow the context) ---------------------------------------------------------------------


def current_span() -> LiveSpan | NoOpSpan | None:
    """The span active in this context (a NoOpSpan inside a sampled-out trace), or None."""
    return _get_context().get(SPANLOG_SPAN_KEY)


def open_span(name: str, span_type: str, attributes: Mapping[str, Any] | None) -> LiveSpan | NoOpSpan:
    """Start a span under the active one (a new trace when there is none); not yet made current."""
    if not STATE.enabled:
        return NO_OP_SPAN
    parent: Any = _get_context().get(SPANLOG_SPAN_KEY)
    if parent is None:
        ratio = STATE.sampling_ratio
        if ratio < 1.0 and random.random() >= ratio:
            return NO_OP_SPAN
    elif parent is NO_OP_SPAN:
        return NO_OP_SPAN
    elif parent._record.finished:
        warn_once(
            "parent-ended",
            "span %r started under span %r whose trace has already ended; it starts a new trace",
            name,
            parent.name,
        )
        parent = None
    return _new_span(name, span_type, parent, attributes)


def activate(span: LiveSpan | NoOpSpan) -> object | None:
    """Make ``span`` the active span of this context until :func:`deactivate` gets the returned token.

    (``spanlog.plugins.activate_span``.) For frameworks whose runs start and end in separate callbacks,
    where ``use_span`` (a block) cannot be used; activating in a context the framework throws away
    afterwards needs no deactivation.
    """
    current = _get_context()
    if span is NO_OP_SPAN:
        if current.get(SPANLOG_SPAN_KEY) is NO_OP_SPAN or not STATE.enabled:
            return None
        ctx = Context(current)
        _dict_set(ctx, SPANLOG_SPAN_KEY, span)
        return _attach(ctx)
    ctx = Context(current)  # Context forbids item assignment; set the two keys on the fresh copy directly
    view = span._otel_view  # type: ignore[union-attr]
    if view is None:  # otel_view(span), inlined: this runs once per traced call
        view = span._otel_view = _SpanView(span._trace_id, span._span_id)  # type: ignore[union-attr]
    _dict_set(ctx, _SPAN_KEY, view)
    _dict_set(ctx, SPANLOG_SPAN_KEY, span)
    return _attach(ctx)


def deactivate(token: Any) -> None:
    """Undo :func:`activate` (``spanlog.plugins.deactivate_span``; tokens go back in reverse order, in the
    same context: one from another context, say an async generator resumed elsewhere, is logged, as
    OpenTelemetry's own ``detach`` does, not raised)."""
    if token is not None:
        try:
            _reset(token)
        except Exception:
            _logger.exception("Failed to detach context")


def close_span(span: LiveSpan | NoOpSpan, exc: BaseException | None, outputs: Any, has_outputs: bool) -> None:
    """End a fluent span: record the exception (ERROR) or the outputs, then end it. Never raises."""
    if span is NO_OP_SPAN:
        return
    try:
        if span._end_ns is not None:  # type: ignore[union-attr]
            return
        if exc is not None:
            if not isinstance(exc, GeneratorExit):
                span.record_exception(exc)
        elif has_outputs and not STATE.hide_outputs:
            span._attrs[SpanAttributeKey.OUTPUTS] = dumps(outputs)  # type: ignore[union-attr]
        span._record.end_span(span, None)  # type: ignore[union-attr]
    except Exception as internal:
        report_internal_error("ending a span", internal)


# -- client spans (explicit ids) ---------------------------------------------------------------------------


def start_client_trace(
    name: str,
    span_type: str,
    attributes: Mapping[str, Any] | None,
    tags: Mapping[str, Any] | None,
    experiment_id: str | None,
    start_time_ns: int | None,
) -> LiveSpan | NoOpSpan:
    """Start a new trace's root span without touching the context."""
    if not STATE.enabled:
        return NO_OP_SPAN
    span = _new_span(name, span_type, None, attributes, experiment_id, start_time_ns)
    if tags:
        span._record.tags.update({str(k): str(v) for k, v in tags.items()})
    return span


def find_record(request_id: str) -> TraceRecord:
    """The open trace with this request id; raises TraceNotFoundError naming it otherwise."""
    record = _active.get(request_id) if isinstance(request_id, str) else None
    if record is None:
        raise TraceNotFoundError(
            f"no open trace with request_id {request_id!r}: it was never started in this process or has "
            "already ended (request ids look like 'tr-' followed by 32 hex digits)"
        )
    return record


def find_span(request_id: str, span_id: str) -> LiveSpan:
    """The span ``span_id`` of the open trace ``request_id``; raises SpanNotFoundError naming both."""
    record = find_record(request_id)
    try:
        key = int(span_id, 16) if isinstance(span_id, str) and len(span_id) == 16 else None
    except ValueError:
        key = None
    span = record.by_id.get(key) if key is not None else None
    if span is None:
        raise SpanNotFoundError(
            f"trace {request_id!r} has no span with span_id {span_id!r} "
            "(span ids are the 16 hex digits of Span.span_id)"
        )
    return span


def start_client_span(
    name: str,
    request_id: str,
    parent_id: str,
    span_type: str,
    attributes: Mapping[str, Any] | None,
    start_time_ns: int | None,
) -> LiveSpan | NoOpSpan:
    """Start a child of span ``parent_id`` in the open trace ``request_id``."""
    if not STATE.enabled:
        return NO_OP_SPAN
    parent = find_span(request_id, parent_id)
    return _new_span(name, span_type, parent, attributes, None, start_time_ns)


# -- finishing ---------------------------------------------------------------------------------------------


def _finish_trace(record: TraceRecord) -> None:
    """Hand a trace whose root span has ended to the exporter.

    An exporter that assembles traces itself (the store exporter) gets the record in a :data:`Finished`
    holder: building the Trace, running the recorders integrations deferred and summing token usage happen on
    its thread, or in whichever reader of the last trace asks first (:func:`trace_of`). Hooks, plugin
    exporters, a masking function or any other exporter see the trace assembled here, on the thread that
    ended it.
    """
    global _last_trace
    _active.pop(record.request_id, None)
    exporter = _export._exporter or _export.get_exporter()
    # hooks, plugin exporters and masking look at the whole trace here, on the thread that ended it
    seen_here = _hooks.trace_end or _hooks.exporters or STATE.masking_function is not None
    if exporter._takes_records and not seen_here:
        finished = [record, None]
        _last_trace = finished
        try:
            exporter.export(finished)  # type: ignore[arg-type]
        except Exception as exc:
            report_internal_error("exporting a trace", exc)
        return
    try:
        trace = _build_trace(record)
        if trace._pending is None or seen_here or not getattr(exporter, "completes_traces", False):
            _complete_now(trace)  # else the exporter completes it (complete_trace), or the first reader
        if _hooks.trace_end:
            _hooks.run(_hooks.trace_end, "spanlog_trace_end", trace)
        if STATE.masking_function is not None:
            _mask(trace, STATE.masking_function)
        _last_trace = trace
    except Exception as exc:
        report_internal_error("assembling a trace", exc)
        return
    try:
        exporter.export(trace)
    except Exception as exc:
        report_internal_error("exporting a trace", exc)
    for plugin, plugin_exporter in _hooks.exporters:
        try:
            plugin_exporter.export(trace)
        except Exception as exc:
            report_internal_error(f"plugin {plugin!r} exporter", exc)


def _build_trace(record: TraceRecord) -> Trace:
    """The Trace of a finished record, its deferred recorders still pending (``Trace._pending``)."""
    root = record.root
    assert root is not None and root._end_ns is not None and root._status is not None
    tags = record.tags
    tags.setdefault(TRACE_NAME_TAG, root._name)
    start_ns = root._start_ns
    info = TraceInfo(
        record.request_id,
        record.experiment_id,
        start_ns // 1_000_000,
        (root._end_ns - start_ns) // 1_000_000,
        TraceStatus.ERROR if root._status.status_code is SpanStatusCode.ERROR else TraceStatus.OK,
        record.metadata,
        tags,
    )
    with record.lock:
        # a span that joined after the root ended (started on another thread as the trace was ending) is
        # ended with the trace, as those left open at the end were
        late = record._end_open_spans(root._end_ns) if len(record.spans) > 1 else ()
        spans = record.spans
        # break the span -> record -> span cycles so finished traces are freed by refcount, not the GC
        record.spans = []
        record.by_id = {}
        record.root = None
        deferred = record.deferred
        record.deferred = []
    if late:
        record._warn_ended_with_trace(late, "had %d spans started after its root span ended")
    trace = Trace(info, TraceData(spans))  # type: ignore[arg-type]
    trace._pending = deferred or None
    return trace


def _complete_now(trace: Trace) -> None:
    """Run a freshly built trace's deferred recorders, then set its status and token usage."""
    pending = trace._pending
    trace._pending = None
    if pending:
        with _complete_lock:
            for span in pending:
                run_deferred(span)
    _summarize(trace)


def trace_of(item: Trace | Finished) -> Trace | None:
    """The Trace of what ``_finish_trace`` handed on: a :data:`Finished` holder's trace is built and completed
    once, by whichever thread asks first (the exporter's, or a reader of the last trace), and kept in the
    holder; None if it could not be built (reported). A Trace is returned as it is."""
    if type(item) is not list:
        return item  # type: ignore[return-value]
    trace: Trace | None = item[1]
    if trace is not None:
        return trace
    with _complete_lock:
        record, trace = item
        if trace is None and record is not None:
            item[0] = None
            try:
                trace = _build_trace(record)
            except Exception as exc:
                report_internal_error("assembling a trace", exc)
                return None
            try:
                _complete_now(trace)
            finally:
                item[1] = trace
    return trace


def _complete_span(span: LiveSpan) -> None:
    """Run a span's deferred recorders now (a span_end hook is about to look at it)."""
    if span._deferred is not None:
        with _complete_lock:
            run_deferred(span)


def complete_trace(trace: Trace) -> Trace:
    """Make a finished trace whole: run the recorders its spans deferred (``LiveSpan.defer``), then set its
    status and token usage from them. Once per trace, from whichever thread reads it first; the exporter
    that declares ``completes_traces`` calls this before it reads the spans."""
    if trace._pending is None:
        return trace
    with _complete_lock:
        pending = trace._pending
        if pending is None:
            return trace
        try:
            for span in pending:
                run_deferred(span)
            _summarize(trace)
        finally:
            trace._pending = None  # last: a reader that sees None sees the spans complete
    return trace


def _summarize(trace: Trace) -> None:
    """The trace's status (its root span's) and token usage, from its finished spans."""
    spans: list[LiveSpan] = trace.data.spans  # type: ignore[assignment]
    root = spans[0]
    if root._status is not None and root._status.status_code is SpanStatusCode.ERROR:
        trace.info.status = TraceStatus.ERROR
    usage = _sum_token_usage(spans)
    if usage is not None:
        trace.info.request_metadata[TOKEN_USAGE_METADATA] = dumps(usage)


_USAGE_FIELDS = frozenset({"input_tokens", "output_tokens", "total_tokens", "cached_input_tokens"})


def _sum_token_usage(spans: list[LiveSpan]) -> dict[str, int] | None:
    """Token usage of a trace: the sum over spans reporting usage that have no usage-reporting ancestor
    (a framework span that reports the usage of the provider call under it is not counted twice)."""
    key = SpanAttributeKey.TOKEN_USAGE
    if len(spans) == 1:  # a trace of one model call (autolog outside a traced function): nothing to walk
        text = spans[0]._attrs.get(key)
        return None if text is None else _add_usage({}, text) or None
    reporting = {s._span_id: s for s in spans if key in s._attrs}
    if not reporting:
        return None
    by_id = {s._span_id: s for s in spans}
    total: dict[str, int] = {}
    for span in reporting.values():
        parent = by_id.get(span._parent_id) if span._parent_id is not None else None
        covered = False
        while parent is not None:
            if parent._span_id in reporting:
                covered = True
                break
            parent = by_id.get(parent._parent_id) if parent._parent_id is not None else None
        if not covered:
            _add_usage(total, span._attrs[key])
    return total or None


def _add_usage(total: dict[str, int], text: str) -> dict[str, int]:
    """Add one span's usage attribute (JSON text) to ``total``; fields that are not ints are skipped."""
    try:
        usage = loads(text)
    except Exception:
        return total
    if isinstance(usage, dict):
        for field, value in usage.items():
            if field in _USAGE_FIELDS and type(value) is int:  # not bool: a bool's type is bool
                total[field] = total.get(field, 0) + value
    return total


def _mask(trace: Trace, mask: Any) -> None:
    """Apply the user's masking function to inputs, outputs and user attributes of every span."""
    for span in trace.data.spans:
        attrs = span._attrs
        for key in list(attrs):
            if key in (SpanAttributeKey.REQUEST_ID, SpanAttributeKey.SPAN_TYPE):
                continue
            if key == SpanAttributeKey.INPUTS:
                field = "inputs"
            elif key == SpanAttributeKey.OUTPUTS:
                field = "outputs"
            else:
                field = f"attributes.{key}"
            try:
                attrs[key] = dumps(mask(loads(attrs[key]), field))
            except Exception as exc:
                # never export what the user asked to hide: drop the value instead
                attrs[key] = dumps("<masking failed>")
                report_internal_error("masking function", exc)


# -- reads -------------------------------------------------------------------------------------------------


def get_last_trace() -> Trace | None:
    """The trace that finished last in this process."""
    last = _last_trace
    trace = None if last is None else trace_of(last)
    return trace if trace is None or trace._pending is None else complete_trace(trace)


def get_finished_trace(request_id: str) -> Trace | None:
    """A finished trace from the exporter, when it can serve reads."""
    if not isinstance(request_id, str):
        from spanlog.exceptions import InvalidArgumentError

        raise InvalidArgumentError(f"a request_id is a string like 'tr-<32 hex digits>', got {request_id!r}")
    found = _export.get_exporter().get_trace(request_id)  # the store's copy carries later tag changes
    if found is None:
        last = _last_trace  # read once: reset() may clear it meanwhile
        last = None if last is None else trace_of(last)
        if last is not None and last.info.request_id == request_id:
            return complete_trace(last)
    return found


def update_trace(
    record: TraceRecord, tags: Mapping[str, Any] | None, metadata: Mapping[str, Any] | None
) -> None:
    """Merge tags and metadata (values as strings) into an open trace."""
    if tags:
        record.tags.update({str(k): v if isinstance(v, str) else dumps(v) for k, v in tags.items()})
    if metadata:
        record.metadata.update({str(k): v if isinstance(v, str) else dumps(v) for k, v in metadata.items()})


def reset() -> None:
    """Forget open traces and the last trace (tests use this)."""
    global _last_trace
    _active.clear()
    _last_trace = None
