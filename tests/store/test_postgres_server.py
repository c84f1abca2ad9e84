"""The store fixtures work: each ``store_uri`` is a usable, empty, private database."""

from __future__ import annotations

import threading
import uuid

import pytest
import sqlalchemy as sa
from postgres_server import PostgresServer

_seen: dict[str, str] = {}


def _roundtrip(uri: str, value: str) -> list[tuple[int, str]]:
    engine = sa.create_engine(uri)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE items (id INTEGER PRIMARY KEY, name VARCHAR(100) NOT NULL)")
            conn.execute(sa.text("INSERT INTO items (id, name) VALUES (1, :name)"), {"name": value})
        with engine.connect() as conn:
            return [tuple(row) for row in conn.exec_driver_sql("SELECT id, name FROM items")]
    finally:
        engine.dispose()


def test_store_uri_is_usable(store_uri: str) -> None:
    backend = sa.make_url(store_uri).get_backend_name()
    assert backend in {"sqlite", "postgresql"}
    assert _roundtrip(store_uri, "héllo ✓") == [(1, "héllo ✓")]


@pytest.mark.parametrize("run", ["first", "second"])
def test_store_uri_isolated_between_tests(store_uri: str, run: str) -> None:
    # Both runs create the same table: that only works when neither sees the other's database.
    backend = sa.make_url(store_uri).get_backend_name()
    previous = _seen.get(backend)
    assert previous != store_uri
    _seen[backend] = store_uri
    engine = sa.create_engine(store_uri)
    try:
        assert sa.inspect(engine).get_table_names() == []
    finally:
        engine.dispose()
    assert _roundtrip(store_uri, run) == [(1, run)]


def test_postgres_database_is_dropped_after_test(postgres_server: PostgresServer) -> None:
    name = f"t_dropped_{uuid.uuid4().hex[:8]}"
    url = postgres_server.create_database(name)
    assert _roundtrip(url, "x") == [(1, "x")]
    postgres_server.drop_database(name)
    engine = sa.create_engine(postgres_server.url())
    try:
        with engine.connect() as conn:
            names = {row[0] for row in conn.exec_driver_sql("SELECT datname FROM pg_database")}
    finally:
        engine.dispose()
    assert name not in names
    if postgres_server.owned:
        # Nor is any database of an earlier test (a shared external server may hold other sessions' ones).
        assert not {n for n in names if n.startswith("t_") and len(n) == 34}


def test_concurrent_connections(store_uri: str) -> None:
    engine = sa.create_engine(store_uri, pool_size=4, max_overflow=0)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE hits (worker INTEGER NOT NULL, n INTEGER NOT NULL)")
    is_postgres = engine.dialect.name == "postgresql"
    barrier = threading.Barrier(4, timeout=30)
    errors: list[BaseException] = []
    backend_pids: set[int] = set()

    def work(worker: int) -> None:
        try:
            with engine.connect() as conn:
                if is_postgres:
                    backend_pids.add(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())
                    conn.commit()
                barrier.wait()  # all four connections are open at the same time
                for n in range(20):
                    with conn.begin():
                        conn.execute(sa.text("INSERT INTO hits VALUES (:w, :n)"), {"w": worker, "n": n})
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    try:
        assert not errors, errors
        with engine.connect() as conn:
            rows = conn.exec_driver_sql("SELECT worker, COUNT(*) FROM hits GROUP BY worker ORDER BY worker")
            assert [tuple(r) for r in rows] == [(0, 20), (1, 20), (2, 20), (3, 20)]
        if is_postgres:
            assert len(backend_pids) == 4
    finally:
        engine.dispose()
