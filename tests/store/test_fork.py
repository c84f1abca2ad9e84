"""Processes made by fork (multiprocessing's default start method on Linux, pre-forking servers): the child
writes its own traces, through a writer thread and connections of its own, even when the parent's writer was
running, or holding its lock, at the instant of the fork; the parent goes on as before."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from spanlog.store.sqlalchemy_store import SqlAlchemyStore

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX only")

PRELUDE = """
import multiprocessing, os, signal, sys, threading, time
import spanlog
import spanlog.export
from spanlog.export import get_exporter
from spanlog.tracing import trace_manager

spanlog.set_experiment("forked")


def traced(name, n=3):
    for k in range(n):
        with spanlog.start_span(f"{name}-{k}"):
            pass


def wait_child(pid, timeout_s=30.0):
    # the exit status of a forked child; killed (and reported) if it hangs
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.02)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return "hung"
"""


def _run(tmp_path: Path, body: str) -> list[str]:
    """Run PRELUDE + body in a fresh interpreter on a store in tmp_path; the root span names it stored."""
    uri = f"sqlite:///{tmp_path / 'forked.db'}"
    env = {**os.environ, "SPANLOG_TRACKING_URI": uri}
    code = PRELUDE + textwrap.dedent(body)
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stdout + done.stderr
    store = SqlAlchemyStore(uri)
    try:
        experiment = store.get_or_create_experiment("forked")
        page = store.search_traces([experiment.experiment_id], max_results=500)
        return sorted(trace.data.spans[0].name for trace in page.traces)
    finally:
        store.close()


def test_multiprocessing_children_write_their_traces(tmp_path: Path) -> None:
    """Pool workers forked from a parent whose writer is running: a worker's flush succeeds, and what a
    worker leaves unflushed is written when it exits normally (multiprocessing skips atexit)."""
    names = _run(
        tmp_path,
        """
        def flushed(i):
            traced(f"flushed{i}")
            return spanlog.flush_trace_async_logging(timeout_s=20)

        def unflushed(i):
            traced(f"unflushed{i}")

        traced("parent-before")
        assert spanlog.flush_trace_async_logging(timeout_s=20)
        context = multiprocessing.get_context("fork")
        with context.Pool(2) as pool:
            assert pool.map(flushed, range(2)) == [True, True]
        pool = context.Pool(2)
        pool.map(unflushed, range(2))
        pool.close()
        pool.join()
        process = context.Process(target=unflushed, args=(9,))
        process.start()
        process.join(30)
        assert process.exitcode == 0
        traced("parent-after")
        assert spanlog.flush_trace_async_logging(timeout_s=20)
        """,
    )
    expected = [f"{who}-{k}" for who in ("parent-before", "parent-after") for k in range(3)]
    expected += [f"{kind}{i}-{k}" for kind in ("flushed", "unflushed") for i in range(2) for k in range(3)]
    expected += [f"unflushed9-{k}" for k in range(3)]
    assert names == sorted(expected)


def test_workers_of_a_parent_that_never_traced_write_their_traces(tmp_path: Path) -> None:
    """The exporter is made inside the forked worker (the parent had none): its traces are written when the
    worker exits normally, without a flush of its own."""
    names = _run(
        tmp_path,
        """
        def unflushed(i):
            traced(f"worker{i}")

        assert trace_manager._last_trace is None and spanlog.export.peek_exporter() is None
        pool = multiprocessing.get_context("fork").Pool(2)
        pool.map(unflushed, range(2))
        pool.close()
        pool.join()
        """,
    )
    assert names == sorted(f"worker{i}-{k}" for i in range(2) for k in range(3))


def test_an_os_fork_child_writes_its_traces_at_exit(tmp_path: Path) -> None:
    """A child made by os.fork (a pre-forking server's worker) that exits normally writes its traces, and
    none of the parent's is written twice."""
    names = _run(
        tmp_path,
        """
        traced("parent-before")
        pid = os.fork()
        if pid == 0:
            traced("child")
            sys.exit(0)  # atexit flushes
        assert wait_child(pid) == 0
        traced("parent-after")
        assert spanlog.flush_trace_async_logging(timeout_s=20)
        """,
    )
    assert names == sorted(
        f"{who}-{k}" for who in ("parent-before", "child", "parent-after") for k in range(3)
    )


def test_a_fork_while_spanlog_holds_its_locks_does_not_hang_the_child(tmp_path: Path) -> None:
    """Another thread holds the writer's lock, the trace completion lock and the exporter lock at the instant
    of the fork: the child (where that thread does not exist) traces, reads and flushes all the same."""
    names = _run(
        tmp_path,
        """
        traced("parent-before")
        exporter = get_exporter()
        import spanlog.export as export_module
        held, release = threading.Event(), threading.Event()

        def hold():
            with exporter._cond, trace_manager._complete_lock, export_module._lock:
                held.set()
                release.wait()

        holder = threading.Thread(target=hold)
        holder.start()
        held.wait()
        pid = os.fork()
        if pid == 0:
            traced("child")
            last = spanlog.get_last_active_trace()
            ok = last is not None and last.data.spans[0].name == "child-2"
            ok = spanlog.flush_trace_async_logging(timeout_s=20) and ok
            os._exit(0 if ok else 1)
        status = wait_child(pid)
        release.set()
        holder.join()
        assert status == 0, status
        assert spanlog.flush_trace_async_logging(timeout_s=20)
        """,
    )
    assert names == sorted(f"{who}-{k}" for who in ("parent-before", "child") for k in range(3))
