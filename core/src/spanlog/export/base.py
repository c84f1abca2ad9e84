"""The exporter interface: where finished traces go (memory, the store, OTLP)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from spanlog.entities import Trace


class TraceExporter(ABC):
    """Receives every finished trace. ``export`` runs on the thread that ended the trace: keep it cheap
    (queue the work) and never raise; spanlog catches, logs once and counts anything that escapes.
    """

    completes_traces = False
    """True for an exporter that calls ``spanlog.tracing.complete_trace(trace)`` before it reads a trace's
    spans (on its own thread, say): spanlog then leaves the recording that integrations deferred
    (``LiveSpan.defer``) to it instead of doing it on the user's thread. Otherwise traces arrive complete."""

    _takes_records = False
    """True for spanlog's own exporters that take a finished trace before its Trace is built (a
    ``trace_manager.Finished`` holder) and build it on their thread (``trace_manager.trace_of``): the user's
    thread only queues it."""

    @abstractmethod
    def export(self, trace: Trace) -> None:
        """Take one finished trace."""

    def get_trace(self, request_id: str) -> Trace | None:
        """The exported trace with this id, if this exporter can serve reads; None otherwise."""
        return None

    def flush(self, timeout_s: float | None = None) -> bool:
        """Deliver everything queued so far; True when nothing is left pending."""
        return True

    def shutdown(self) -> None:
        """Flush and release resources; called at interpreter exit and when the exporter is replaced."""
        self.flush()
