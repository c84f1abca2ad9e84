"""Tracing switches and helpers: enable/disable, sampling, masking, context helpers, counters.

Importing this package is cheap; OpenTelemetry is loaded when the first span starts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from spanlog.tracing.context import ContextThreadPoolExecutor, wrap_context
from spanlog.tracing.state import STATE, reset_stats, stats

if TYPE_CHECKING:
    from spanlog.entities import Trace
    from spanlog.export import TraceExporter


def disable() -> None:
    """Stop recording: traced code runs as if undecorated, at the cost of one flag check per call."""
    STATE.enabled = False


def enable() -> None:
    """Record traces again after :func:`disable`."""
    STATE.enabled = True


def is_enabled() -> bool:
    """Whether traces are being recorded."""
    return STATE.enabled


def set_sampling_ratio(ratio: float) -> None:
    """Keep this fraction of traces (decided once per trace, at its root; 1.0 keeps all)."""
    from spanlog.exceptions import InvalidArgumentError

    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0.0 <= ratio <= 1.0:
        raise InvalidArgumentError(f"sampling ratio must be a number between 0 and 1, got {ratio!r}")
    STATE.sampling_ratio = float(ratio)


def set_masking_function(function: Callable[[Any, str], Any] | None) -> None:
    """Rewrite values before a trace is exported: ``function(value, field)`` is called for every span's
    inputs (field ``"inputs"``), outputs (``"outputs"``) and attributes (``"attributes.<key>"``) and returns
    the value to keep. If it raises, the value is replaced by ``"<masking failed>"``. None removes it.
    """
    if function is not None and not callable(function):
        from spanlog.exceptions import InvalidArgumentError

        raise InvalidArgumentError(f"masking function must be callable, got {function!r}")
    STATE.masking_function = function


def hide_inputs(hide: bool = True) -> None:
    """Record no inputs at all (also ``SPANLOG_HIDE_INPUTS=1``)."""
    STATE.hide_inputs = bool(hide)


def hide_outputs(hide: bool = True) -> None:
    """Record no outputs at all (also ``SPANLOG_HIDE_OUTPUTS=1``)."""
    STATE.hide_outputs = bool(hide)


def complete_trace(trace: Trace) -> Trace:
    """Run the recording that integrations deferred for this finished trace (``LiveSpan.defer``), once, and
    return it: an exporter declaring ``completes_traces = True`` calls this before reading the spans."""
    from spanlog.tracing.trace_manager import complete_trace as _complete

    return _complete(trace)


def set_exporter(exporter: TraceExporter | None) -> TraceExporter | None:
    """Send finished traces to ``exporter`` (see :mod:`spanlog.export`); returns the previous one."""
    from spanlog.export import set_exporter as _set

    return _set(exporter)


__all__ = [
    "ContextThreadPoolExecutor",
    "complete_trace",
    "disable",
    "enable",
    "hide_inputs",
    "hide_outputs",
    "is_enabled",
    "reset_stats",
    "set_exporter",
    "set_masking_function",
    "set_sampling_ratio",
    "stats",
    "wrap_context",
]
