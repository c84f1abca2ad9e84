"""``@spanlog.trace`` on every kind of callable: inputs binding, metadata, methods, odd callables."""

from __future__ import annotations

import functools
import inspect
from typing import Any

import pytest

import spanlog

from tree_helpers import tree


def last_span(index: int = 0) -> Any:
    trace = spanlog.get_last_active_trace()
    assert trace is not None
    return trace.data.spans[index]


def test_wraps_metadata_and_signature_preserved() -> None:
    def original(a: int, b: str = "x", *, c: float = 1.0) -> str:
        """Docstring."""
        return f"{a}{b}{c}"

    traced = spanlog.trace(original)
    assert traced.__name__ == "original"
    assert traced.__doc__ == "Docstring."
    assert traced.__wrapped__ is original
    assert inspect.signature(traced) == inspect.signature(original)
    assert traced.__module__ == original.__module__
    assert traced(1) == "1x1.0"
    assert last_span().inputs == {"a": 1, "b": "x", "c": 1.0}


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (lambda f: f(1), {"a": 1, "b": 2, "args": [], "c": 3}),
        (lambda f: f(1, 5, 6, 7), {"a": 1, "b": 5, "args": [6, 7], "c": 3}),
        (lambda f: f(1, c=9, extra="e"), {"a": 1, "b": 2, "args": [], "c": 9, "extra": "e"}),
        (lambda f: f(a=4, b=5), {"a": 4, "b": 5, "args": [], "c": 3}),
    ],
)
def test_inputs_bind_varargs_kwonly_and_varkw(call: Any, expected: dict[str, Any]) -> None:
    @spanlog.trace
    def f(a, b=2, *args, c=3, **kwargs):
        return a

    call(f)
    assert last_span().inputs == expected


def test_keyword_call_of_plain_function_keeps_signature_order() -> None:
    @spanlog.trace
    def f(x, y=1, z=2):
        return x

    f(1, z=5)
    assert list(last_span().inputs) == ["x", "y", "z"]
    assert last_span().inputs == {"x": 1, "y": 1, "z": 5}


def test_wrong_call_raises_users_type_error_and_records_it() -> None:
    @spanlog.trace
    def f(x):
        return x

    with pytest.raises(TypeError):
        f(1, 2, 3)
    span = last_span()
    assert span.inputs == {"args": [1, 2, 3]}
    assert span.status.status_code.value == "ERROR"


def test_methods_classmethods_staticmethods_drop_self_and_cls() -> None:
    class Calc:
        factor = 10

        def __init__(self) -> None:
            self.offset = 1

        @spanlog.trace
        def method(self, x, y=2):
            return x * y + self.offset

        @spanlog.trace
        @classmethod
        def klass(cls, x):
            return x * cls.factor

        @classmethod
        @spanlog.trace
        def klass_inner(cls, x):
            return x + cls.factor

        @spanlog.trace(name="static")
        @staticmethod
        def static(x):
            return -x

    calc = Calc()
    assert calc.method(3) == 7
    assert last_span().inputs == {"x": 3, "y": 2} and last_span().name == "method"
    assert Calc.klass(2) == 20 and last_span().inputs == {"x": 2}
    assert Calc.klass_inner(2) == 12 and last_span().inputs == {"x": 2}
    assert calc.static(4) == -4 and Calc.static(5) == -5
    assert last_span().inputs == {"x": 5} and last_span().name == "static"


def test_callable_objects_and_partials() -> None:
    class Scorer:
        def __call__(self, text, weight=2):
            return len(text) * weight

    traced = spanlog.trace(Scorer(), name="scorer")
    assert traced("abc") == 6
    assert (
        tree(spanlog.get_last_active_trace(), io=True)
        == 'scorer [UNKNOWN] OK\n  in: {"text":"abc","weight":2}\n  out: 6'
    )

    def power(base, exp):
        return base**exp

    square = spanlog.trace(functools.partial(power, exp=2), name="square")
    assert square(7) == 49
    assert last_span().inputs == {"base": 7, "exp": 2}


def test_builtins_without_signature_fall_back_to_args() -> None:
    traced_max = spanlog.trace(max)
    assert traced_max(3, 9, 4) == 9
    assert last_span().name == "max"
    assert last_span().inputs == {"args": [3, 9, 4]}
    assert last_span().outputs == 9


def test_trace_rejects_non_callables() -> None:
    with pytest.raises(spanlog.SpanlogError, match="needs a function"):
        spanlog.trace(42)


def test_decorated_function_result_is_returned_unchanged() -> None:
    sentinel = object()

    @spanlog.trace
    def f():
        return sentinel

    assert f() is sentinel
    assert last_span().outputs.startswith("<object object at")


def test_get_current_active_span_and_update_current_trace() -> None:
    assert spanlog.get_current_active_span() is None

    @spanlog.trace
    def inner():
        span = spanlog.get_current_active_span()
        span.set_attribute("seen", True)
        spanlog.update_current_trace(tags={"user": "u1", "n": 3}, metadata={"session": "s1"})
        return span.name

    @spanlog.trace
    def outer():
        return inner()

    assert outer() == "inner"
    trace = spanlog.get_last_active_trace()
    assert trace.info.tags["user"] == "u1" and trace.info.tags["n"] == "3"
    assert trace.info.request_metadata["session"] == "s1"
    assert trace.data.spans[1].get_attribute("seen") is True
    assert spanlog.get_current_active_span() is None


def test_update_current_trace_without_trace_warns(caplog: pytest.LogCaptureFixture) -> None:
    spanlog.update_current_trace(tags={"a": "b"})
    assert "no active trace" in caplog.text


def test_setters_after_end_are_ignored_with_warning(caplog: pytest.LogCaptureFixture) -> None:
    with spanlog.start_span("s") as span:
        span.set_outputs(1)
    span.set_outputs(2)
    span.set_attribute("late", True)
    assert span.outputs == 1 and "late" not in span.attributes
    assert "already ended" in caplog.text
    assert spanlog.tracing.stats()["late-set_outputs"] == 1


def test_user_can_end_a_fluent_span_early() -> None:
    with spanlog.start_span("outer"):
        with spanlog.start_span("inner") as inner:
            inner.end(outputs="early")
            assert inner.end_time_ns is not None
    assert (
        tree(spanlog.get_last_active_trace(), io=True)
        == 'outer [UNKNOWN] OK\n  inner [UNKNOWN] OK\n    out: "early"'
    )


def test_span_properties() -> None:
    with spanlog.start_span("parent", span_type="CHAIN", attributes={"k": [1, 2]}) as parent:
        with spanlog.start_span("child") as child:
            child.add_event("retry", {"attempt": 1})
            child.set_status("ERROR")
    assert parent.request_id == parent.trace_id == child.request_id
    assert len(parent.span_id) == 16 and child.parent_id == parent.span_id and parent.parent_id is None
    assert parent.span_type == "CHAIN" and parent.attributes["k"] == [1, 2]
    assert child.status.status_code.value == "ERROR"
    assert [(e.name, e.attributes) for e in child.events] == [("retry", {"attempt": 1})]
    assert parent.start_time_ns <= child.start_time_ns <= child.end_time_ns <= parent.end_time_ns
