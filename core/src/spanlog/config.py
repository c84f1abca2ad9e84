"""Where traces are kept and how they get there: the tracking URI and async logging.

The store is opened on first use: ``spanlog.set_tracking_uri()``, else ``SPANLOG_TRACKING_URI``, else the
embedded SQLite database ``./.spanlog/spanlog.db`` (relative to the working directory, like a project folder).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from spanlog.export.store_exporter import StoreExporter
    from spanlog.store.base import TraceStore

DEFAULT_STORE_DIR = ".spanlog"

_lock = threading.RLock()
_uri: str | None = None
_store: TraceStore | None = None
_async_logging: bool | None = None


def default_tracking_uri() -> str:
    """``SPANLOG_TRACKING_URI`` or ``sqlite:///<cwd>/.spanlog/spanlog.db``."""
    env = os.environ.get("SPANLOG_TRACKING_URI")
    if env:
        return _normalize(env)
    return "sqlite:///" + str(Path.cwd() / DEFAULT_STORE_DIR / "spanlog.db")


def _normalize(uri: str) -> str:
    if "://" not in uri:  # a plain path: a SQLite file
        return "sqlite:///" + str(Path(uri).expanduser().resolve())
    if uri.startswith("postgresql://") or uri.startswith("postgres://"):
        return "postgresql+psycopg://" + uri.split("://", 1)[1]
    return uri


def get_tracking_uri() -> str:
    """The URI of the store traces go to."""
    return _uri or default_tracking_uri()


def set_tracking_uri(uri: str | Path) -> None:
    """Keep traces in the store at ``uri`` from now on: ``sqlite:///path.db``, a plain file path,
    or ``postgresql://user:password@host/db``. Traces already queued go to the previous store first."""
    global _uri, _store
    if not isinstance(uri, (str, Path)) or not str(uri):
        from spanlog.exceptions import InvalidArgumentError

        raise InvalidArgumentError(f"a tracking URI is a non-empty string, got {uri!r}")
    with _lock:
        _uri = _normalize(str(uri))
        old, _store = _store, None
        _reset_store_exporter()
        if old is not None:
            old.close()


def get_store() -> TraceStore:
    """The store at the tracking URI, opened (and created or migrated) on first use."""
    global _store
    store = _store
    if store is None:
        with _lock:
            if _store is None:
                from spanlog.store.sqlalchemy_store import SqlAlchemyStore

                uri = get_tracking_uri()
                if uri.startswith("sqlite:///"):
                    path = uri[len("sqlite:///") :]
                    if path and path != ":memory:":
                        Path(path).parent.mkdir(parents=True, exist_ok=True)
                _store = SqlAlchemyStore(uri)
            store = _store
    return store


def is_async_logging_enabled() -> bool:
    """Whether traces are written by a background thread (the default; ``SPANLOG_ASYNC_LOGGING=0`` turns it off)."""
    if _async_logging is None:
        return os.environ.get("SPANLOG_ASYNC_LOGGING", "1").strip().lower() not in {"0", "false", "no", "off"}
    return _async_logging


def enable_async_logging(enable: bool = True) -> None:
    """Write traces in the background (True, the default) or on the thread that ends them (False)."""
    global _async_logging
    _async_logging = bool(enable)
    from spanlog.export import peek_exporter

    exporter = peek_exporter()
    if exporter is not None and hasattr(exporter, "asynchronous"):
        exporter.flush()
        exporter.asynchronous = _async_logging


def default_exporter() -> StoreExporter:
    """The exporter used unless another is set: the store exporter on the tracking URI's store."""
    from spanlog.export.store_exporter import StoreExporter

    return StoreExporter(_LazyStore(), asynchronous=is_async_logging_enabled())


class _LazyStore:
    """Opens the store on the first write, on the writer thread, so the first traced call never waits for it."""

    def log_traces(self, traces: Any) -> None:
        get_store().log_traces(traces)

    def get_trace(self, request_id: str) -> Any:
        return get_store().get_trace(request_id)


def _reset_store_exporter() -> None:
    from spanlog.export import peek_exporter, set_exporter

    exporter = peek_exporter()
    if exporter is not None and type(exporter).__name__ == "StoreExporter":
        set_exporter(None)  # flushes to the old store; the next trace opens the new one


def flush_trace_async_logging(timeout_s: float | None = None) -> bool:
    """Wait until every finished trace is written to the store; False on timeout."""
    from spanlog.export import peek_exporter

    exporter = peek_exporter()
    return True if exporter is None else exporter.flush(timeout_s)


def reset() -> None:
    """Forget the tracking URI, the open store and the async switch (tests use this)."""
    global _uri, _store, _async_logging
    with _lock:
        if _store is not None:
            _store.close()
        _uri = None
        _store = None
        _async_logging = None
