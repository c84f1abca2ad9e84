"""Traced generators and async generators: one span per iteration, ended exactly once however it stops."""

from __future__ import annotations

import asyncio
import gc

import pytest

import spanlog

from tree_helpers import assert_well_formed, tree


@spanlog.trace
def child(i):
    return i * 10


@spanlog.trace(span_type="CHAT_MODEL")
def stream(n, prefix="t"):
    for i in range(n):
        child(i)
        yield f"{prefix}{i}"
    return "done"


def test_generator_span_covers_iteration_and_outputs_items() -> None:
    assert list(stream(3)) == ["t0", "t1", "t2"]
    trace = spanlog.get_last_active_trace()
    assert tree(trace, io=True) == (
        'stream [CHAT_MODEL] OK\n  in: {"n":3,"prefix":"t"}\n  out: ["t0","t1","t2"]\n'
        '  child [UNKNOWN] OK\n    in: {"i":0}\n    out: 0\n'
        '  child [UNKNOWN] OK\n    in: {"i":1}\n    out: 10\n'
        '  child [UNKNOWN] OK\n    in: {"i":2}\n    out: 20'
    )
    assert_well_formed(trace)


def test_generator_return_value_and_send_are_passed_through() -> None:
    @spanlog.trace
    def echo():
        received = []
        value = yield "ready"
        while value is not None:
            received.append(value)
            value = yield value.upper()
        return received

    gen = echo()
    assert next(gen) == "ready"
    assert gen.send("a") == "A"
    assert gen.send("b") == "B"
    with pytest.raises(StopIteration) as stop:
        gen.send(None)
    assert stop.value.value == ["a", "b"]
    assert spanlog.get_last_active_trace().data.spans[0].outputs == ["ready", "A", "B"]


def test_break_early_ends_span_once_with_items_so_far(traces) -> None:
    with spanlog.start_span("consumer"):
        for item in stream(100):
            if item == "t1":
                break
    (trace,) = traces.get_traces()
    assert tree(trace) == (
        "consumer [UNKNOWN] OK\n  stream [CHAT_MODEL] OK\n    child [UNKNOWN] OK\n    child [UNKNOWN] OK"
    )
    assert trace.data.spans[1].outputs == ["t0", "t1"]
    assert_well_formed(trace)


def test_close_and_garbage_collection_end_the_span(traces) -> None:
    gen = stream(10)
    next(gen)
    gen.close()
    gen.close()  # a second close is harmless
    gen2 = stream(10)
    next(gen2)
    next(gen2)
    del gen2
    gc.collect()
    first, second = traces.get_traces()
    assert first.data.spans[0].outputs == ["t0"] and second.data.spans[0].outputs == ["t0", "t1"]
    assert [len(t.data.spans) for t in (first, second)] == [2, 3]
    assert spanlog.tracing.stats() == {}


def test_generator_that_raises_midway_records_error_and_partial_outputs() -> None:
    @spanlog.trace
    def flaky():
        yield 1
        raise RuntimeError("stream broke")

    got = []
    with pytest.raises(RuntimeError, match="stream broke"):
        for item in flaky():
            got.append(item)
    assert got == [1]
    span = spanlog.get_last_active_trace().data.spans[0]
    assert span.status.description == "RuntimeError: stream broke"
    assert span.outputs == [1]
    assert span.events[0].attributes["exception.type"] == "RuntimeError"


def test_exception_thrown_into_generator_reaches_it() -> None:
    @spanlog.trace
    def catcher():
        try:
            yield 1
        except KeyError:
            yield "caught"

    gen = catcher()
    next(gen)
    assert gen.throw(KeyError("k")) == "caught"
    gen.close()
    assert spanlog.get_last_active_trace().data.spans[0].outputs == [1, "caught"]


def test_active_span_inside_generator_is_the_generator_span_only_while_it_runs() -> None:
    seen = []

    @spanlog.trace
    def gen():
        seen.append(spanlog.get_current_active_span().name)
        yield 1
        seen.append(spanlog.get_current_active_span().name)
        yield 2

    with spanlog.start_span("outer"):
        for _ in gen():
            seen.append(spanlog.get_current_active_span().name)
    assert seen == ["gen", "outer", "gen", "outer"]


def test_unstarted_generator_records_nothing(traces) -> None:
    stream(3)
    gc.collect()
    assert traces.get_traces() == []


@spanlog.trace(span_type="CHAT_MODEL")
async def astream(n):
    for i in range(n):
        await asyncio.sleep(0)
        child(i)
        yield i


async def test_async_generator_span_and_children() -> None:
    items = [i async for i in astream(3)]
    assert items == [0, 1, 2]
    trace = spanlog.get_last_active_trace()
    assert tree(trace, io=True) == (
        'astream [CHAT_MODEL] OK\n  in: {"n":3}\n  out: [0,1,2]\n'
        '  child [UNKNOWN] OK\n    in: {"i":0}\n    out: 0\n'
        '  child [UNKNOWN] OK\n    in: {"i":1}\n    out: 10\n'
        '  child [UNKNOWN] OK\n    in: {"i":2}\n    out: 20'
    )


async def test_async_generator_break_and_aclose(traces) -> None:
    async for i in astream(50):
        if i == 1:
            break
    agen = astream(50)
    await agen.__anext__()
    await agen.aclose()
    await asyncio.sleep(0)
    gc.collect()
    await asyncio.sleep(0)
    outs = sorted(t.data.spans[0].outputs for t in traces.get_traces())
    assert outs == [[0], [0, 1]]


async def test_async_generator_error_and_asend() -> None:
    @spanlog.trace
    async def agen():
        value = yield "start"
        yield value * 2
        raise ValueError("late failure")

    gen = agen()
    assert await gen.asend(None) == "start"
    assert await gen.asend(21) == 42
    with pytest.raises(ValueError, match="late failure"):
        await gen.asend(None)
    span = spanlog.get_last_active_trace().data.spans[0]
    assert span.outputs == ["start", 42] and span.status.status_code.value == "ERROR"


def test_many_items_are_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    from spanlog.tracing import fluent

    monkeypatch.setattr(fluent, "_MAX_KEPT_ITEMS", 5)

    @spanlog.trace
    def numbers():
        yield from range(12)

    assert sum(numbers()) == 66
    span = spanlog.get_last_active_trace().data.spans[0]
    assert span.outputs == [0, 1, 2, 3, 4]
    assert span.get_attribute("spanlog.outputsDroppedItems") == 7
