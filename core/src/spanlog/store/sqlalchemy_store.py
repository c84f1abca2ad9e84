"""The SQL trace store: SQLite (embedded default) and PostgreSQL through SQLAlchemy Core.

Writes are batched: one transaction inserts many traces with ``executemany`` per table. Reads fetch the page of
trace rows first, then the spans, tags and metadata of exactly those traces (no row-multiplying joins).
"""

from __future__ import annotations

import base64
import os
import threading
import time
import uuid
import weakref
from collections.abc import Iterable, Sequence
from typing import Any

import orjson
from sqlalchemy import Engine, and_, create_engine, delete, event, func, insert, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from spanlog.entities import (
    Experiment,
    Run,
    RunInfo,
    RunStatus,
    Span,
    SpanEvent,
    SpanStatus,
    SpanStatusCode,
    Trace,
    TraceData,
    TraceInfo,
    TraceStatus,
)
from spanlog.entities.span import SpanAttributeKey
from spanlog.exceptions import ExperimentNotFoundError, InvalidArgumentError, SpanlogError, StoreError
from spanlog.store import schema
from spanlog.store.base import TracePage, TraceStore
from spanlog.tracing.serialization import dumps

PREVIEW_CHARS = 1000
MAX_RESULTS_LIMIT = 50_000
DEFAULT_MAX_RESULTS = 100

TOKEN_METADATA = {
    "input_tokens": "spanlog.inputTokens",
    "output_tokens": "spanlog.outputTokens",
    "total_tokens": "spanlog.totalTokens",
}
_RESERVED = SpanAttributeKey.RESERVED
_INPUTS = SpanAttributeKey.INPUTS
_OUTPUTS = SpanAttributeKey.OUTPUTS
_UNSET = SpanStatus(SpanStatusCode.UNSET)

_T, _TAGS, _META, _SPANS = schema.traces, schema.trace_tags, schema.trace_metadata, schema.spans


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class SqlAlchemyStore(TraceStore):
    """A TraceStore on a SQLAlchemy URL: ``sqlite:///path/to.db`` or ``postgresql+psycopg://...``.

    The schema is created or upgraded (Alembic) when the store is opened.
    """

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self._lock = threading.Lock()
        try:
            self.engine = _make_engine(uri)
            from spanlog.store.migrations import upgrade

            upgrade(self.engine)
        except SpanlogError:
            raise
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot open the trace store at {_safe(uri)}: {exc}") from exc
        self.dialect = self.engine.dialect.name
        self._insert_sql_cache: dict[str, str] = {}
        # experiments known to exist (experiments are never deleted): a batch of traces of a known experiment
        # skips the lookup, which is a third of the cost of writing one small trace
        self._known_experiments: set[Any] = set()
        _stores.add(self)

    # -- writing ------------------------------------------------------------------------------------------
    def log_traces(self, traces: Sequence[Trace]) -> None:
        """Persist traces in one transaction (a trace written again replaces its earlier copy)."""
        if not traces:
            return
        trace_rows: list[tuple[Any, ...]] = []
        tag_rows: list[tuple[Any, ...]] = []
        meta_rows: list[tuple[Any, ...]] = []
        span_rows: list[tuple[Any, ...]] = []
        for trace in {t.info.request_id: t for t in traces}.values():
            _trace_rows(trace, trace_rows, tag_rows, meta_rows, span_rows)
        batches = ((_T, trace_rows), (_TAGS, tag_rows), (_META, meta_rows), (_SPANS, span_rows))
        try:
            try:
                self._insert(batches, replace=False)
            except IntegrityError:
                # some of these traces were written before (a retry, a spool replay, an import): replace them
                self._insert(batches, replace=True)
        except SQLAlchemyError as exc:
            raise StoreError(
                f"writing {len(trace_rows)} trace(s) to {_safe(self.uri)} failed: {exc}"
            ) from exc

    def _insert(self, batches: Any, replace: bool) -> None:
        """One transaction of ``executemany`` inserts with driver-level parameters (the hot path of export)."""
        trace_rows = batches[0][1]
        if replace:  # a failed first attempt: check the experiments again rather than trust the cache
            self._known_experiments.clear()
        with self.engine.begin() as conn:
            checked = self._ensure_experiments(conn, {row[1] for row in trace_rows})
            if replace:
                ids = [row[0] for row in trace_rows]
                for chunk in _chunks(ids, 500):
                    for table in (_SPANS, _TAGS, _META, _T):
                        conn.execute(delete(table).where(table.c.request_id.in_(chunk)))
            for table, rows in batches:
                if rows:
                    conn.exec_driver_sql(self._insert_sql(table), rows)
        self._known_experiments |= checked  # committed: they exist now

    def _insert_sql(self, table: Any) -> str:
        sql = self._insert_sql_cache.get(table.name)
        if sql is None:
            style = self.engine.dialect.paramstyle
            mark = "?" if style == "qmark" else "%s"
            columns = [c.name for c in table.columns]
            quote = self.engine.dialect.identifier_preparer.quote
            sql = (
                f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in columns)}) "
                f"VALUES ({', '.join([mark] * len(columns))})"
            )
            self._insert_sql_cache[table.name] = sql
        return sql

    def _ensure_experiments(self, conn: Any, experiment_ids: Iterable[int]) -> set[Any]:
        """Traces may name an experiment this store has not seen (another store's id): create a stand-in.
        Returns the ids checked (found or created) in this transaction."""
        wanted = set(experiment_ids) - self._known_experiments
        if not wanted:
            return wanted
        known = set(
            conn.execute(
                select(schema.experiments.c.experiment_id).where(
                    schema.experiments.c.experiment_id.in_(wanted)
                )
            ).scalars()
        )
        for missing in wanted - known:
            conn.execute(
                insert(schema.experiments).values(
                    experiment_id=missing, name=f"experiment-{missing}", creation_time_ms=_now_ms()
                )
            )
        return wanted

    # -- reading ------------------------------------------------------------------------------------------
    def get_trace(self, request_id: str) -> Trace | None:
        """The stored trace with this id, or None."""
        if not isinstance(request_id, str):
            raise InvalidArgumentError(
                f"a request_id is a string like 'tr-<32 hex digits>', got {request_id!r}"
            )
        with self._read() as conn:
            row = conn.execute(select(_T).where(_T.c.request_id == request_id)).mappings().first()
            if row is None:
                return None
            return self._assemble(conn, [row])[0]

    def search_traces(
        self,
        experiment_ids: Sequence[str] | None = None,
        filter_string: str | None = None,
        max_results: int | None = None,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> TracePage:
        """Matching traces, one page at a time; the token is opaque and stable while traces are written."""
        from spanlog.store import filters

        limit = _check_max_results(max_results)
        terms = filters.parse_order_by(list(order_by) if order_by else None)
        query = select(_T)
        where = self._where(experiment_ids, filter_string)
        if where is not None:
            query = query.where(where)
        if page_token:
            query = query.where(filters.keyset_condition(terms, _decode_token(page_token)))
        query = query.order_by(*filters.compile_order_by(terms)).limit(limit + 1)
        with self._read() as conn:
            rows = list(conn.execute(query).mappings())
            more = len(rows) > limit
            rows = rows[:limit]
            traces = self._assemble(conn, rows)
        token = _encode_token(filters.order_values(terms, rows[-1])) if more and rows else None
        return TracePage(traces, token)

    def count_traces(
        self, experiment_ids: Sequence[str] | None = None, filter_string: str | None = None
    ) -> int:
        """How many traces match the experiments and the filter."""
        query = select(func.count()).select_from(_T)
        where = self._where(experiment_ids, filter_string)
        if where is not None:
            query = query.where(where)
        with self._read() as conn:
            return int(conn.execute(query).scalar_one())

    def _where(self, experiment_ids: Sequence[str] | None, filter_string: str | None) -> Any:
        from spanlog.store import filters

        clauses: list[Any] = []
        if experiment_ids:
            clauses.append(_T.c.experiment_id.in_([_experiment_int(e) for e in experiment_ids]))
        compiled = filters.compile_filter(filters.parse_filter(filter_string))
        if compiled is not None:
            clauses.append(compiled)
        return and_(*clauses) if clauses else None

    def _assemble(self, conn: Any, rows: Sequence[Any]) -> list[Trace]:
        if not rows:
            return []
        ids = [r["request_id"] for r in rows]
        tags: dict[str, dict[str, str]] = {i: {} for i in ids}
        meta: dict[str, dict[str, str]] = {i: {} for i in ids}
        spans: dict[str, list[Span]] = {i: [] for i in ids}
        span_columns = [_SPANS.c[name] for name in _SPAN_READ_COLUMNS]
        for chunk in _chunks(ids, 500):
            for rid, key, value in conn.execute(select(_TAGS).where(_TAGS.c.request_id.in_(chunk))):
                tags[rid][key] = value
            for rid, key, value in conn.execute(select(_META).where(_META.c.request_id.in_(chunk))):
                meta[rid][key] = value
            query = (
                select(*span_columns)
                .where(_SPANS.c.request_id.in_(chunk))
                .order_by(_SPANS.c.request_id, _SPANS.c.position)
            )
            for r in conn.execute(query):
                spans[r[0]].append(_span_from_row(r))
        result = []
        for row in rows:
            rid = row["request_id"]
            info = TraceInfo(
                request_id=rid,
                experiment_id=str(row["experiment_id"]),
                timestamp_ms=row["timestamp_ms"],
                execution_time_ms=row["execution_time_ms"],
                status=TraceStatus(row["status"]),
                request_metadata=meta[rid],
                tags=tags[rid],
            )
            result.append(Trace(info, TraceData(spans=spans[rid])))
        return result

    def _read(self) -> Any:
        try:
            return self.engine.connect()
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot read the trace store at {_safe(self.uri)}: {exc}") from exc

    # -- management ---------------------------------------------------------------------------------------
    def delete_traces(
        self,
        experiment_id: str | None = None,
        max_timestamp_millis: int | None = None,
        max_traces: int | None = None,
        request_ids: Sequence[str] | None = None,
    ) -> int:
        """Delete matching traces, oldest first; returns the count."""
        if request_ids is None and max_timestamp_millis is None and experiment_id is None:
            raise InvalidArgumentError(
                "delete_traces() needs experiment_id, max_timestamp_millis or request_ids, so that it never "
                "deletes everything by accident"
            )
        if request_ids is not None and (max_timestamp_millis is not None or max_traces is not None):
            raise InvalidArgumentError(
                "request_ids cannot be combined with max_timestamp_millis or max_traces"
            )
        if max_traces is not None and (not isinstance(max_traces, int) or max_traces < 1):
            raise InvalidArgumentError(f"max_traces must be a positive integer, got {max_traces!r}")
        query = select(_T.c.request_id)
        if experiment_id is not None:
            query = query.where(_T.c.experiment_id == _experiment_int(experiment_id))
        if max_timestamp_millis is not None:
            query = query.where(_T.c.timestamp_ms <= int(max_timestamp_millis))
        if request_ids is not None:
            query = query.where(_T.c.request_id.in_(list(request_ids)))
        query = query.order_by(_T.c.timestamp_ms, _T.c.request_id)
        if max_traces is not None:
            query = query.limit(max_traces)
        try:
            with self.engine.begin() as conn:
                ids = list(conn.execute(query).scalars())
                for chunk in _chunks(ids, 500):
                    for table in (_SPANS, _TAGS, _META):
                        conn.execute(delete(table).where(table.c.request_id.in_(chunk)))
                    conn.execute(delete(_T).where(_T.c.request_id.in_(chunk)))
        except SQLAlchemyError as exc:
            raise StoreError(f"deleting traces from {_safe(self.uri)} failed: {exc}") from exc
        return len(ids)

    def set_trace_tag(self, request_id: str, key: str, value: str) -> None:
        """Set (or replace) a tag of a stored trace."""
        key, value = _check_tag(key), str(value)
        with self.engine.begin() as conn:
            self._require_trace(conn, request_id)
            conn.execute(delete(_TAGS).where(and_(_TAGS.c.request_id == request_id, _TAGS.c.key == key)))
            conn.execute(insert(_TAGS).values(request_id=request_id, key=key, value=value))

    def delete_trace_tag(self, request_id: str, key: str) -> None:
        """Remove a tag; raises when the trace or the tag does not exist."""
        from spanlog.exceptions import TraceNotFoundError

        with self.engine.begin() as conn:
            self._require_trace(conn, request_id)
            result = conn.execute(
                delete(_TAGS).where(and_(_TAGS.c.request_id == request_id, _TAGS.c.key == key))
            )
            if result.rowcount == 0:
                raise TraceNotFoundError(f"trace {request_id!r} has no tag {key!r}")

    def _require_trace(self, conn: Any, request_id: str) -> None:
        from spanlog.exceptions import TraceNotFoundError

        found = conn.execute(select(_T.c.request_id).where(_T.c.request_id == request_id)).first()
        if found is None:
            raise TraceNotFoundError(f"no stored trace with request_id {request_id!r}")

    # -- experiments and runs -----------------------------------------------------------------------------
    def get_or_create_experiment(self, name: str) -> Experiment:
        """The experiment called ``name``, created if new (safe against concurrent creators)."""
        if not isinstance(name, str) or not name.strip():
            raise InvalidArgumentError(f"an experiment name must be a non-empty string, got {name!r}")
        table = schema.experiments
        for _ in range(3):
            with self.engine.connect() as conn:
                row = conn.execute(select(table).where(table.c.name == name)).first()
            if row is not None:
                return _experiment(row)
            try:
                with self.engine.begin() as conn:
                    conn.execute(insert(table).values(name=name, creation_time_ms=_now_ms()))
            except IntegrityError:
                continue  # someone else created it at the same moment
        raise StoreError(f"could not create experiment {name!r}")

    def get_experiment(self, experiment_id: str) -> Experiment:
        """The experiment with this id."""
        table = schema.experiments
        with self.engine.connect() as conn:
            row = conn.execute(
                select(table).where(table.c.experiment_id == _experiment_int(experiment_id))
            ).first()
        if row is None:
            raise ExperimentNotFoundError(f"no experiment with id {experiment_id!r}")
        return _experiment(row)

    def list_experiments(self) -> list[Experiment]:
        """Every experiment, by id."""
        table = schema.experiments
        with self.engine.connect() as conn:
            return [_experiment(r) for r in conn.execute(select(table).order_by(table.c.experiment_id))]

    def create_run(self, experiment_id: str, run_name: str | None) -> Run:
        """A new RUNNING run."""
        run_id = uuid.uuid4().hex
        info = RunInfo(run_id, str(experiment_id), run_name or f"run-{run_id[:8]}", _now_ms())
        with self.engine.begin() as conn:
            conn.execute(
                insert(schema.runs).values(
                    run_id=run_id,
                    experiment_id=_experiment_int(experiment_id),
                    run_name=info.run_name,
                    start_time_ms=info.start_time_ms,
                    status=info.status.value,
                )
            )
        return Run(info)

    def end_run(self, run_id: str, status: RunStatus) -> None:
        """Mark a run ended with ``status``."""
        with self.engine.begin() as conn:
            conn.execute(
                update(schema.runs)
                .where(schema.runs.c.run_id == run_id)
                .values(status=status.value, end_time_ms=_now_ms())
            )

    def get_run(self, run_id: str) -> Run:
        """The run with this id."""
        with self.engine.connect() as conn:
            row = conn.execute(select(schema.runs).where(schema.runs.c.run_id == run_id)).first()
        if row is None:
            raise SpanlogError(f"no run with id {run_id!r}")
        return Run(
            RunInfo(
                row.run_id,
                str(row.experiment_id),
                row.run_name,
                row.start_time_ms,
                row.end_time_ms,
                RunStatus(row.status),
            )
        )

    def close(self) -> None:
        """Dispose of the connection pool."""
        self.engine.dispose()

    def _forked(self) -> None:
        """In the child of a fork: the pooled connections are the parent's (a SQLite or network connection
        must not be used by two processes), so the child leaves them to the parent and opens its own."""
        self._lock = threading.Lock()
        self.engine.dispose(close=False)


_stores: weakref.WeakSet[SqlAlchemyStore] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for store in list(_stores):
        store._forked()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


# -- rows <-> entities -------------------------------------------------------------------------------------


_key_json_cache: dict[str, str] = {}


def _key_json(key: str) -> str:
    """An attribute key as a JSON string (cached: programs use a few dozen keys)."""
    found = _key_json_cache.get(key)
    if found is None:
        found = orjson.dumps(key).decode()
        if len(_key_json_cache) < 10_000:
            _key_json_cache[key] = found
    return found


def _trace_rows(
    trace: Trace,
    trace_rows: list[tuple[Any, ...]],
    tag_rows: list[tuple[Any, ...]],
    meta_rows: list[tuple[Any, ...]],
    span_rows: list[tuple[Any, ...]],
) -> None:
    """Append the rows of one trace, as tuples in the tables' column order (see schema.py)."""
    info = trace.info
    rid = info.request_id
    spans = trace.data.spans
    size = 0
    root_name = None
    for position, span in enumerate(spans):
        attrs = span._attrs
        if len(attrs) > 2:
            # every value is already JSON text: splice the object together instead of decoding and re-encoding
            # it (model-call spans carry kilobytes of messages, and this runs while the caller wants the GIL)
            parts = [f"{_key_json(k)}:{v}" for k, v in attrs.items() if k not in _RESERVED]
            attributes = "{" + ",".join(parts) + "}" if parts else "{}"
        else:
            attributes = "{}"
        inputs = attrs.get(_INPUTS)
        outputs = attrs.get(_OUTPUTS)
        status = span._status or _UNSET
        events = (
            orjson.dumps([e.to_dict() for e in span._events], default=str).decode() if span._events else "[]"
        )
        parent = span._parent_id
        span_rows.append(
            (
                rid,
                f"{span._span_id:016x}",
                None if parent is None else f"{parent:016x}",
                position,
                span._name,
                span._span_type,
                status.status_code.value,
                status.description,
                span._start_ns,
                span._end_ns,
                inputs,
                outputs,
                attributes,
                events,
            )
        )
        size += len(inputs or "") + len(outputs or "") + len(attributes) + len(events)
        if parent is None and root_name is None:
            root_name = span._name
    meta = info.request_metadata
    trace_rows.append(
        (
            rid,
            _experiment_int(info.experiment_id),
            info.timestamp_ms,
            info.execution_time_ms,
            info.status.value,
            root_name,
            meta.get("spanlog.sourceRun"),
            _preview(trace.data.request),
            _preview(trace.data.response),
            _int_or_none(meta.get(TOKEN_METADATA["input_tokens"])),
            _int_or_none(meta.get(TOKEN_METADATA["output_tokens"])),
            _int_or_none(meta.get(TOKEN_METADATA["total_tokens"])),
            len(spans),
            size,
        )
    )
    tag_rows.extend((rid, str(k), str(v)) for k, v in info.tags.items())
    meta_rows.extend((rid, str(k), str(v)) for k, v in meta.items())


_SPAN_READ_COLUMNS = (
    "request_id",
    "span_id",
    "parent_id",
    "name",
    "span_type",
    "status_code",
    "status_message",
    "start_time_ns",
    "end_time_ns",
    "inputs",
    "outputs",
    "attributes",
    "events",
)
_statuses: dict[tuple[str, str], SpanStatus] = {}
_type_json: dict[str, str] = {}


def _span_from_row(r: Any) -> Span:
    """A finished Span from a row of ``_SPAN_READ_COLUMNS`` (read path of search: keep it lean)."""
    (
        rid,
        span_id,
        parent_id,
        name,
        span_type,
        code,
        message,
        start,
        end,
        inputs,
        outputs,
        attributes,
        events,
    ) = r
    type_json = _type_json.get(span_type)
    if type_json is None:
        type_json = _type_json[span_type] = dumps(span_type)
    attrs: dict[str, str] = {
        SpanAttributeKey.REQUEST_ID: '"' + rid + '"',
        SpanAttributeKey.SPAN_TYPE: type_json,
    }
    if inputs is not None:
        attrs[_INPUTS] = inputs
    if attributes != "{}":
        for key, value in orjson.loads(attributes).items():
            attrs[key] = dumps(value)
    if outputs is not None:
        attrs[_OUTPUTS] = outputs
    status_key = (code, message or "")
    status = _statuses.get(status_key)
    if status is None:
        status = SpanStatus(SpanStatusCode(code), status_key[1])
        if len(_statuses) < 1000:
            _statuses[status_key] = status
    return Span(
        name=name,
        trace_id=int(rid[3:], 16) if rid.startswith("tr-") else 0,
        span_id=int(span_id, 16),
        parent_id=None if parent_id is None else int(parent_id, 16),
        start_time_ns=start,
        end_time_ns=end,
        status=status,
        attributes=attrs,
        events=[SpanEvent.from_dict(e) for e in orjson.loads(events)] if events != "[]" else [],
        span_type=span_type,
        request_id=rid,
    )


def _experiment(row: Any) -> Experiment:
    return Experiment(
        str(row.experiment_id), row.name, row.creation_time_ms, lifecycle_stage=row.lifecycle_stage
    )


def _experiment_int(experiment_id: Any) -> int:
    try:
        return int(experiment_id)
    except (TypeError, ValueError):
        raise InvalidArgumentError(
            f"experiment ids are integers as strings (like '0'), got {experiment_id!r}"
        )


def _preview(text: str | None) -> str | None:
    return None if text is None else text[:PREVIEW_CHARS]


def _int_or_none(value: Any) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


def _check_tag(key: Any) -> str:
    if not isinstance(key, str) or not key or len(key) > 250:
        raise InvalidArgumentError(
            f"a tag key must be a non-empty string of at most 250 characters, got {key!r}"
        )
    return key


def _check_max_results(max_results: Any) -> int:
    if max_results is None:
        return DEFAULT_MAX_RESULTS
    if (
        isinstance(max_results, bool)
        or not isinstance(max_results, int)
        or not 0 < max_results <= MAX_RESULTS_LIMIT
    ):
        raise InvalidArgumentError(
            f"max_results must be an integer from 1 to {MAX_RESULTS_LIMIT}, got {max_results!r}"
        )
    return max_results


def _encode_token(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps({"v": values})).decode()


def _decode_token(token: str) -> list[Any]:
    try:
        values = orjson.loads(base64.urlsafe_b64decode(token.encode()))["v"]
        if not isinstance(values, list):
            raise ValueError
        return values
    except Exception:
        raise InvalidArgumentError(
            f"invalid page_token {token!r}: pass the token of a previous page unchanged"
        )


def _chunks(items: list[Any], size: int) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _safe(uri: str) -> str:
    """The URI without a password."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(uri).render_as_string(hide_password=True)
    except Exception:
        return "<store uri>"


def _make_engine(uri: str) -> Engine:
    if uri.startswith("sqlite"):
        engine = create_engine(uri, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA cache_size=-65536")  # 64 MiB: index pages of big stores stay in memory
            cursor.close()

        return engine
    return create_engine(uri, pool_pre_ping=True, pool_size=5, max_overflow=10)


__all__ = ["SqlAlchemyStore"]
