"""Compiled filters and orderings against real databases (SQLite, and PostgreSQL through ``postgres_server``):
every result must equal what the reference evaluator says about the same traces, built both as ``Trace``
objects and as table rows. Also: keyset pagination, and SQL injection through every string position."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from sqlalchemy.pool import StaticPool

from spanlog.entities.span import Span, SpanAttributeKey
from spanlog.entities.span_status import SpanStatus, SpanStatusCode
from spanlog.entities.trace import Trace, TraceData, TraceInfo, TraceStatus
from spanlog.store import schema
from spanlog.store.filters import (
    And,
    Compare,
    Field,
    InList,
    Node,
    Not,
    Or,
    compile_filter,
    compile_order_by,
    evaluate,
    format_filter,
    keyset_condition,
    order_values,
    parse_filter,
    parse_order_by,
    sort_traces,
)
from spanlog.tracing.serialization import dumps, loads

BASE_MS = 1_700_000_000_000
_MISSING = object()

INJECTIONS = [
    "'; DROP TABLE traces; --",
    '" OR 1=1 --',
    "x' OR '1'='1",
    "`; DELETE FROM spans; --",
    "a\\'; DROP TABLE trace_tags; --",
    "%' OR 1=1; --",
    "]) OR 1=1 --",
    '$."a" ; DROP TABLE spans',
]

# -- synthetic traces, as objects and as rows ------------------------------------------------------------


def _span(
    trace_id: int,
    span_id: int,
    parent: int | None,
    name: str,
    span_type: str,
    status: SpanStatusCode,
    attrs: dict[str, Any],
    inputs: Any = _MISSING,
    outputs: Any = _MISSING,
) -> Span:
    raw = {key: dumps(value) for key, value in attrs.items()}
    raw[SpanAttributeKey.SPAN_TYPE] = dumps(span_type)
    if inputs is not _MISSING:
        raw[SpanAttributeKey.INPUTS] = dumps(inputs)
    if outputs is not _MISSING:
        raw[SpanAttributeKey.OUTPUTS] = dumps(outputs)
    return Span(
        name=name,
        trace_id=trace_id,
        span_id=span_id,
        parent_id=parent,
        start_time_ns=span_id * 1000,
        end_time_ns=span_id * 1000 + 500,
        status=SpanStatus(status, "boom" if status == SpanStatusCode.ERROR else ""),
        attributes=raw,
        span_type=span_type,
    )


NAMES = [
    "chat",
    "Chat",
    "rag_pipeline",
    "agent.run",
    "100%",
    "a_b",
    "x*y?[z]",
    "naïve",
    "it's",
    'say "hi"',
    "",
]
CHILD_NAMES = ["retrieve", "llm_call", "tool:search", "format", "LLM Call"]
SPAN_TYPES = ["LLM", "TOOL", "CHAIN", "RETRIEVER", "UNKNOWN", "my type"]
TAG_VALUES = {
    "env": ["prod", "dev", "staging", "PROD", "Prod"],
    "a.b": ["x", "y", "x.y"],
    "my key": ["hello world", "Hello", "100%", "50_50", "a*b?c[d]", "it's"],
    "priority": ["1", "2", "3", "10"],
}
ATTRIBUTE_VALUES: dict[str, list[Any]] = {
    "llm.model": ["gpt-4o", "GPT-4o-mini", "claude-3", "gpt%"],
    "temperature": [0, 0.2, 0.7, 1, 1.5, "0.7", True, None],
    "count": [-3, 0, 1, 7, 20, 1000],
    "flag": [True, False],
    "labels": [["a", "b"], []],
    "meta": [{"k": 1}],
    'odd"key': ["v", "w"],
    SpanAttributeKey.ENDED_WITH_TRACE: [True],
}
IO_VALUES: list[Any] = [_MISSING, {"q": "what is 2+2?"}, {"q": "Hello World"}, "plain", [1, 2], None]


def _random_trace(rng: random.Random, index: int) -> Trace:
    trace_id = rng.getrandbits(128)
    status = rng.choice([TraceStatus.OK, TraceStatus.OK, TraceStatus.ERROR, TraceStatus.IN_PROGRESS])
    execution = None if status == TraceStatus.IN_PROGRESS else rng.choice([5, 10, 10, 250, 1000, 1500, 99999])
    name = rng.choice([*NAMES, None])
    tags = {key: rng.choice(values) for key, values in TAG_VALUES.items() if rng.random() < 0.6}
    if name is not None:
        tags["spanlog.traceName"] = name
    metadata: dict[str, str] = {}
    run = rng.choice([None, "run1", "run2", "run3"])
    if run is not None:
        metadata["spanlog.sourceRun"] = run
    if rng.random() < 0.6:
        tokens_in, tokens_out = rng.randint(0, 500), rng.randint(0, 500)
        metadata["spanlog.inputTokens"] = str(tokens_in)
        metadata["spanlog.outputTokens"] = str(tokens_out)
        metadata["spanlog.totalTokens"] = rng.choice([str(tokens_in + tokens_out), "n/a"])
    if rng.random() < 0.5:
        metadata["user"] = rng.choice(["alice", "bob", "O'Brien"])
    spans = []
    if name is not None:
        for position in range(1 + rng.randint(0, 3)):
            attrs = {
                key: rng.choice(values) for key, values in ATTRIBUTE_VALUES.items() if rng.random() < 0.4
            }
            spans.append(
                _span(
                    trace_id,
                    position + 1,
                    None if position == 0 else rng.randint(1, position),
                    name if position == 0 else rng.choice(CHILD_NAMES),
                    rng.choice(SPAN_TYPES),
                    rng.choice(list(SpanStatusCode)),
                    attrs,
                    rng.choice(IO_VALUES),
                    rng.choice(IO_VALUES),
                )
            )
    info = TraceInfo(
        request_id=f"tr-{trace_id:032x}",
        experiment_id="1",
        timestamp_ms=BASE_MS + rng.randint(0, 20) * 1000,  # many equal timestamps: the tie-breaker matters
        execution_time_ms=execution,
        status=status,
        request_metadata=metadata,
        tags=tags,
    )
    return Trace(info, TraceData(spans))


def _injection_trace(index: int, payload: str) -> Trace:
    """A trace holding ``payload`` in every string position, so exact matches must find it."""
    trace_id = 0xFEED0000 + index
    span = _span(
        trace_id,
        1,
        None,
        payload,
        payload,
        SpanStatusCode.OK,
        {payload: payload, "plain": payload},
        inputs={"q": payload},
    )
    info = TraceInfo(
        request_id=f"tr-{trace_id:032x}",
        experiment_id="1",
        timestamp_ms=BASE_MS + 500,
        execution_time_ms=1,
        status=TraceStatus.OK,
        request_metadata={payload: payload, "plain": payload, "spanlog.sourceRun": payload},
        tags={payload: payload, "plain": payload},
    )
    return Trace(info, TraceData([span]))


def build_traces(count: int = 60, seed: int = 20240601) -> list[Trace]:
    """``count`` varied traces plus one per injection payload; deterministic."""
    rng = random.Random(seed)
    traces = [_random_trace(rng, i) for i in range(count)]
    traces += [_injection_trace(i, payload) for i, payload in enumerate(INJECTIONS)]
    return traces


def _int_or_none(value: str | None) -> int | None:
    try:
        return None if value is None else int(value)
    except ValueError:
        return None


def trace_rows(trace: Trace) -> dict[str, list[dict[str, Any]]]:
    """The rows of ``trace`` in each table, as the store writes them (docs on ``schema``)."""
    info, spans = trace.info, trace.data.spans
    rid = info.request_id
    meta = info.request_metadata
    root = trace.data.root_span
    span_rows = []
    for position, span in enumerate(spans):
        raw = span.to_dict()["attributes"]
        user = {key: loads(value) for key, value in raw.items() if key not in SpanAttributeKey.RESERVED}
        span_rows.append(
            {
                "request_id": rid,
                "span_id": span.span_id,
                "parent_id": span.parent_id,
                "position": position,
                "name": span.name,
                "span_type": span.span_type,
                "status_code": span.status.status_code.value,
                "status_message": span.status.description,
                "start_time_ns": span.start_time_ns,
                "end_time_ns": span.end_time_ns,
                "inputs": raw.get(SpanAttributeKey.INPUTS),
                "outputs": raw.get(SpanAttributeKey.OUTPUTS),
                "attributes": orjson.dumps(user).decode(),
                "events": "[]",
            }
        )
    trace_row = {
        "request_id": rid,
        "experiment_id": int(info.experiment_id),
        "timestamp_ms": info.timestamp_ms,
        "execution_time_ms": info.execution_time_ms,
        "status": info.status.value,
        "name": None if root is None else root.name,
        "run_id": meta.get("spanlog.sourceRun"),
        "request_preview": None,
        "response_preview": None,
        "input_tokens": _int_or_none(meta.get("spanlog.inputTokens")),
        "output_tokens": _int_or_none(meta.get("spanlog.outputTokens")),
        "total_tokens": _int_or_none(meta.get("spanlog.totalTokens")),
        "span_count": len(spans),
        "size_bytes": 0,
    }
    return {
        "traces": [trace_row],
        "trace_tags": [{"request_id": rid, "key": k, "value": v} for k, v in info.tags.items()],
        "trace_metadata": [{"request_id": rid, "key": k, "value": v} for k, v in meta.items()],
        "spans": span_rows,
    }


def load(engine: sa.Engine, traces: Sequence[Trace]) -> None:
    """Create the tables and insert ``traces``."""
    schema.metadata.create_all(engine)
    rows: dict[str, list[dict[str, Any]]] = {
        "traces": [],
        "trace_tags": [],
        "trace_metadata": [],
        "spans": [],
    }
    for trace in traces:
        for table, table_rows in trace_rows(trace).items():
            rows[table] += table_rows
    with engine.begin() as conn:
        conn.execute(
            sa.insert(schema.experiments), [{"experiment_id": 1, "name": "e", "creation_time_ms": 0}]
        )
        for table in ("traces", "trace_tags", "trace_metadata", "spans"):
            if rows[table]:
                conn.execute(sa.insert(schema.metadata.tables[table]), rows[table])


@dataclass
class Database:
    engine: sa.Engine
    traces: list[Trace]

    def ids(self, filter_string: str | None, order_by: Sequence[str] | None = None) -> list[str]:
        """Request ids the compiled filter selects, in the compiled order."""
        query = sa.select(schema.traces.c.request_id)
        where = compile_filter(parse_filter(filter_string))
        if where is not None:
            query = query.where(where)
        query = query.order_by(*compile_order_by(parse_order_by(order_by)))
        with self.engine.connect() as conn:
            return list(conn.execute(query).scalars())

    def expected(self, node: Node | None, order_by: Sequence[str] | None = None) -> list[str]:
        """Request ids the reference evaluator selects, in the reference order."""
        matching = [t for t in self.traces if evaluate(node, t)]
        return [t.info.request_id for t in sort_traces(matching, parse_order_by(order_by))]


def _sqlite_engine() -> sa.Engine:
    return sa.create_engine("sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False})


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest) -> Iterator[Database]:
    """The synthetic traces loaded into a fresh database of each backend (read-only for the tests)."""
    traces = build_traces()
    if request.param == "sqlite":
        engine = _sqlite_engine()
        load(engine, traces)
        yield Database(engine, traces)
        engine.dispose()
        return
    server = request.getfixturevalue("postgres_server")
    name = f"t_{uuid.uuid4().hex}"
    engine = sa.create_engine(server.create_database(name))
    try:
        load(engine, traces)
        yield Database(engine, traces)
    finally:
        engine.dispose()
        server.drop_database(name)


# -- filters: SQL == reference ----------------------------------------------------------------------------

FILTERS = [
    "status = 'OK'",
    "status != 'ERROR'",
    "status IN ('ERROR', 'IN_PROGRESS')",
    "timestamp_ms > 1700000010000",
    "timestamp_ms >= 1700000010000 AND timestamp_ms < 1700000015000",
    "execution_time_ms <= 250",
    "execution_time_ms != 10",
    "execution_time_ms NOT IN (5, 10)",
    "NOT execution_time_ms > 250",
    "execution_time_ms > 9.5 AND execution_time_ms < 10.5",
    "name = 'chat'",
    "name LIKE 'chat'",
    "name ILIKE 'CHAT'",
    "name != 'chat'",
    "name LIKE '%\\%'",
    "name LIKE 'a\\_b'",
    "name LIKE 'a_b'",
    "name LIKE 'x*y?[z]'",
    "name LIKE '%.%'",
    "name IN ('it''s', 'say \"hi\"', '')",
    "name NOT LIKE '%a%'",
    "name LIKE 'na_ve'",
    "run_id = 'run1' OR run_id = 'run3'",
    "run_id NOT IN ('run1')",
    "total_tokens > 400",
    "input_tokens < 100 OR output_tokens >= 400",
    "NOT total_tokens > 400",
    "tags.env = 'prod'",
    "tags.env ILIKE 'prod'",
    "tags.env LIKE 'P%'",
    "tags.env != 'prod'",
    "NOT tags.env = 'prod'",
    "tags.env NOT IN ('prod', 'dev')",
    "tags.env NOT ILIKE 'prod'",
    "tags.a.b = 'x.y' OR tags.`a.b` = 'y'",
    "tags.`my key` LIKE '%\\%%'",
    "tags.`my key` LIKE '%\\_%'",
    "tags.`my key` ILIKE 'hello%'",
    "tags.`my key` LIKE 'a*b?c[d]'",
    "tags.priority IN ('1', '10')",
    "metadata.user = 'O''Brien'",
    "metadata.`spanlog.sourceRun` != 'run2'",
    "request_metadata.user LIKE '%o%'",
    "span.name = 'retrieve'",
    "span.name = 'retrieve' AND span.type = 'LLM'",
    "span.name ILIKE 'llm%'",
    "span.type IN ('TOOL', 'my type')",
    "span.type != 'LLM'",
    "NOT span.type = 'LLM'",
    "span.status = 'ERROR'",
    "span.status != 'OK' AND status = 'OK'",
    "span.inputs LIKE '%Hello%'",
    "span.inputs ILIKE '%hello world%'",
    "span.inputs = '\"plain\"'",
    "span.outputs = 'null'",
    "span.outputs != '[1,2]'",
    "span.attributes.llm.model = 'gpt-4o'",
    "span.attributes.`llm.model` ILIKE 'gpt%'",
    "span.attributes.`llm.model` LIKE 'gpt\\%'",
    "span.attributes.llm.model NOT IN ('claude-3')",
    "span.attributes.temperature = 0.7",
    "span.attributes.temperature = '0.7'",
    "span.attributes.temperature >= 1",
    "span.attributes.temperature < 0.5",
    "span.attributes.temperature != 0",
    "span.attributes.temperature IN (0, 1.5)",
    "span.attributes.count > -1 AND span.attributes.count <= 7",
    "span.attributes.count NOT IN (0, 1000)",
    "span.attributes.flag = 1",
    "span.attributes.labels LIKE '%'",
    "span.attributes.`odd\"key` = 'v'",
    "span.attributes.`spanlog.spanEndedWithTrace` = 'x'",
    "(status = 'ERROR' OR tags.env = 'prod') AND NOT span.status = 'ERROR'",
    "status = 'OK' AND (name LIKE 'c%' OR NOT (tags.priority = '1' OR span.attributes.count > 5))",
    "NOT (execution_time_ms > 100 OR tags.env IN ('dev', 'staging'))",
]
# Filters that legitimately match no or all traces (the rest must split the data, to mean something).
TRIVIAL = {
    "span.attributes.flag = 1",
    "span.attributes.labels LIKE '%'",
    "span.attributes.`spanlog.spanEndedWithTrace` = 'x'",
    "name LIKE 'x*y?[z]'",
}


@pytest.mark.parametrize("text", FILTERS)
def test_filter_matches_reference(db: Database, text: str) -> None:
    node = parse_filter(text)
    expected = db.expected(node)
    assert db.ids(text) == expected
    if text not in TRIVIAL:
        assert 0 < len(expected) < len(db.traces), f"{text!r} does not discriminate: {len(expected)} matches"


def test_enough_filter_cases() -> None:
    assert len(FILTERS) >= 40


def _random_leaf(rng: random.Random) -> Node:
    kind = rng.randrange(6)
    if kind == 0:
        field = rng.choice(
            ["timestamp_ms", "execution_time_ms", "input_tokens", "output_tokens", "total_tokens"]
        )
        pool: list[Any] = [0, 5, 10, 250, 400, 1000, 1.5, -1, BASE_MS + 5000, BASE_MS + 12000]
        return _leaf(rng, Field("attribute", field), ["=", "!=", "<", "<=", ">", ">=", "IN", "NOT IN"], pool)
    if kind == 1:
        field = rng.choice(["name", "run_id"])
        pool = [*NAMES, "run1", "run2", "%", "c%", "%a%", "_a%", "%\\%", "%.%", "%_%"]
        return _leaf(
            rng, Field("attribute", field), ["=", "!=", "IN", "NOT IN", "LIKE", "ILIKE", "NOT LIKE"], pool
        )
    if kind == 2:
        key = rng.choice([*TAG_VALUES, "missing"])
        pool = [v for values in TAG_VALUES.values() for v in values] + ["p%", "%o%", "%\\_%", "_"]
        field = Field(rng.choice(["tag", "tag", "metadata"]), key=key if rng.random() < 0.8 else "user")
        return _leaf(rng, field, ["=", "!=", "IN", "NOT IN", "LIKE", "ILIKE", "NOT ILIKE"], pool)
    if kind == 3:
        sub = rng.choice(["name", "type", "status"])
        if sub == "status":
            return _leaf(rng, Field("span", "status"), ["=", "!=", "IN", "NOT IN"], ["OK", "ERROR", "UNSET"])
        pool = CHILD_NAMES + SPAN_TYPES + ["%l%", "LLM%", "_ool%"]
        return _leaf(rng, Field("span", sub), ["=", "!=", "IN", "NOT IN", "LIKE", "ILIKE"], pool)
    if kind == 4:
        field = Field("span", rng.choice(["inputs", "outputs"]))
        pool = ['"plain"', "null", "[1,2]", "%Hello%", "%q%", "%2+2%"]
        return _leaf(rng, field, ["=", "!=", "LIKE", "ILIKE", "NOT LIKE"], pool)
    key = rng.choice(["llm.model", "temperature", "count", "flag", "labels", 'odd"key', "missing"])
    field = Field("span", "attributes", key)
    if rng.random() < 0.5:
        return _leaf(
            rng, field, ["=", "!=", "<", "<=", ">", ">=", "IN", "NOT IN"], [0, 0.7, 1, 1.5, -3, 7, 20]
        )
    pool = ["gpt-4o", "claude-3", "gpt%", "0.7", "v", "%4%", "GPT%"]
    return _leaf(rng, field, ["=", "!=", "IN", "NOT IN", "LIKE", "ILIKE", "NOT ILIKE"], pool)


def _leaf(rng: random.Random, field: Field, ops: list[str], pool: list[Any]) -> Node:
    op = rng.choice(ops)
    if op in ("IN", "NOT IN"):
        return InList(field, tuple(rng.sample(pool, rng.randint(1, 3))), negated=op == "NOT IN")
    if op in ("LIKE", "ILIKE", "NOT LIKE", "NOT ILIKE"):
        pool = [v for v in pool if isinstance(v, str)] or ["%"]
    return Compare(field, op, rng.choice(pool))


def _random_filter(rng: random.Random, depth: int) -> Node:
    roll = rng.random()
    if depth == 0 or roll < 0.4:
        return _random_leaf(rng)
    if roll < 0.55:
        return Not(_random_filter(rng, depth - 1))
    items = tuple(_random_filter(rng, depth - 1) for _ in range(rng.randint(2, 3)))
    return And(items) if roll < 0.8 else Or(items)


def test_random_filters_match_reference(db: Database) -> None:
    rng = random.Random(7)
    informative = 0
    for _ in range(250):
        node = _random_filter(rng, 3)
        text = format_filter(node)
        assert parse_filter(text) == node, text
        expected = db.expected(node)
        assert db.ids(text) == expected, text
        informative += 0 < len(expected) < len(db.traces)
    assert informative > 100


def _nested(depth: int, wrap: str, leaf: str) -> str:
    text = leaf
    for level in range(depth):
        text = wrap.format(inner=text, op="AND" if level % 2 else "OR")
    return text


@pytest.mark.parametrize(
    ("wrap", "levels"),
    [
        ("(tags.env = 'prod' {op} {inner})", 20),
        ("NOT (span.attributes.count > 1 {op} {inner})", 10),
        ("NOT (NOT {inner} {op} span.name LIKE 'r%')", 6),
    ],
)
def test_deepest_filters_run(db: Database, wrap: str, levels: int) -> None:
    """The deepest filters the parser accepts (NOTs and parentheses 20 deep) still compile and run."""
    text = _nested(levels, wrap, "span.attributes.`llm.model` NOT ILIKE 'gpt%'")
    assert db.ids(text, ["name DESC"]) == db.expected(parse_filter(text), ["name DESC"])


# -- ordering and keyset pagination ----------------------------------------------------------------------

ORDERS: list[list[str]] = [
    [],
    ["timestamp_ms ASC"],
    ["execution_time_ms DESC"],
    ["execution_time_ms ASC", "timestamp_ms DESC"],
    ["name ASC", "timestamp_ms DESC"],
    ["name DESC"],
    ["run_id DESC", "total_tokens ASC"],
    ["status", "execution_time_ms DESC", "input_tokens"],
    ["request_id DESC"],
    ["output_tokens DESC", "request_id ASC", "timestamp_ms"],
]


@pytest.mark.parametrize("order_by", ORDERS, ids=lambda o: ",".join(o) or "default")
def test_order_matches_reference(db: Database, order_by: list[str]) -> None:
    assert db.ids(None, order_by) == db.expected(None, order_by)
    text = "status != 'ERROR' OR tags.env = 'prod'"
    assert db.ids(text, order_by) == db.expected(parse_filter(text), order_by)


def _pages(db: Database, filter_string: str | None, order_by: list[str], size: int) -> list[list[str]]:
    terms = parse_order_by(order_by)
    where = compile_filter(parse_filter(filter_string))
    pages: list[list[str]] = []
    last: list[Any] | None = None
    with db.engine.connect() as conn:
        while True:
            query = sa.select(schema.traces)
            if where is not None:
                query = query.where(where)
            if last is not None:
                query = query.where(keyset_condition(terms, last))
            query = query.order_by(*compile_order_by(terms)).limit(size)
            rows = list(conn.execute(query).mappings())
            if not rows:
                return pages
            pages.append([r["request_id"] for r in rows])
            last = order_values(terms, rows[-1])
            assert len(pages) <= len(db.traces) + 1, "pagination does not advance"


@pytest.mark.parametrize("order_by", ORDERS, ids=lambda o: ",".join(o) or "default")
@pytest.mark.parametrize("size", [1, 7, 1000])
def test_keyset_pagination_visits_everything_once_in_order(
    db: Database, order_by: list[str], size: int
) -> None:
    pages = _pages(db, None, order_by, size)
    assert [rid for page in pages for rid in page] == db.expected(None, order_by)
    assert all(len(page) == size for page in pages[:-1])
    text = "span.type != 'TOOL' AND NOT tags.env = 'dev'"
    pages = _pages(db, text, order_by, size)
    assert [rid for page in pages for rid in page] == db.expected(parse_filter(text), order_by)


# -- SQL injection ------------------------------------------------------------------------------------------


def _injection_filters(payload: str) -> list[tuple[Node, bool]]:
    """Filters putting ``payload`` in each string position, and whether the payload trace must match."""
    return [
        (Compare(Field("tag", key=payload), "=", payload), True),
        (Compare(Field("tag", key="plain"), "=", payload), True),
        (Compare(Field("tag", key=payload), "!=", payload), False),
        (Compare(Field("metadata", key=payload), "=", payload), True),
        (Compare(Field("metadata", key="plain"), "LIKE", payload), False),  # % and _ are wildcards here
        (Compare(Field("span", "attributes", payload), "=", payload), True),
        (Compare(Field("span", "attributes", "plain"), "ILIKE", payload), False),
        (Compare(Field("span", "attributes", payload), ">", 1), False),
        (Compare(Field("attribute", "name"), "=", payload), True),
        (Compare(Field("attribute", "run_id"), "=", payload), True),
        (Compare(Field("attribute", "request_id"), "=", payload), False),
        (Compare(Field("span", "name"), "LIKE", payload), False),
        (Compare(Field("span", "type"), "=", payload), True),
        (Compare(Field("span", "inputs"), "LIKE", "%" + payload.replace("\\", "\\\\") + "%"), False),
        (InList(Field("attribute", "name"), (payload, "no such name", payload + "'")), True),
        (InList(Field("tag", key=payload), (payload,), negated=True), False),
        (Not(Compare(Field("tag", key=payload), "=", payload)), False),
    ]


@pytest.mark.parametrize("payload", INJECTIONS)
def test_sql_injection_through_every_string_position(db: Database, payload: str) -> None:
    own_id = next(t.info.request_id for t in db.traces if t.info.tags.get("plain") == payload)
    for node, must_match in _injection_filters(payload):
        text = format_filter(node)
        assert parse_filter(text) == node
        expected = db.expected(node)
        assert db.ids(text) == expected, text
        if must_match:
            assert expected == [own_id], text
        compiled = str(
            sa.select(schema.traces.c.request_id)
            .where(compile_filter(node))
            .compile(dialect=db.engine.dialect)
        )
        for word in ("DROP", "DELETE", "1=1"):
            assert word not in compiled
    # The payload as a LIKE pattern matches its own trace when its wildcards are escaped.
    escaped = payload.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    assert db.ids(format_filter(Compare(Field("tag", key="plain"), "LIKE", escaped))) == [own_id]
    assert db.ids(format_filter(Compare(Field("span", "name"), "LIKE", escaped))) == [own_id]
    # Nothing was dropped or deleted.
    assert set(schema.metadata.tables) <= set(sa.inspect(db.engine).get_table_names())
    with db.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(schema.traces)).scalar_one() == len(
            db.traces
        )
        spans = conn.execute(sa.select(sa.func.count()).select_from(schema.spans)).scalar_one()
        assert spans == sum(len(t.data.spans) for t in db.traces)


@pytest.mark.parametrize(
    "text",
    [
        "tags.`'; DROP TABLE traces; --` = 'x'",
        'tags."x"" OR 1=1 --" = \'x\'',
        "name = ''' OR ''1''=''1'",
        "name = '\\'; DROP TABLE traces; --'",
        "span.attributes.`a'); DROP TABLE spans; --` = 1",
        'span.attributes.`$."a" ; DROP TABLE spans` = \'$."a" ; DROP TABLE spans\'',
        "name IN ('a', '''); DELETE FROM traces; --')",
        "tags.plain LIKE '%''; DROP TABLE traces; --'",
    ],
)
def test_handwritten_injections_are_plain_values(db: Database, text: str) -> None:
    assert db.ids(text) == db.expected(parse_filter(text))
    assert set(schema.metadata.tables) <= set(sa.inspect(db.engine).get_table_names())
