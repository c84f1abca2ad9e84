"""Exporters: where finished traces go. One exporter is active at a time; ``set_exporter`` replaces it."""

from __future__ import annotations

import os
import threading

from spanlog.export.base import TraceExporter
from spanlog.export.memory import InMemoryTraceExporter

_lock = threading.Lock()
_exporter: TraceExporter | None = None


def _after_fork_in_child() -> None:
    global _lock
    _lock = threading.Lock()  # another thread may have held it (making the default exporter) at the fork


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def get_exporter() -> TraceExporter:
    """The active exporter: by default the store exporter writing to the tracking URI's store."""
    global _exporter
    if _exporter is None:
        with _lock:
            if _exporter is None:
                from spanlog.config import default_exporter  # the wiring layer above; imported on first use

                _exporter = default_exporter()
    return _exporter


def peek_exporter() -> TraceExporter | None:
    """The active exporter if one exists yet (never creates the default)."""
    return _exporter


def set_exporter(exporter: TraceExporter | None) -> TraceExporter | None:
    """Make ``exporter`` receive every trace that finishes from now on (None: back to the default).

    The previous exporter is flushed and shut down; it is returned.
    """
    global _exporter
    if exporter is not None and not isinstance(exporter, TraceExporter):
        from spanlog.exceptions import InvalidArgumentError

        raise InvalidArgumentError(f"set_exporter() needs a spanlog.export.TraceExporter, got {exporter!r}")
    with _lock:
        previous, _exporter = _exporter, exporter
    if previous is not None and previous is not exporter:
        previous.shutdown()
    return previous


__all__ = ["InMemoryTraceExporter", "TraceExporter", "get_exporter", "peek_exporter", "set_exporter"]
