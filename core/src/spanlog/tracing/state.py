"""Process-wide tracing switches (enabled, sampling, hiding, masking) and internal-error accounting.

Read on every span, so they are plain attributes of one object. Environment variables set the defaults:
``SPANLOG_TRACING_ENABLED``, ``SPANLOG_TRACE_SAMPLING_RATIO``, ``SPANLOG_HIDE_INPUTS``, ``SPANLOG_HIDE_OUTPUTS``,
``SPANLOG_TESTING``.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

_logger = logging.getLogger("spanlog.tracing")

_TRUE = {"1", "true", "yes", "on"}


def _env_flag(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    return default if value is None else value.strip().lower() in _TRUE


def _env_ratio(name: str) -> float:
    value = os.environ.get(name)
    if value is None:
        return 1.0
    try:
        ratio = float(value)
    except ValueError:
        _logger.warning("%s=%r is not a number between 0 and 1; sampling everything", name, value)
        return 1.0
    return min(1.0, max(0.0, ratio))


class TracingState:
    """The switches. ``enabled`` is checked first by every decorated call."""

    __slots__ = ("enabled", "hide_inputs", "hide_outputs", "masking_function", "sampling_ratio", "testing")

    def __init__(self) -> None:
        self.enabled: bool = _env_flag("SPANLOG_TRACING_ENABLED", True)
        self.sampling_ratio: float = _env_ratio("SPANLOG_TRACE_SAMPLING_RATIO")
        self.hide_inputs: bool = _env_flag("SPANLOG_HIDE_INPUTS")
        self.hide_outputs: bool = _env_flag("SPANLOG_HIDE_OUTPUTS")
        self.testing: bool = _env_flag("SPANLOG_TESTING")
        self.masking_function: Callable[[Any, str], Any] | None = None


STATE = TracingState()

_counts: Counter[str] = Counter()
_warned: set[str] = set()
_lock = threading.Lock()


def warn_once(kind: str, message: str, *args: Any) -> None:
    """Log ``message`` the first time ``kind`` happens; count every time."""
    with _lock:
        _counts[kind] += 1
        first = kind not in _warned
        _warned.add(kind)
    if first:
        _logger.warning(message + " (further occurrences are counted in spanlog.tracing.stats())", *args)


def report_internal_error(kind: str, exc: BaseException) -> None:
    """A failure inside spanlog: log it once per kind with its traceback, count it; raise under testing mode.

    The caller then carries on with the user's code as if tracing were off for that call.
    """
    with _lock:
        _counts[f"internal_error:{kind}"] += 1
        first = kind not in _warned
        _warned.add(kind)
    if first:
        _logger.warning(
            "spanlog: internal error in %s; the user's code goes on unaffected "
            "(further errors of this kind are counted in spanlog.tracing.stats())",
            kind,
            exc_info=exc,
        )
    if STATE.testing:
        raise exc


def count(kind: str, n: int = 1) -> None:
    """Add to a named counter shown by :func:`stats` (dropped traces, ...)."""
    with _lock:
        _counts[kind] += n


def stats() -> dict[str, int]:
    """Counters of things that went wrong inside spanlog or were dropped, by kind."""
    with _lock:
        return dict(_counts)


def reset_stats() -> None:
    """Clear the counters and the warn-once memory (tests use this)."""
    with _lock:
        _counts.clear()
        _warned.clear()
