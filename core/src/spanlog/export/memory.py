"""An exporter that keeps the most recent traces in memory: the default destination until a store is set,
and what tests read traces from."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import TYPE_CHECKING

from spanlog.export.base import TraceExporter

if TYPE_CHECKING:
    from spanlog.entities import Trace


class InMemoryTraceExporter(TraceExporter):
    """Keeps up to ``max_traces`` traces (the oldest are evicted first), in the order they finished.

    Traces are completed (deferred recording run) when they are read, not when they are kept."""

    completes_traces = True

    def __init__(self, max_traces: int | None = 1000) -> None:
        if max_traces is not None and max_traces < 1:
            raise ValueError(f"max_traces must be a positive integer or None, got {max_traces!r}")
        self.max_traces = max_traces
        self._traces: OrderedDict[str, Trace] = OrderedDict()
        self._lock = threading.Lock()
        self.evicted = 0

    def export(self, trace: Trace) -> None:
        """Keep ``trace``, evicting the oldest one when full."""
        with self._lock:
            self._traces[trace.info.request_id] = trace
            if self.max_traces is not None and len(self._traces) > self.max_traces:
                self._traces.popitem(last=False)
                self.evicted += 1

    def get_trace(self, request_id: str) -> Trace | None:
        """The kept trace with this id, or None."""
        with self._lock:
            trace = self._traces.get(request_id)
        if trace is not None:
            trace._whole()
        return trace

    def get_traces(self) -> list[Trace]:
        """All kept traces, oldest first."""
        with self._lock:
            traces = list(self._traces.values())
        for trace in traces:
            trace._whole()
        return traces

    def clear(self) -> None:
        """Forget every kept trace."""
        with self._lock:
            self._traces.clear()

    def __len__(self) -> int:
        return len(self._traces)
