"""Reliability of export: a store that fails and recovers loses nothing, a full spool drops and counts, many
processes can write to one SQLite file, and migrations upgrade or refuse clearly."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, event, text

import spanlog
from spanlog.export.store_exporter import StoreExporter
from spanlog.store.migrations import HEAD, current_revision, upgrade
from spanlog.store.sqlalchemy_store import SqlAlchemyStore, _make_engine
from spanlog.tracing import state


class FlakyStore:
    """Wraps a real store; fails while ``down`` is set, like a database that is restarting."""

    def __init__(self, store: SqlAlchemyStore) -> None:
        self.store = store
        self.down = threading.Event()
        self.failures = 0

    def log_traces(self, traces):
        if self.down.is_set():
            self.failures += 1
            raise spanlog.exceptions.StoreError("database is restarting")
        self.store.log_traces(traces)

    def get_trace(self, request_id):
        return self.store.get_trace(request_id)


def test_store_that_fails_and_recovers_loses_no_trace(
    store_uri: str, caplog: pytest.LogCaptureFixture
) -> None:
    real = SqlAlchemyStore(store_uri)
    flaky = FlakyStore(real)
    exporter = StoreExporter(flaky, linger_s=0.001)
    spanlog.tracing.set_exporter(exporter)

    @spanlog.trace
    def step(i):
        return i

    for i in range(100):
        step(i)
    assert exporter.flush(10)
    flaky.down.set()
    for i in range(100, 400):
        step(i)
    assert exporter.flush(0.3) is False  # the store is down: traces wait
    assert exporter.pending() == 300 and flaky.failures >= 1
    flaky.down.clear()
    assert exporter.flush(30)
    assert real.count_traces(["0"]) == 400
    assert exporter.dropped == 0 and "reachable again" in caplog.text
    spanlog.tracing.set_exporter(None)
    real.close()


def test_each_trace_reaches_the_store_without_a_flush(tmp_path: Path) -> None:
    # a quiet application: one trace now and then must be written within the linger time, not wait for a
    # full batch, a flush or the interpreter's exit
    real = SqlAlchemyStore(f"sqlite:///{tmp_path / 'quiet.db'}")
    exporter = StoreExporter(real, linger_s=0.01)
    spanlog.tracing.set_exporter(exporter)
    try:
        for i in range(3):
            with spanlog.start_span(f"request-{i}"):
                pass
            deadline = time.monotonic() + 10
            while real.count_traces(["0"]) < i + 1 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert real.count_traces(["0"]) == i + 1, f"trace {i} still queued: {exporter.pending()}"
    finally:
        spanlog.tracing.set_exporter(None)
        real.close()


def test_traces_from_many_threads_reach_the_store_without_a_flush(tmp_path: Path) -> None:
    # the exporter queues without a lock and wakes the writer only when it is idle: threads ending traces
    # in bursts, while the writer keeps going idle and waking, must never leave one stranded in the queue
    real = SqlAlchemyStore(f"sqlite:///{tmp_path / 'bursts.db'}")
    exporter = StoreExporter(real, linger_s=0.001)
    spanlog.tracing.set_exporter(exporter)
    per_thread, threads = 150, 6

    def burst(n: int) -> None:
        for i in range(per_thread):
            with spanlog.start_span(f"t{n}-{i}"):
                pass
            if i % (n + 3) == 0:
                time.sleep(0.002 * (i % 4))  # let the writer drain and go idle now and then

    try:
        workers = [threading.Thread(target=burst, args=(n,)) for n in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        deadline = time.monotonic() + 20
        while exporter.written < per_thread * threads and time.monotonic() < deadline:
            time.sleep(0.01)
        assert exporter.written == per_thread * threads, f"{exporter.pending()} traces left in the queue"
        assert real.count_traces(["0"]) == per_thread * threads
    finally:
        spanlog.tracing.set_exporter(None)
        real.close()


def test_a_late_wake_up_does_not_leave_the_writer_deaf(tmp_path: Path) -> None:
    # a thread that saw the writer idle, then was held up before waking it, wakes it only after the writer
    # has written its trace (by a flush) and gone idle again: the writer must still hear the next trace
    real = SqlAlchemyStore(f"sqlite:///{tmp_path / 'late.db'}")
    gate, waiting = threading.Event(), threading.Event()

    class HeldUp(StoreExporter):
        def _wake(self) -> None:
            if threading.current_thread().name == "held-up":
                waiting.set()
                gate.wait(10)
            super()._wake()

    exporter = HeldUp(real, linger_s=0.001)
    spanlog.tracing.set_exporter(exporter)
    try:
        with spanlog.start_span("first"):
            pass
        assert exporter.flush(10)
        time.sleep(0.1)  # the writer is idle

        def held_up() -> None:
            with spanlog.start_span("second"):
                pass

        thread = threading.Thread(target=held_up, name="held-up")
        thread.start()
        assert waiting.wait(10)
        assert exporter.flush(10)  # the writer writes "second" and goes idle again
        time.sleep(0.1)
        gate.set()  # the held-up wake-up arrives now, finding nothing queued
        thread.join()
        time.sleep(0.1)
        with spanlog.start_span("third"):
            pass
        deadline = time.monotonic() + 5
        while exporter.written < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert exporter.written == 3, f"{exporter.pending()} traces left in the queue"
    finally:
        gate.set()
        spanlog.tracing.set_exporter(None)
        real.close()


def test_an_experiment_of_a_failed_batch_is_checked_again(
    tmp_path: Path, traces: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the store remembers which experiments exist, so a batch of a known experiment skips the lookup; a
    # batch whose transaction failed must not leave its stand-in experiment remembered
    for name in ("first", "second"):
        with spanlog.start_span(name):
            pass
    first, second = traces.get_traces()
    store = SqlAlchemyStore(f"sqlite:///{tmp_path / 'experiments.db'}")
    store.log_traces([first])
    second.info.experiment_id = "4242"  # an experiment this store has never seen
    real_sql = store._insert_sql
    monkeypatch.setattr(
        store,
        "_insert_sql",
        lambda table: "INSERT INTO no_such_table VALUES (?)" if table.name == "spans" else real_sql(table),
    )
    with pytest.raises(spanlog.exceptions.StoreError):
        store.log_traces([second])
    monkeypatch.setattr(store, "_insert_sql", real_sql)
    store.log_traces([second])
    assert store.get_trace(second.info.request_id).info.experiment_id == "4242"
    assert store.count_traces(["4242"]) == 1 and store.count_traces(["0"]) == 1
    store.close()


def test_spool_limit_drops_and_counts(store_uri: str) -> None:
    real = SqlAlchemyStore(store_uri)
    flaky = FlakyStore(real)
    flaky.down.set()
    exporter = StoreExporter(flaky, spool_limit=50, linger_s=0.001)
    spanlog.tracing.set_exporter(exporter)
    state.STATE.testing = False
    try:
        for _ in range(80):
            with spanlog.start_span("s"):
                pass
    finally:
        state.STATE.testing = True
    assert exporter.dropped == 30
    assert spanlog.tracing.stats()["dropped_traces"] == 30
    flaky.down.clear()
    assert exporter.flush(30)
    assert real.count_traces(["0"]) == 50
    spanlog.tracing.set_exporter(None)
    real.close()


def test_traces_left_at_shutdown_are_spooled_to_disk_and_written_later(
    store_uri: str, tmp_path: Path
) -> None:
    real = SqlAlchemyStore(store_uri)
    flaky = FlakyStore(real)
    flaky.down.set()
    spool = tmp_path / "spool"
    first = StoreExporter(flaky, spool_dir=spool, linger_s=0.001)
    spanlog.tracing.set_exporter(first)
    for i in range(10):
        with spanlog.start_span(f"before-restart-{i}"):
            pass
    spanlog.tracing.set_exporter(None)  # shuts the exporter down, as at interpreter exit
    (saved,) = spool.glob("spool-*.jsonl")
    assert len(saved.read_text().splitlines()) == 10
    assert real.count_traces(["0"]) == 0
    # the next process reaches the store: it writes its own trace and the spooled ones
    second = StoreExporter(real, spool_dir=spool, linger_s=0.001)
    spanlog.tracing.set_exporter(second)
    with spanlog.start_span("after-restart"):
        pass
    assert second.flush(30)
    assert real.count_traces(["0"]) == 11
    assert list(spool.iterdir()) == []
    spanlog.tracing.set_exporter(None)
    real.close()


def test_eight_processes_write_one_sqlite_file(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'shared.db'}"
    code = textwrap.dedent(
        """
        import sys, spanlog
        spanlog.set_experiment("parallel")

        @spanlog.trace
        def child(i):
            return i

        for i in range(200):
            with spanlog.start_span(f"p{sys.argv[1]}") as span:
                for j in range(4):
                    child(j)
        assert spanlog.flush_trace_async_logging(60)
        """
    )
    env = {**os.environ, "SPANLOG_TRACKING_URI": uri}
    procs = [subprocess.Popen([sys.executable, "-c", code, str(n)], env=env) for n in range(8)]
    assert [p.wait(timeout=240) for p in procs] == [0] * 8
    store = SqlAlchemyStore(uri)
    experiment = store.get_or_create_experiment("parallel")
    assert store.count_traces([experiment.experiment_id]) == 1600
    page = store.search_traces([experiment.experiment_id], max_results=50)
    assert all(len(t.data.spans) == 5 for t in page.traces)
    assert len(store.list_experiments()) == 2  # Default and one "parallel", however many processes raced
    store.close()


def test_a_store_opened_while_another_migrates_waits_for_it(store_uri: str) -> None:
    # one migration pauses halfway through the schema (two tables made, the rest not); a store opened then,
    # as another process would, must wait for it instead of seeing half a schema and giving up
    first = _make_engine(store_uri)
    halfway, release = threading.Event(), threading.Event()
    created = []

    @event.listens_for(first, "after_cursor_execute")
    def pause(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("CREATE TABLE"):
            created.append(statement)
            if len(created) == 2:
                halfway.set()
                release.wait(30)

    failures: list[BaseException] = []

    def migrate() -> None:
        try:
            upgrade(first)
        except BaseException as exc:
            failures.append(exc)

    migrating = threading.Thread(target=migrate)
    migrating.start()
    try:
        assert halfway.wait(30)
        threading.Timer(0.5, release.set).start()
        second = SqlAlchemyStore(store_uri)  # waits for the first migration, then finds the schema made
    finally:
        release.set()
        migrating.join(30)
    assert failures == []
    assert current_revision(second.engine) == HEAD
    assert [e.name for e in second.list_experiments()] == ["Default"]
    second.close()
    first.dispose()


def test_a_migration_that_keeps_failing_gives_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy.exc import OperationalError

    import spanlog.store.migrations as migrations

    attempts = []

    def failing(conn: Any, revision: Any) -> None:
        attempts.append(revision)
        raise OperationalError("CREATE TABLE experiments", {}, Exception("disk I/O error"))

    monkeypatch.setattr(migrations, "_run_alembic", failing)
    with pytest.raises(spanlog.exceptions.StoreError, match=r"could not migrate .* disk I/O error"):
        SqlAlchemyStore(f"sqlite:///{tmp_path / 'failing.db'}")
    assert attempts == [None] * migrations._ATTEMPTS  # tried a few times, each from an empty database


def test_store_refuses_a_newer_schema(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'new.db'}"
    SqlAlchemyStore(uri).close()
    engine = create_engine(uri)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()
    with pytest.raises(spanlog.exceptions.StoreError, match="newer than this spanlog"):
        SqlAlchemyStore(uri)


def test_reopening_a_store_keeps_data_and_schema(store_uri: str) -> None:
    first = SqlAlchemyStore(store_uri)
    exp = first.get_or_create_experiment("kept")
    first.close()
    second = SqlAlchemyStore(store_uri)
    assert second.get_experiment(exp.experiment_id).name == "kept"
    assert second.get_experiment("0").name == "Default"
    second.close()


def test_unreachable_store_gives_a_clear_error() -> None:
    with pytest.raises(spanlog.exceptions.StoreError, match="cannot open the trace store"):
        SqlAlchemyStore("postgresql+psycopg://nobody:secret@127.0.0.1:1/none")
