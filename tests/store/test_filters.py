"""The search language without a database: parsing, canonical round trips, error positions, order_by, and the
reference evaluator. (SQL agreement with the evaluator is tested in ``test_filters_sql.py``.)"""

from __future__ import annotations

import pickle
from typing import Any, cast

import pytest

from spanlog.entities.span import Span, SpanAttributeKey
from spanlog.entities.span_status import SpanStatus, SpanStatusCode
from spanlog.entities.trace import Trace, TraceData, TraceInfo, TraceStatus
from spanlog.exceptions import InvalidFilterError
from spanlog.store.filters import (
    And,
    Compare,
    Field,
    FilterSyntaxError,
    InList,
    Not,
    Or,
    OrderTerm,
    compile_order_by,
    effective_order,
    evaluate,
    format_filter,
    keyset_condition,
    order_values,
    parse_filter,
    parse_order_by,
    sort_traces,
    trace_attribute,
)
from spanlog.tracing.serialization import dumps

TS = Field("attribute", "timestamp_ms")
STATUS = Field("attribute", "status")
NAME = Field("attribute", "name")
NOT_A_STRING: Any = 5


# -- parsing ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", [None, "", "   ", "\n\t "])
def test_empty_filter_is_none(text: str | None) -> None:
    assert parse_filter(text) is None
    assert format_filter(None) == ""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("status = 'OK'", Compare(STATUS, "=", "OK")),
        ('attributes.status = "ok"', Compare(STATUS, "=", "OK")),  # status values are normalized
        ("trace.STATUS != 'error'", Compare(STATUS, "!=", "ERROR")),
        ("timestamp > 5", Compare(TS, ">", 5)),
        ("attributes.timestamp_ms <= -5", Compare(TS, "<=", -5)),
        ("execution_time_ms >= 1.5", Compare(Field("attribute", "execution_time_ms"), ">=", 1.5)),
        ("execution_time_ms < 1e3", Compare(Field("attribute", "execution_time_ms"), "<", 1000.0)),
        ("trace_id = 'tr-1'", Compare(Field("attribute", "request_id"), "=", "tr-1")),
        ("run_id <> 'r'", Compare(Field("attribute", "run_id"), "!=", "r")),
        ("total_tokens IN (1, 2)", InList(Field("attribute", "total_tokens"), (1, 2))),
        ("name not in ('a')", InList(NAME, ("a",), negated=True)),
        ("name LiKe 'a%'", Compare(NAME, "LIKE", "a%")),
        ("name NOT ILIKE 'a%'", Compare(NAME, "NOT ILIKE", "a%")),
        ("tags.env = 'prod'", Compare(Field("tag", key="env"), "=", "prod")),
        ("tag.env = 'prod'", Compare(Field("tag", key="env"), "=", "prod")),
        ("tags.a.b-c.d = 'x'", Compare(Field("tag", key="a.b-c.d"), "=", "x")),
        ("tags.`my key` = 'x'", Compare(Field("tag", key="my key"), "=", "x")),
        ("tags.\"my.key\" = 'x'", Compare(Field("tag", key="my.key"), "=", "x")),
        ("tags.`a``b` = 'x'", Compare(Field("tag", key="a`b"), "=", "x")),
        ("tags.123 = 'x'", Compare(Field("tag", key="123"), "=", "x")),
        ("metadata.user = 'x'", Compare(Field("metadata", key="user"), "=", "x")),
        (
            "request_metadata.`spanlog.sourceRun` = 'x'",
            Compare(Field("metadata", key="spanlog.sourceRun"), "=", "x"),
        ),
        ("span.name = 'x'", Compare(Field("span", "name"), "=", "x")),
        ("span.span_type = 'LLM'", Compare(Field("span", "type"), "=", "LLM")),
        ("SPAN.TYPE = 'LLM'", Compare(Field("span", "type"), "=", "LLM")),
        ("span.status IN ('ok', 'UNSET')", InList(Field("span", "status"), ("OK", "UNSET"))),
        ("span.inputs LIKE '%x%'", Compare(Field("span", "inputs"), "LIKE", "%x%")),
        ("span.outputs != 'null'", Compare(Field("span", "outputs"), "!=", "null")),
        ("span.attributes.llm.model = 'gpt'", Compare(Field("span", "attributes", "llm.model"), "=", "gpt")),
        ("span.attributes.`a b` > 0.5", Compare(Field("span", "attributes", "a b"), ">", 0.5)),
        ("span.attributes.n IN (1, 2.5)", InList(Field("span", "attributes", "n"), (1, 2.5))),
        # strings: doubled quotes and backslash escapes; other backslashes are kept (for LIKE escapes)
        ("name = 'it''s'", Compare(NAME, "=", "it's")),
        ("name = 'it\\'s'", Compare(NAME, "=", "it's")),
        ('name = "say ""hi"""', Compare(NAME, "=", 'say "hi"')),
        ("name = 'a\\\\b'", Compare(NAME, "=", "a\\b")),
        ("name LIKE '100\\%'", Compare(NAME, "LIKE", "100\\%")),
        ("name = ''", Compare(NAME, "=", "")),
        ("name = 'é ☃'", Compare(NAME, "=", "é ☃")),
    ],
)
def test_parse(text: str, expected: object) -> None:
    assert parse_filter(text) == expected


def test_boolean_precedence_and_grouping() -> None:
    a, b, c, d = (Compare(TS, "=", n) for n in range(4))
    parse = parse_filter
    assert parse("timestamp_ms = 0 OR timestamp_ms = 1 AND timestamp_ms = 2") == Or((a, And((b, c))))
    assert parse("timestamp_ms = 0 AND timestamp_ms = 1 OR timestamp_ms = 2") == Or((And((a, b)), c))
    assert parse("(timestamp_ms = 0 OR timestamp_ms = 1) AND timestamp_ms = 2") == And((Or((a, b)), c))
    assert parse("t = 0".replace("t", "timestamp_ms") + " and timestamp_ms = 1 AND timestamp_ms = 2") == And(
        (a, b, c)
    )
    assert parse("NOT timestamp_ms = 0 AND timestamp_ms = 1") == And((Not(a), b))
    assert parse("NOT (timestamp_ms = 0 OR timestamp_ms = 1)") == Not(Or((a, b)))
    assert parse("not not timestamp_ms = 0") == Not(Not(a))
    assert parse("((timestamp_ms = 3))") == d
    assert parse("timestamp_ms=0 or(timestamp_ms=1)") == Or((a, b))


@pytest.mark.parametrize(
    "text",
    [
        "status = 'OK'",
        "timestamp_ms > 1700000000000 AND execution_time_ms <= 2.5 OR NOT name IN ('a', 'b''c')",
        "NOT (tags.env = 'prod' OR tags.`my key` NOT LIKE '%\\%') AND metadata.`a\"b` ILIKE 'x_'",
        "span.attributes.`llm.model` IN ('gpt', 'claude') AND span.attributes.temperature >= -0.5",
        "(name = 'a' AND (name = 'b' OR name = 'c')) OR NOT NOT span.status != 'ERROR'",
        "span.inputs LIKE '%\"q\"%' AND span.type NOT IN ('LLM') AND request_id = 'tr-\\\\'",
        "tags.`we``ird\\\\key` = 'v' AND tags.a.b.c = 'w' AND total_tokens NOT IN (1, 2, 3)",
    ],
)
def test_canonical_round_trip(text: str) -> None:
    node = parse_filter(text)
    canonical = format_filter(node)
    assert parse_filter(canonical) == node
    assert format_filter(parse_filter(canonical)) == canonical


def test_canonical_form() -> None:
    node = parse_filter("timestamp >= 5 and (tags.`a b` like 'x' or not span.span_type = \"LLM\")")
    assert format_filter(node) == (
        "attributes.timestamp_ms >= 5 AND (tags.`a b` LIKE 'x' OR NOT span.type = 'LLM')"
    )


# -- errors ------------------------------------------------------------------------------------------------

MALFORMED = [
    # (filter, 0-based position of the offending token, words of the reason)
    ("status = ", 9, "expected a value after '='"),
    ("status =", 8, "expected a value after '='"),
    ("status", 6, "expected a comparator"),
    ("status 'OK'", 7, "expected a comparator"),
    ("foo = 'x'", 0, "unknown field 'foo'"),
    ("foo.bar = 'x'", 0, "unknown field prefix 'foo'"),
    ("attributes.foo = 1", 11, "unknown attribute 'foo'"),
    ("trace.status.x = 'OK'", 6, "unknown attribute 'status.x'"),
    ("span.foo = 'x'", 5, "unknown span field 'foo'"),
    ("span.name.x = 'x'", 5, "unknown span field 'name.x'"),
    ("name = 'abc", 7, "unterminated string"),
    ('name = "abc\\"', 7, "unterminated string"),
    ("tags.`abc = 'x'", 5, "unterminated key"),
    ("(status = 'OK'", 14, "expected ')' to close the '(' at position 0"),
    ("((status = 'OK') AND name = 'x'", 31, "expected ')' to close the '(' at position 0"),
    ("status = 'OK')", 13, "unbalanced ')'"),
    ("status = 'OK' AND", 17, "expected a condition after 'AND'"),
    ("status = 'OK' or", 16, "expected a condition after 'OR'"),
    ("OR status = 'OK'", 0, "expected a condition, got 'OR'"),
    ("AND status = 'OK'", 0, "expected a condition, got 'AND'"),
    ("status = 'OK' AND OR name = 'x'", 18, "expected a condition after 'AND', got 'OR'"),
    ("NOT", 3, "expected a condition after 'NOT'"),
    ("name = 'x' AND ()", 16, "expected a condition after '(', got ')'"),
    ("'OK' = status", 0, "expected a field name, got the value 'OK'"),
    ("name IN ()", 9, "empty IN list"),
    ("name NOT IN ()", 13, "empty NOT IN list"),
    ("name IN 'a'", 8, "expected '(' after 'IN'"),
    ("name IN ('a', )", 14, "expected a value after ','"),
    ("name IN ('a' 'b')", 13, "expected ',' or ')' in the IN list"),
    ("name IN ('a'", 12, "expected ',' or ')' in the IN list, got the end of the filter"),
    ("timestamp_ms LIKE '1%'", 13, "comparator LIKE is not allowed on attributes.timestamp_ms"),
    ("tags.env < 'x'", 9, "comparator < is not allowed on tags.env"),
    ("status LIKE 'O%'", 7, "comparator LIKE is not allowed on attributes.status"),
    ("span.inputs IN ('x')", 12, "comparator IN is not allowed on span.inputs"),
    ("timestamp_ms = 'abc'", 15, "needs a number, got the string 'abc'"),
    ("timestamp_ms IN (1, '2')", 20, "needs a number"),
    ("name = 5", 7, "needs a quoted string, got the number 5"),
    ("tags.env = 1.5", 11, "needs a quoted string"),
    ("name LIKE 5", 10, "needs a quoted string"),
    ("span.attributes.x LIKE 5", 23, "LIKE needs a quoted pattern"),
    ("span.attributes.x > 'a'", 20, "> compares numbers only"),
    ("span.attributes.x IN ('a', 1)", 27, "mixes strings and numbers"),
    ("status = 'OK' name = 'x'", 14, "unexpected 'name' after a complete condition"),
    ("status = 'OK' 'x'", 14, "unexpected \"'x'\" after a complete condition"),
    ("tags.`` = 'x'", 5, "empty key"),
    ("tags.\"\" = 'x'", 5, "empty key"),
    ("name = chat", 7, "quote strings: 'chat'"),
    ("status = 'DONE'", 9, "expected one of OK, ERROR, IN_PROGRESS"),
    ("span.status = 'FAILED'", 14, "expected one of OK, ERROR, UNSET"),
    ("name NOT 'x'", 9, "expected IN, LIKE or ILIKE after NOT"),
    ("name @ 'x'", 5, "unexpected character '@'"),
    ("name = 'x'; DROP TABLE traces", 10, "unexpected character ';'"),
    ("tags. = 'x'", 5, "expected a name or key after 'tags.'"),
    ("span.attributes.x.", 18, "expected a name or key after 'span.attributes.x.'"),
    ("tags = 'x'", 4, "'tags' needs a name after it"),
    ("span = 'x'", 4, "'span' needs a name after it"),
    ("span.attributes = 1", 15, "'span.attributes' needs a key"),
    ("tags.a.`b` = 'x'", 7, "a quoted key must follow the prefix directly"),
    ("name LIKE 'abc\\\\'", 10, "ends with an escape character"),
    ("timestamp_ms = 99999999999999999999", 15, "does not fit in 64 bits"),
    ("timestamp_ms = 1e999", 15, "out of range"),
    ("timestamp_ms = 12abc", 15, "invalid number '12abc'"),
    ("timestamp_ms = 1.", 15, "invalid number '1.'"),
    ("execution_time_ms > -", 20, "unexpected character '-'"),
    ("`status` = 'OK'", 0, "a backticked key must follow a prefix"),
    ("status == 'OK'", 8, "expected a value after '=', got '='"),
    ("status ! 'OK'", 7, "unexpected character '!'"),
    ("name = 'é' AND foo = 1", 15, "unknown field 'foo'"),  # positions count characters, not bytes
    ("status = 'OK'\nAND\n  foo = 1", 20, "unknown field 'foo'"),
]


def test_nesting_is_limited() -> None:
    deep = "(" * 20 + "status = 'OK'" + ")" * 20
    assert parse_filter(deep) == Compare(STATUS, "=", "OK")
    assert parse_filter("NOT " * 20 + "status = 'OK'") is not None
    with pytest.raises(FilterSyntaxError, match="more than 20 deep") as info:
        parse_filter("(" * 5000 + "status = 'OK'" + ")" * 5000)
    assert info.value.position == 20
    with pytest.raises(FilterSyntaxError, match="more than 20 deep") as info:
        parse_filter("NOT (" * 10 + "NOT status = 'OK'" + ")" * 10)
    assert info.value.position == 50  # the 21st level: the last NOT


def test_enough_malformed_kinds_are_covered() -> None:
    assert len({reason for _, _, reason in MALFORMED}) >= 30


@pytest.mark.parametrize(("text", "position", "reason"), MALFORMED)
def test_malformed_filter_points_at_the_token(text: str, position: int, reason: str) -> None:
    with pytest.raises(InvalidFilterError) as info:
        parse_filter(text)
    err = info.value
    assert isinstance(err, FilterSyntaxError)
    assert err.position == position
    assert reason in err.reason
    message = str(err)
    first, echo, caret = message.split("\n")
    assert first.startswith(f"Invalid filter {text!r} at position {position}: ")
    assert echo == "  " + text.replace("\n", " ")
    assert caret == " " * (2 + position) + "^"


def test_error_message_as_documented() -> None:
    with pytest.raises(InvalidFilterError) as info:
        parse_filter("status = ")
    assert str(info.value) == (
        "Invalid filter 'status = ' at position 9: expected a value after '=', got the end of the filter\n"
        "  status = \n"
        "           ^"
    )


def test_filter_error_pickles() -> None:
    with pytest.raises(FilterSyntaxError) as info:
        parse_filter("foo = 1")
    copy = pickle.loads(pickle.dumps(info.value))
    assert str(copy) == str(info.value) and copy.position == 0


def test_non_string_filter_is_rejected() -> None:
    with pytest.raises(InvalidFilterError):
        parse_filter(NOT_A_STRING)


# -- order_by -------------------------------------------------------------------------------------------


def test_parse_order_by() -> None:
    assert parse_order_by(None) == [] and parse_order_by([]) == []
    assert parse_order_by(
        ["attributes.timestamp_ms DESC", "name", "trace.execution_time_ms asc", "trace_id Desc"]
    ) == [
        OrderTerm("timestamp_ms", True),
        OrderTerm("name", False),
        OrderTerm("execution_time_ms", False),
        OrderTerm("request_id", True),
    ]
    assert parse_order_by(["timestamp", "total_tokens DESC", "status", "run_id"])[0] == OrderTerm(
        "timestamp_ms"
    )
    assert str(OrderTerm("name", True)) == "attributes.name DESC"
    assert parse_order_by([str(OrderTerm("name", True))]) == [OrderTerm("name", True)]


ORDER_MALFORMED = [
    ("timestamp_ms DOWN", 13, "expected ASC or DESC"),
    ("timestamp_ms DESC extra", 18, "unexpected 'extra' after the sort direction"),
    ("timestamp_ms ASC,", 16, "unexpected ','"),
    ("tags.priority ASC", 0, "can only order by trace attributes"),
    ("span.name", 0, "can only order by trace attributes"),
    ("foo", 0, "unknown field 'foo'"),
    ("attributes.foo DESC", 11, "unknown attribute 'foo'"),
    ("", 0, "empty order_by item"),
    ("   ", 3, "empty order_by item"),
    ("DESC", 0, "expected a trace attribute"),
    ("'timestamp_ms'", 0, "expected a trace attribute"),
    ("timestamp_ms 'DESC'", 13, "expected ASC or DESC"),
]


@pytest.mark.parametrize(("item", "position", "reason"), ORDER_MALFORMED)
def test_malformed_order_by(item: str, position: int, reason: str) -> None:
    with pytest.raises(InvalidFilterError) as info:
        parse_order_by(["name", item])
    err = info.value
    assert isinstance(err, FilterSyntaxError)
    assert (err.position, err.text) == (position, item)
    assert reason in err.reason
    assert str(err).startswith(f"Invalid order_by {item!r} at position {position}")
    assert str(err).endswith("\n  " + " " * position + "^")


def test_order_by_rejects_duplicates_and_non_lists() -> None:
    with pytest.raises(InvalidFilterError, match="already ordered on"):
        parse_order_by(["timestamp_ms", "attributes.timestamp DESC"])
    with pytest.raises(InvalidFilterError, match="list of strings"):
        parse_order_by(cast(Any, "timestamp_ms DESC"))
    with pytest.raises(InvalidFilterError, match="expected a string"):
        parse_order_by([NOT_A_STRING])


def test_effective_order_adds_default_and_tie_breaker() -> None:
    assert effective_order([]) == [OrderTerm("timestamp_ms", True), OrderTerm("request_id", True)]
    assert effective_order([OrderTerm("name"), OrderTerm("status", True)]) == [
        OrderTerm("name"),
        OrderTerm("status", True),
        OrderTerm("request_id", True),
    ]
    assert effective_order([OrderTerm("request_id"), OrderTerm("name")]) == [
        OrderTerm("request_id"),
        OrderTerm("name"),
    ]
    assert len(compile_order_by([])) == 2
    assert order_values([OrderTerm("name")], {"name": None, "request_id": "tr-1", "x": 1}) == [None, "tr-1"]
    with pytest.raises(InvalidFilterError, match="expected 2 sort values"):
        keyset_condition([], [1])


def test_compiled_order_by_uses_explicit_nulls_only_on_nullable_columns() -> None:
    from sqlalchemy.dialects import postgresql, sqlite

    terms = parse_order_by(["execution_time_ms ASC", "name DESC", "timestamp_ms DESC"])
    clauses = compile_order_by(terms)
    lite = [str(c.compile(dialect=sqlite.dialect())) for c in clauses]
    assert lite == [
        "traces.execution_time_ms ASC NULLS FIRST",
        "traces.name DESC NULLS LAST",
        "traces.timestamp_ms DESC",
        "traces.request_id DESC",
    ]
    pg = [str(c.compile(dialect=postgresql.dialect())) for c in clauses]
    assert pg[1] == 'traces.name COLLATE "C" DESC NULLS LAST'


# -- the reference evaluator ------------------------------------------------------------------------------


def _span(name: str, span_id: int, parent: int | None, **attrs: object) -> Span:
    raw = {key: dumps(value) for key, value in attrs.items()}
    return Span(
        name=name,
        trace_id=1,
        span_id=span_id,
        parent_id=parent,
        start_time_ns=span_id,
        end_time_ns=span_id + 1,
        status=SpanStatus(SpanStatusCode.ERROR if name == "bad" else SpanStatusCode.OK),
        attributes=raw,
    )


@pytest.fixture
def trace() -> Trace:
    info = TraceInfo(
        request_id="tr-1",
        experiment_id="1",
        timestamp_ms=1000,
        execution_time_ms=None,
        status=TraceStatus.IN_PROGRESS,
        request_metadata={
            "spanlog.sourceRun": "run1",
            "spanlog.inputTokens": "12",
            "spanlog.totalTokens": "x",
        },
        tags={"env": "prod", "a.b": "Hello World"},
    )
    spans = [
        _span("root", 1, None, **{SpanAttributeKey.INPUTS: {"q": "hi"}, SpanAttributeKey.SPAN_TYPE: "CHAIN"}),
        _span("bad", 2, 1, **{"llm.model": "GPT-4", "n": 3, "flag": True, "s": "5", "lst": [1]}),
    ]
    return Trace(info, TraceData(spans))


def test_trace_attribute_values(trace: Trace) -> None:
    assert trace_attribute(trace, "status") == "IN_PROGRESS"
    assert trace_attribute(trace, "name") == "root"
    assert trace_attribute(trace, "run_id") == "run1"
    assert trace_attribute(trace, "input_tokens") == 12
    assert trace_attribute(trace, "output_tokens") is None
    assert trace_attribute(trace, "total_tokens") is None  # not a number
    assert trace_attribute(trace, "execution_time_ms") is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("status = 'IN_PROGRESS'", True),
        ("name = 'root' AND run_id = 'run1' AND input_tokens = 12", True),
        # a missing value matches no comparison, not even != / NOT IN; NOT makes it true
        ("execution_time_ms != 5", False),
        ("execution_time_ms NOT IN (5)", False),
        ("NOT execution_time_ms = 5", True),
        ("output_tokens < 100", False),
        ("tags.missing != 'x'", False),
        ("tags.missing NOT LIKE 'x'", False),
        ("NOT tags.missing = 'x'", True),
        ("tags.env != 'dev'", True),
        ("tags.a.b LIKE 'Hello%'", True),
        ("tags.a.b LIKE 'hello%'", False),
        ("tags.a.b ILIKE 'hello%'", True),
        ("tags.a.b LIKE 'Hello_World'", True),
        ("tags.a.b NOT ILIKE '%WORLD'", False),
        ("metadata.`spanlog.sourceRun` = 'run1'", True),
        # span conditions: some span satisfies each of them
        ("span.name = 'bad' AND span.name = 'root'", True),
        ("span.name != 'root'", True),
        ("span.status = 'ERROR' AND span.type = 'CHAIN'", True),
        ("span.type = 'UNKNOWN'", True),
        ('span.inputs = \'{"q":"hi"}\'', True),
        ("span.inputs LIKE '%\"hi\"%'", True),
        ("span.outputs LIKE '%'", False),
        # span attributes: strings match strings, numbers match numbers; booleans and lists never
        ("span.attributes.llm.model = 'GPT-4'", True),
        ("span.attributes.`llm.model` ILIKE 'gpt%'", True),
        ("span.attributes.n = 3", True),
        ("span.attributes.n = '3'", False),
        ("span.attributes.n > 2.5 AND span.attributes.n <= 3", True),
        ("span.attributes.s = '5'", True),
        ("span.attributes.s = 5", False),
        ("span.attributes.flag = 1", False),
        ("span.attributes.lst LIKE '%'", False),
        ("span.attributes.missing != 'x'", False),
        # spanlog's reserved attributes have their own columns, not span.attributes
        ("span.attributes.`spanlog.spanType` = 'CHAIN'", False),
    ],
)
def test_evaluate(trace: Trace, text: str, expected: bool) -> None:
    assert evaluate(parse_filter(text), trace) is expected


def test_evaluate_none_matches_everything(trace: Trace) -> None:
    assert evaluate(None, trace) is True


@pytest.mark.parametrize(
    ("pattern", "value", "like", "ilike"),
    [
        ("abc", "abc", True, True),
        ("abc", "ABC", False, True),
        ("a%", "a", True, True),
        ("a%", "a\nb", True, True),
        ("a_c", "abc", True, True),
        ("a_c", "ac", False, False),
        ("a_c", "aéc", True, True),
        ("100\\%", "100%", True, True),
        ("100\\%", "1000", False, False),
        ("a\\_b", "a_b", True, True),
        ("a\\_b", "axb", False, False),
        ("a\\\\b", "a\\b", True, True),
        ("x*y?[z]", "x*y?[z]", True, True),
        ("É%", "é", False, False),  # only ASCII letters fold
    ],
)
def test_like_semantics(pattern: str, value: str, like: bool, ilike: bool) -> None:
    trace = Trace(TraceInfo("tr-1", "1", 0, 0, TraceStatus.OK, tags={"k": value}), TraceData([]))
    assert evaluate(Compare(Field("tag", key="k"), "LIKE", pattern), trace) is like
    assert evaluate(Compare(Field("tag", key="k"), "ILIKE", pattern), trace) is ilike
    assert evaluate(Compare(Field("tag", key="k"), "NOT LIKE", pattern), trace) is not like


def test_sort_traces_puts_nulls_first_ascending() -> None:
    def make(rid: str, ms: int | None) -> Trace:
        return Trace(TraceInfo(rid, "1", 0, ms, TraceStatus.OK), TraceData([]))

    traces = [make("tr-b", 5), make("tr-a", None), make("tr-c", 5), make("tr-d", 1)]
    asc = sort_traces(traces, parse_order_by(["execution_time_ms"]))
    assert [t.info.request_id for t in asc] == ["tr-a", "tr-d", "tr-b", "tr-c"]
    desc = sort_traces(traces, parse_order_by(["execution_time_ms DESC"]))
    assert [t.info.request_id for t in desc] == ["tr-c", "tr-b", "tr-d", "tr-a"]
