"""The store exporter: finished traces go to a bounded in-memory queue that a background thread writes to the
store in batches. When the store is unreachable or locked, batches stay queued (the spool) and are retried with
backoff; only beyond the spool limit are traces dropped, and then they are counted and reported.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from spanlog.export.base import TraceExporter

if TYPE_CHECKING:
    from spanlog.entities import Trace

_logger = logging.getLogger("spanlog.export")


def _env_int(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        _logger.warning("%s=%r is not an integer; using %d", name, os.environ.get(name), default)
        return default


class StoreExporter(TraceExporter):
    """Writes traces to a store (anything with ``log_traces(list)``), in the background by default.

    ``asynchronous=False`` writes on the caller's thread (failures still go to the spool and are retried).
    ``spool_limit`` (``SPANLOG_SPOOL_MAX_TRACES``) bounds how many traces may wait while the store is down.
    """

    def __init__(
        self,
        store: Any,
        *,
        asynchronous: bool = True,
        batch_size: int = 1000,
        linger_s: float = 0.02,
        spool_limit: int | None = None,
    ) -> None:
        self.store = store
        self.asynchronous = asynchronous
        self.batch_size = batch_size
        self.linger_s = linger_s
        self.spool_limit = (
            spool_limit if spool_limit is not None else _env_int("SPANLOG_SPOOL_MAX_TRACES", 100_000)
        )
        self._queue: deque[Trace] = deque()
        self._cond = threading.Condition()
        self._in_flight = 0
        self._closed = False
        self._failing_since: float | None = None
        self._thread: threading.Thread | None = None
        self.written = 0
        self.dropped = 0
        self.retries = 0
        atexit.register(self._at_exit)

    # -- producer side ------------------------------------------------------------------------------------
    def export(self, trace: Trace) -> None:
        """Queue the trace (or write it now when synchronous)."""
        if not self.asynchronous:
            with self._cond:
                backlog = bool(self._queue)
            if not backlog and self._write([trace]):
                return
        with self._cond:
            if len(self._queue) >= self.spool_limit:
                self._drop(1)
                return
            self._queue.append(trace)
            if self._thread is None:
                self._start()
            if len(self._queue) >= self.batch_size:
                self._cond.notify_all()

    def _drop(self, n: int) -> None:
        from spanlog.tracing.state import count, warn_once

        self.dropped += n
        count("dropped_traces", n)
        warn_once(
            "spool-full",
            "spanlog: the trace store has been unreachable and %d traces are waiting (SPANLOG_SPOOL_MAX_TRACES); "
            "new traces are dropped until it recovers",
            self.spool_limit,
        )

    def _start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="spanlog-store-exporter", daemon=True)
        self._thread.start()

    # -- consumer side ------------------------------------------------------------------------------------
    def _run(self) -> None:
        backoff = 0.1
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if not self._queue and self._closed:
                    return
                if len(self._queue) < self.batch_size and not self._closed:
                    self._cond.wait(self.linger_s)  # let a batch build up
                batch = [self._queue.popleft() for _ in range(min(self.batch_size, len(self._queue)))]
                self._in_flight = len(batch)
            ok = self._write(batch)
            with self._cond:
                self._in_flight = 0
                if not ok:
                    self._queue.extendleft(reversed(batch))
                self._cond.notify_all()
            if ok:
                backoff = 0.1
            else:
                self.retries += 1
                with self._cond:
                    if self._closed:
                        return
                    self._cond.wait(backoff)
                backoff = min(backoff * 2, 5.0)

    def _write(self, batch: list[Trace]) -> bool:
        try:
            self.store.log_traces(batch)
        except Exception as exc:
            if self._failing_since is None:
                self._failing_since = time.monotonic()
                _logger.warning(
                    "spanlog: writing traces to the store failed (%s); they are kept and retried", exc
                )
            return False
        if self._failing_since is not None:
            _logger.warning(
                "spanlog: the trace store is reachable again after %.1f s; queued traces are being written",
                time.monotonic() - self._failing_since,
            )
            self._failing_since = None
        self.written += len(batch)
        return True

    # -- control ------------------------------------------------------------------------------------------
    def get_trace(self, request_id: str) -> Trace | None:
        """Read from the store, after writing what is queued (read-your-writes)."""
        self.flush()
        return self.store.get_trace(request_id)

    def pending(self) -> int:
        """Traces not yet written (queued or in flight)."""
        with self._cond:
            return len(self._queue) + self._in_flight

    def flush(self, timeout_s: float | None = None) -> bool:
        """Wait until every trace exported so far is written; False if ``timeout_s`` passed first."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        with self._cond:
            if not self._queue and not self._in_flight:
                return True
            if self._thread is None:
                self._start()
            self._cond.notify_all()
            while self._queue or self._in_flight:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._cond.wait(0.05 if remaining is None else min(remaining, 0.05))
                self._cond.notify_all()
        return True

    def shutdown(self) -> None:
        """Flush (up to ``SPANLOG_EXIT_FLUSH_TIMEOUT`` seconds, default 30) and stop the writer."""
        self.flush(timeout_s=float(_env_int("SPANLOG_EXIT_FLUSH_TIMEOUT", 30)))
        with self._cond:
            self._closed = True
            left = len(self._queue)
            self._cond.notify_all()
        if left:
            from spanlog.tracing.state import count

            count("dropped_traces", left)
            _logger.warning("spanlog: %d traces could not be written to the store before shutdown", left)
            self._queue.clear()

    def _at_exit(self) -> None:
        if not self._closed:
            self.shutdown()
