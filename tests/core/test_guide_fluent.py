"""The "Tracing Fluent APIs" examples of the tracing guide, run as written (mlflow spelled spanlog)."""

from __future__ import annotations

import asyncio
import math

import pytest

import spanlog
from spanlog.entities import SpanType

from tree_helpers import assert_well_formed, tree


def test_trace_decorator_captures_inputs_with_defaults_and_output() -> None:
    spanlog.set_experiment("Tracing Demo")

    @spanlog.trace
    def some_function(x, y, z=2):
        return x + (y - z)

    assert some_function(2, 4) == 4
    trace = spanlog.get_last_active_trace()
    assert tree(trace, io=True) == ('some_function [UNKNOWN] OK\n  in: {"x":2,"y":4,"z":2}\n  out: 4')
    experiment = spanlog.set_experiment("Tracing Demo")
    assert trace.info.experiment_id == experiment.experiment_id != "0"
    assert trace.info.tags["spanlog.traceName"] == "some_function"


def test_decorator_with_name_type_and_attributes() -> None:
    @spanlog.trace(name="My Span", span_type="func", attributes={"a": 1, "b": 2})
    def my_func(x, y):
        return x + y

    assert my_func(1, 2) == 3
    trace = spanlog.get_last_active_trace()
    assert tree(trace, io=True, attributes=True) == (
        'My Span [func] OK\n  in: {"x":1,"y":2}\n  out: 3\n  @a: 1\n  @b: 2'
    )
    span = trace.data.spans[0]
    assert span.attributes["a"] == 1 and span.span_type == "func"


async def test_async_function_is_traced() -> None:
    class FakeCompletions:
        async def create(self, model, messages):
            await asyncio.sleep(0)
            return {"model": model, "choices": [{"message": {"role": "assistant", "content": "hi"}}]}

    completions = FakeCompletions()

    @spanlog.trace
    async def async_func(message: str):
        return await completions.create(model="gpt-4o", messages=[{"role": "user", "content": message}])

    result = await async_func("What is MLflow Tracing?")
    assert result["model"] == "gpt-4o"
    trace = spanlog.get_last_active_trace()
    assert tree(trace, io=True, width=200) == (
        'async_func [UNKNOWN] OK\n  in: {"message":"What is MLflow Tracing?"}\n'
        '  out: {"model":"gpt-4o","choices":[{"message":{"role":"assistant","content":"hi"}}]}'
    )


def test_parent_child_relationships() -> None:
    @spanlog.trace(span_type="func", attributes={"key": "value"})
    def add_1(x):
        return x + 1

    @spanlog.trace(span_type="func", attributes={"key1": "value1"})
    def minus_1(x):
        return x - 1

    @spanlog.trace(name="Trace Test")
    def trace_test(x):
        step1 = add_1(x)
        return minus_1(step1)

    assert trace_test(4) == 4
    trace = spanlog.get_last_active_trace()
    assert tree(trace, io=True) == (
        "Trace Test [UNKNOWN] OK\n"
        '  in: {"x":4}\n  out: 4\n'
        "  add_1 [func] OK\n"
        '    in: {"x":4}\n    out: 5\n'
        "  minus_1 [func] OK\n"
        '    in: {"x":5}\n    out: 4'
    )
    assert_well_formed(trace)


def test_span_type_builtin_and_custom() -> None:
    @spanlog.trace(span_type=SpanType.RETRIEVER)
    def retrieve_documents(query: str): ...

    retrieve_documents("q")
    assert tree(spanlog.get_last_active_trace()) == "retrieve_documents [RETRIEVER] OK"

    x, y, z = 1, 2, 0
    with spanlog.start_span(name="add", span_type="MATH") as span:
        span.set_inputs({"x": z, "y": y})
        z = x + y
        span.set_outputs({"z": z})
        assert span.span_type == "MATH"
    assert (
        tree(spanlog.get_last_active_trace(), io=True) == 'add [MATH] OK\n  in: {"x":0,"y":2}\n  out: {"z":3}'
    )
    assert set(SpanType.ALL) == {
        "LLM", "CHAT_MODEL", "CHAIN", "AGENT", "TOOL", "EMBEDDING", "RETRIEVER", "PARSER", "RERANKER", "UNKNOWN",
    }  # fmt: skip


@spanlog.trace
def first_func(x, y=2):
    return x + y


@spanlog.trace
def second_func(a, b=3):
    return a * b


def do_math(a, x, operation="add"):
    with spanlog.start_span(name="Math") as span:
        span.set_inputs({"a": a, "x": x})
        span.set_attributes({"mode": operation})
        first = first_func(x)
        second = second_func(a)
        result = None
        if operation == "add":
            result = first + second
        elif operation == "subtract":
            result = first - second
        else:
            raise ValueError(f"Unsupported Operation Mode: {operation}")
        span.set_outputs({"result": result})
        return result


def test_context_handler_groups_children() -> None:
    assert do_math(8, 3, "add") == 29
    trace = spanlog.get_last_active_trace()
    assert tree(trace, io=True, attributes=True) == (
        "Math [UNKNOWN] OK\n"
        '  in: {"a":8,"x":3}\n  out: {"result":29}\n  @mode: "add"\n'
        "  first_func [UNKNOWN] OK\n"
        '    in: {"x":3,"y":2}\n    out: 5\n'
        "  second_func [UNKNOWN] OK\n"
        '    in: {"a":8,"b":3}\n    out: 24'
    )
    assert trace.data.request == '{"a":8,"x":3}' and trace.data.response == '{"result":29}'


def test_error_handling_keeps_partial_data() -> None:
    with pytest.raises(ValueError, match="Unsupported Operation Mode: multiply"):
        do_math(3, 2, "multiply")
    trace = spanlog.get_last_active_trace()
    assert tree(trace, io=True, attributes=True) == (
        "Math [UNKNOWN] ERROR (ValueError: Unsupported Operation Mode: multiply)\n"
        '  in: {"a":3,"x":2}\n  @mode: "multiply"\n'
        "  first_func [UNKNOWN] OK\n"
        '    in: {"x":2,"y":2}\n    out: 4\n'
        "  second_func [UNKNOWN] OK\n"
        '    in: {"a":3,"b":3}\n    out: 9'
    )
    assert trace.info.status.value == "ERROR"
    (event,) = trace.data.spans[0].events
    assert event.name == "exception"
    assert event.attributes["exception.type"] == "ValueError"
    assert event.attributes["exception.message"] == "Unsupported Operation Mode: multiply"
    assert (
        'raise ValueError(f"Unsupported Operation Mode: {operation}")'
        in event.attributes["exception.stacktrace"]
    )


def invocation(x, y=4, exp=2):
    with spanlog.start_span(name="Parent") as span:
        span.set_attributes({"level": "parent", "override": y == 4})
        span.set_inputs({"x": x, "y": y, "exp": exp})
        traced_pow = spanlog.trace(math.pow)
        raised = traced_pow(x, exp)
        traced_factorial = spanlog.trace(math.factorial)
        factorial = traced_factorial(int(raised))
        response = spanlog.trace(math.sqrt)(factorial)
        span.set_outputs({"result": response})
        return response


def test_function_wrapping_of_builtins(traces) -> None:
    spanlog.set_experiment("External Function Tracing")
    results = [invocation(i) for i in range(8)]
    assert results == [math.sqrt(math.factorial(i * i)) for i in range(8)]
    trace = spanlog.get_last_active_trace()
    assert tree(trace, io=True, attributes=True, width=60) == (
        "Parent [UNKNOWN] OK\n"
        '  in: {"x":7,"y":4,"exp":2}\n'
        '  out: {"result":2.4663370897634156e+31}\n'
        '  @level: "parent"\n  @override: true\n'
        "  pow [UNKNOWN] OK\n"
        '    in: {"x":7,"y":2}\n    out: 49.0\n'
        "  factorial [UNKNOWN] OK\n"
        '    in: {"n":49}\n    out: 60828186403426756087225216332129537688755283137921024000000…\n'
        "  sqrt [UNKNOWN] OK\n"
        '    in: {"x":608281864034267560872252163321295376887552831379210240…\n'
        "    out: 2.4663370897634156e+31"
    )
    # the 63-digit factorial is stored exactly, beyond what orjson can encode
    assert trace.data.spans[2].to_dict()["attributes"]["spanlog.spanOutputs"] == str(math.factorial(49))
    recorded = traces.get_traces()
    assert len(recorded) == 8 and len({t.info.request_id for t in recorded}) == 8
    assert all(t.info.experiment_id == trace.info.experiment_id for t in recorded)
