"""The store exporter: finished traces go to a bounded in-memory queue that a background thread writes to the
store in batches. When the store is unreachable or locked, batches stay queued and are retried with backoff;
only beyond the spool limit are traces dropped, and then they are counted and reported. Traces still unwritten
at interpreter exit are saved as JSON lines in the spool directory and written by the next process that
reaches the store.
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
import threading
import time
import uuid
import weakref
from collections import deque
from pathlib import Path
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
    Recording that integrations deferred runs here too, on the writer's thread, before each trace is written.
    """

    completes_traces = True

    def __init__(
        self,
        store: Any,
        *,
        asynchronous: bool = True,
        batch_size: int = 1000,
        linger_s: float = 0.02,
        spool_limit: int | None = None,
        spool_dir: str | Path | None = None,
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
        self._idle = False  # True while the writer waits for a trace: the next one must wake it
        self.spool_dir = Path(
            spool_dir or os.environ.get("SPANLOG_SPOOL_DIR") or Path.cwd() / ".spanlog" / "spool"
        )
        self._replayed = False
        self.written = 0
        self.dropped = 0
        self.retries = 0
        # finished traces come unbuilt (trace_manager.Finished) unless a subclass has its own export
        self._takes_records = type(self).export is StoreExporter.export
        self._exit_in_children = False
        atexit.register(self._at_exit)
        _exporters.add(self)
        _exit_with_multiprocessing_child(self)  # made inside a forked multiprocessing child, say

    # -- producer side ------------------------------------------------------------------------------------
    def export(self, trace: Trace) -> None:
        """Queue the trace (or write it now when synchronous)."""
        if not self.asynchronous:
            with self._cond:
                backlog = bool(self._queue)
            if not backlog:
                batch = [trace]
                if self._write(batch) or not batch:
                    return
                trace = batch[0]  # assembled by _write: queued for a retry as the Trace
        queue = self._queue
        if len(queue) >= self.spool_limit:
            with self._cond:
                self._drop(1)
            return
        # no lock: deque.append is atomic. The trace that finds the writer idle wakes it, and the writer
        # then lingers for the rest of the batch: a trace reaches the store within about ``linger_s``
        # without a flush, at one wake-up per batch. (The writer says it is idle before it looks at the
        # queue a last time, and a trace is queued before its exporter looks at that: one of them sees
        # the other.)
        queue.append(trace)
        if self._idle or self._thread is None or len(queue) >= self.batch_size:
            self._wake()

    def _wake(self) -> None:
        """Start the writer, or wake it from waiting for traces or from lingering over a batch."""
        with self._cond:
            if self._thread is None:
                self._start()
            # woken: until the writer gets to run (it may wait for the GIL a while), later traces need not
            # wake it again
            self._idle = False
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
                if not self._queue and not self._closed:
                    self._idle = True  # before every look at the queue that may lead to waiting (see export)
                    while not self._queue and not self._closed:
                        self._cond.wait()
                        self._idle = True  # again: a wake-up that found nothing queued may have cleared it
                    self._idle = False
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
        """Write a batch (traces queued as records are assembled first, in place); True when written."""
        from spanlog.entities.trace import Trace
        from spanlog.tracing.trace_manager import trace_of

        for index, trace in enumerate(batch):
            try:
                if type(trace) is not Trace:  # a finished trace queued unbuilt: built here, or by a reader
                    trace = batch[index] = trace_of(trace)  # type: ignore[assignment]
                if trace is not None and trace._pending is not None:
                    trace._whole()
            except Exception:  # raised under testing mode only, already reported: write what there is
                pass
        batch[:] = [trace for trace in batch if trace is not None]
        try:
            self.store.log_traces(batch)
        except Exception as exc:
            if self._failing_since is None:
                self._failing_since = time.monotonic()
                _logger.warning(
                    "spanlog: writing traces to the store failed (%s); they are kept and retried", exc
                )
            return False
        if not self._replayed:
            self._replayed = True
            self._replay_spool()
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

    def flush(self, timeout_s: float | None = None, failing_grace_s: float | None = None) -> bool:
        """Wait until every trace exported so far is written; False if ``timeout_s`` passed first, or (with
        ``failing_grace_s``) once the store has been failing for that long."""
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
                failing = self._failing_since
                if (
                    failing_grace_s is not None
                    and failing is not None
                    and time.monotonic() - failing > failing_grace_s
                ):
                    return False
                self._cond.wait(0.05 if remaining is None else min(remaining, 0.05))
                self._cond.notify_all()
        return True

    def shutdown(self) -> None:
        """Flush (up to ``SPANLOG_EXIT_FLUSH_TIMEOUT`` seconds, default 30) and stop the writer."""
        # a failing store gets a short grace period: its traces go to the disk spool instead
        self.flush(timeout_s=float(_env_int("SPANLOG_EXIT_FLUSH_TIMEOUT", 30)), failing_grace_s=1.0)
        with self._cond:
            self._closed = True
            left = len(self._queue)
            self._cond.notify_all()
        if left:
            self._spool_to_disk(list(self._queue))
            self._queue.clear()

    def _spool_to_disk(self, traces: list[Trace]) -> None:
        """Save traces the store could not take before exit; the next process writes them."""
        from spanlog.tracing.trace_manager import trace_of

        try:
            traces = [whole for whole in map(trace_of, traces) if whole is not None]
            self.spool_dir.mkdir(parents=True, exist_ok=True)
            path = self.spool_dir / f"spool-{os.getpid()}-{uuid.uuid4().hex[:8]}.jsonl"
            tmp = path.with_suffix(".tmp")
            with open(tmp, "w", encoding="utf-8") as out:
                for trace in traces:
                    out.write(trace.to_json() + "\n")
            tmp.rename(path)
            _logger.warning(
                "spanlog: the trace store is unreachable; %d traces were saved to %s and will be written by the "
                "next spanlog process that reaches the store",
                len(traces),
                path,
            )
        except Exception as exc:
            from spanlog.tracing.state import count

            count("dropped_traces", len(traces))
            _logger.warning("spanlog: %d traces were lost at shutdown: %s", len(traces), exc)

    def _replay_spool(self) -> None:
        """Write traces an earlier process saved to the spool directory (each file claimed by one process)."""
        if not self.spool_dir.is_dir():
            return
        from spanlog.entities import Trace as _Trace

        for path in sorted(self.spool_dir.glob("spool-*.jsonl")):
            claimed = path.with_suffix(f".claimed-{os.getpid()}")
            try:
                path.rename(claimed)
            except OSError:
                continue  # another process took it
            try:
                with open(claimed, encoding="utf-8") as lines:
                    traces = [_Trace.from_json(line) for line in lines if line.strip()]
                for start in range(0, len(traces), self.batch_size):
                    self.store.log_traces(traces[start : start + self.batch_size])
                claimed.unlink()
                _logger.info("spanlog: wrote %d spooled traces from %s", len(traces), path)
            except Exception as exc:
                claimed.rename(path)  # leave it for a later attempt
                _logger.warning("spanlog: could not write spooled traces from %s yet: %s", path, exc)
                return

    def _at_exit(self) -> None:
        if not self._closed:
            self.shutdown()

    # -- processes made by fork ---------------------------------------------------------------------------
    def _forked(self) -> None:
        """In the child of a fork: the parent's writer thread did not come along, its lock may have been
        held at that instant, and what it had queued is the parent's to write. Start afresh: a new lock, an
        empty queue, and a writer of the child's own on its first trace."""
        self._cond = threading.Condition()
        self._queue = deque()
        self._in_flight = 0
        self._thread = None
        self._idle = False
        self._failing_since = None

    def _before_fork(self) -> None:
        """Just before a fork: a ``multiprocessing`` child leaves with ``os._exit``, which skips ``atexit``;
        ask multiprocessing to end this exporter (flushing it) when such a child exits normally."""
        util = sys.modules.get("multiprocessing.util")
        if util is None or self._exit_in_children:
            return
        self._exit_in_children = True
        util.register_after_fork(self, _exit_with_multiprocessing_child)


_exporters: weakref.WeakSet[StoreExporter] = weakref.WeakSet()


def _exit_with_multiprocessing_child(exporter: StoreExporter) -> None:
    """Have multiprocessing end ``exporter`` when this process, if it is one of its forked children, exits
    normally: such a child leaves with ``os._exit``, which skips ``atexit``. (In any other process this
    runs at exit next to ``atexit``; the second call finds the exporter closed.)"""
    util = sys.modules.get("multiprocessing.util")
    if util is not None:
        util.Finalize(exporter, exporter._at_exit, exitpriority=10)


def _before_fork() -> None:
    for exporter in list(_exporters):
        try:
            exporter._before_fork()
        except Exception:  # never stand in the way of the fork
            _logger.debug("spanlog: preparing an exporter for fork failed", exc_info=True)


def _after_fork_in_child() -> None:
    for exporter in list(_exporters):
        exporter._forked()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)
