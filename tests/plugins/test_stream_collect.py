"""Stream proxies in ``collect`` mode and ``for`` loops over a proxy: items are collected with their arrival
times, a loop runs on a generator that resumes where a ``break`` left it, and the span ends exactly once."""

from __future__ import annotations

import inspect
import time
import types
from typing import Any

import pytest

import spanlog
from spanlog.entities import SpanEvent
from spanlog.entities.span_status import SpanStatusCode
from spanlog.plugins import StreamProxy, span_stream, start_detached_span
from spanlog.plugins.llm import set_llm_attributes

from tree_helpers import the_span, watch_finishes


def collecting_stream(stream: Any, *, collect: bool = True) -> tuple[Any, list[Any], list[Any], list[tuple]]:
    """Wrap ``stream`` with a fresh span; returns the proxy, the collected items, the on_item calls and the
    finishes."""
    items: list[Any] = []
    on_item_calls: list[Any] = []
    span = start_detached_span("stream", span_type="LLM")
    proxy = span_stream(stream, span, on_item=on_item_calls.append, collect=items if collect else None)
    finishes = watch_finishes(proxy)
    return proxy, items, on_item_calls, finishes


def test_collect_appends_items_with_arrival_times_instead_of_calling_on_item(lib: types.ModuleType) -> None:
    """With ``collect``, each item is appended as (item, arrival ns) and on_item is never called."""
    before = time.time_ns()
    proxy, items, on_item_calls, finishes = collecting_stream(lib.Stream(["a", "b", "c"]))
    assert list(proxy) == ["a", "b", "c"]
    after = time.time_ns()
    assert [item for item, _ in items] == ["a", "b", "c"] and on_item_calls == []
    stamps = [ns for _, ns in items]
    assert before <= stamps[0] <= stamps[1] <= stamps[2] <= after
    assert finishes == [("exhausted", None)]
    assert the_span().status.status_code is SpanStatusCode.OK


@pytest.mark.parametrize("collect", [True, False], ids=["collect", "on_item"])
def test_a_for_loop_iterates_a_generator_over_the_same_items(lib: types.ModuleType, collect: bool) -> None:
    """``iter(proxy)`` is a generator (not the proxy) that yields the stream's own items, unchanged."""
    objects = [object(), object()]
    proxy, items, on_item_calls, _finishes = collecting_stream(lib.Stream(objects), collect=collect)
    loop = iter(proxy)
    assert inspect.isgenerator(loop) and loop is not proxy
    got = list(loop)
    assert len(got) == 2 and all(a is b for a, b in zip(got, objects))
    seen = [item for item, _ in items] if collect else on_item_calls
    assert len(seen) == 2 and all(a is b for a, b in zip(seen, objects))


@pytest.mark.parametrize("collect", [True, False], ids=["collect", "on_item"])
def test_break_then_another_loop_continues_where_it_stopped(lib: types.ModuleType, collect: bool) -> None:
    """A ``break`` does not end the stream: the next loop (or next()) resumes after the last item taken."""
    proxy, items, on_item_calls, finishes = collecting_stream(lib.Stream(list("abcdef")), collect=collect)
    first = []
    for item in proxy:
        first.append(item)
        if item == "b":
            break
    assert first == ["a", "b"] and finishes == [] and not proxy.finished
    assert spanlog.get_last_active_trace() is None, "the span is still open"
    assert next(proxy) == "c"
    second = []
    for item in proxy:
        second.append(item)
        if item == "d":
            break
    assert second == ["d"]
    assert list(proxy) == ["e", "f"]
    assert finishes == [("exhausted", None)]
    seen = [item for item, _ in items] if collect else on_item_calls
    assert seen == list("abcdef")


def test_exhaustion_ends_the_span_once(lib: types.ModuleType) -> None:
    """Looping again over an exhausted proxy yields nothing and never ends the span a second time."""
    proxy, items, _on_item, finishes = collecting_stream(lib.Stream(["a", "b"]))
    assert [item for item in proxy] == ["a", "b"]
    assert [item for item in proxy] == [] and list(proxy) == []
    with pytest.raises(StopIteration):
        next(proxy)
    assert finishes == [("exhausted", None)] and proxy.finished
    assert len(items) == 2
    span = the_span()
    assert span.status.status_code is SpanStatusCode.OK and span.events == []


def test_an_error_from_the_stream_ends_the_span_as_error_and_propagates_unchanged(
    lib: types.ModuleType,
) -> None:
    """The stream's own exception object reaches the loop; the span ends ERROR once, with the items so far."""
    boom = ValueError("connection reset")

    def failing() -> Any:
        yield "a"
        yield "b"
        raise boom

    proxy, items, _on_item, finishes = collecting_stream(failing())
    got = []
    with pytest.raises(ValueError) as excinfo:
        for item in proxy:
            got.append(item)
    assert excinfo.value is boom
    assert got == ["a", "b"] and [item for item, _ in items] == ["a", "b"]
    assert finishes == [("error", "ValueError")]
    span = the_span()
    assert span.status.status_code is SpanStatusCode.ERROR
    assert span.status.description == "ValueError: connection reset"
    assert [e.name for e in span.events] == ["exception"]


def test_a_subclass_that_overrides_next_is_iterated_through_it(lib: types.ModuleType) -> None:
    """A StreamProxy subclass with its own ``__next__`` is its own iterator, so a for loop goes through it."""

    class Upper(StreamProxy):
        def __next__(self) -> Any:
            return super().__next__().upper()

    finishes: list[str] = []
    proxy = Upper(lib.Stream(["a", "b"]), on_finish=lambda reason, error: finishes.append(reason))
    assert iter(proxy) is proxy
    assert [item for item in proxy] == ["A", "B"]
    assert finishes == ["exhausted"]


def test_closed_early_event_counts_collected_items(lib: types.ModuleType) -> None:
    """Breaking after two items and closing records ``stream_closed_early`` with items=2 in collect mode."""
    raw = lib.Stream(["a", "b", "c", "d"])
    proxy, items, _on_item, finishes = collecting_stream(raw)
    for item in proxy:
        if item == "b":
            break
    proxy.close()
    assert raw.closed and finishes == [("closed", None)] and len(items) == 2
    assert [(e.name, e.attributes) for e in the_span().events] == [
        ("stream_closed_early", {"reason": "closed", "items": 2})
    ]


def test_a_deferred_recorder_reassembles_the_collected_stream(lib: types.ModuleType) -> None:
    """The integration pattern: collect the stream, defer the reassembly; the trace reads it complete."""
    ran: list[int] = []

    def reassemble(span: Any, chunks: list[tuple[str, int]]) -> None:
        ran.append(len(chunks))
        span.set_outputs("".join(chunk for chunk, _ in chunks))
        span.add_event(SpanEvent("first_token", chunks[0][1]))
        set_llm_attributes(span, usage={"output_tokens": len(chunks)})

    items: list[tuple[str, int]] = []
    span = start_detached_span("llm", span_type="LLM")
    span.defer(reassemble, items)
    proxy = span_stream(lib.Stream(["Hel", "lo", "!", "?"]), span, collect=items)
    for chunk in proxy:
        if chunk == "!":
            break
    proxy.close()
    assert ran == [], "nothing was reassembled on the user's thread"

    trace = spanlog.get_last_active_trace()
    assert ran == [3]
    (stored,) = trace.data.spans
    assert stored.outputs == "Hello!" and trace.info.token_usage == {"output_tokens": 3}
    assert [e.name for e in stored.events] == ["first_token", "stream_closed_early"]
    assert stored.events[0].timestamp == items[0][1]
    assert stored.events[1].attributes == {"reason": "closed", "items": 3}


def test_a_loop_with_nothing_per_item_still_counts_what_it_handed_on(lib: types.ModuleType) -> None:
    """Neither on_item nor collect: the loop hands items on untouched, and the span's early-close event
    still says how many the user got, over two loops and a ``next()`` in between."""
    raw = lib.Stream(["a", "b", "c", "d", "e"])
    span = start_detached_span("stream", span_type="LLM")
    proxy = span_stream(raw, span)
    finishes = watch_finishes(proxy)
    for item in proxy:
        if item == "b":
            break
    assert next(proxy) == "c"
    for item in proxy:
        if item == "d":
            break
    proxy.close()
    assert finishes == [("closed", None)]
    assert [(e.name, e.attributes) for e in the_span().events] == [
        ("stream_closed_early", {"reason": "closed", "items": 4})
    ]


def test_items_is_read_instead_of_iterating_the_stream(lib: types.ModuleType) -> None:
    """``items=``: the proxy reads the iterator the stream's own iteration hands on, not ``iter(stream)``;
    the user still gets the stream's items, and the span ends when that iterator does."""

    class Handing:
        def __init__(self, values: list[str]) -> None:
            self._iterator = iter(values)

        def __iter__(self) -> Any:
            raise AssertionError("the proxy reads _iterator directly")

    stream = Handing(["x", "y"])
    span = start_detached_span("stream", span_type="LLM")
    proxy = span_stream(stream, span, items=stream._iterator, is_async=False)
    finishes = watch_finishes(proxy)
    assert list(proxy) == ["x", "y"]
    assert finishes == [("exhausted", None)]
    assert the_span().status.status_code is SpanStatusCode.OK and the_span().events == []
