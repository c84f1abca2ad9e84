"""Stream proxies end their span exactly once on every way out of a stream, sync and async, and hand the
user exactly what the library's stream yields."""

from __future__ import annotations

import gc
import types
from typing import Any

import pytest

import spanlog
from spanlog.plugins import AsyncStreamProxy, StreamProxy, span_stream, start_detached_span, use_span

from tree_helpers import the_span, tree, watch_finishes


def stream_span(lib: types.ModuleType, stream: Any) -> tuple[Any, list[str], list[tuple]]:
    """Wrap ``stream`` the way an integration does; returns the proxy, the seen items and the finishes."""
    seen: list[str] = []
    span = start_detached_span("stream", span_type="LLM", inputs={"prompt": "a b c"})
    proxy = span_stream(stream, span, on_item=seen.append, outputs=lambda: " ".join(map(str, seen)))
    finishes = watch_finishes(proxy)
    return proxy, seen, finishes


def test_exhaustion(lib: types.ModuleType) -> None:
    raw = lib.Stream(["a", "b", "c"])
    proxy, _seen, finishes = stream_span(lib, raw)
    assert isinstance(proxy, lib.Stream) and proxy.response == "raw-response"
    assert list(proxy) == ["a", "b", "c"]
    assert finishes == [("exhausted", None)]
    span = the_span()
    assert span.outputs == "a b c" and span.status.status_code.value == "OK" and span.events == []
    list(proxy)  # iterating an exhausted stream again ends nothing twice
    assert finishes == [("exhausted", None)]


def test_error_mid_stream(lib: types.ModuleType) -> None:
    proxy, _seen, finishes = stream_span(lib, lib.Stream(["a", "b", "c"], fail_at=2))
    got = []
    with pytest.raises(lib.UserError, match="stream broke"):
        for item in proxy:
            got.append(item)
    assert got == ["a", "b"]
    assert finishes == [("error", "UserError")]
    span = the_span()
    assert span.status.status_code.value == "ERROR" and span.outputs == "a b"
    assert [e.name for e in span.events] == ["exception"]


def test_close(lib: types.ModuleType) -> None:
    raw = lib.Stream(["a", "b", "c"])
    proxy, _seen, finishes = stream_span(lib, raw)
    assert next(proxy) == "a"
    proxy.close()
    assert raw.closed and finishes == [("closed", None)]
    proxy.close()
    assert finishes == [("closed", None)]
    span = the_span()
    assert [(e.name, e.attributes) for e in span.events] == [
        ("stream_closed_early", {"reason": "closed", "items": 1})
    ]


def test_context_manager_exit(lib: types.ModuleType) -> None:
    raw = lib.Stream(["a", "b", "c"])
    proxy, _seen, finishes = stream_span(lib, raw)
    with proxy as entered:
        assert entered is proxy, "the with target is the proxy, so iteration stays observed"
        assert next(entered) == "a"
    assert raw.closed and finishes == [("exited", None)]


def test_exception_in_with_body(lib: types.ModuleType) -> None:
    proxy, _seen, finishes = stream_span(lib, lib.Stream(["a", "b"]))
    with pytest.raises(ZeroDivisionError):
        with proxy:
            next(proxy)
            1 / 0
    assert finishes == [("exited", "ZeroDivisionError")]
    assert the_span().status.status_code.value == "OK", "the user's error after the stream is not the LLM's"


def test_stream_manager_enters_into_a_proxied_stream(lib: types.ModuleType) -> None:
    manager = lib.StreamManager(["x", "y"])
    proxy, seen, finishes = stream_span(lib, manager)
    with proxy as stream:
        assert isinstance(stream, StreamProxy) and isinstance(stream, lib.Stream)
        assert list(stream) == ["x", "y"]
    assert seen == ["x", "y"] and finishes == [("exhausted", None)]


def test_break_then_garbage_collection(lib: types.ModuleType) -> None:
    proxy, _seen, finishes = stream_span(lib, lib.Stream(["a", "b", "c"]))
    for item in proxy:
        if item == "b":
            break
    assert finishes == []
    del proxy
    gc.collect()
    assert finishes == [("abandoned", None)]
    assert the_span().outputs == "a b"


@pytest.mark.parametrize("way_out", ["exhausted", "closed", "abandoned"])
def test_an_ended_stream_leaves_no_reference_cycle(lib: types.ModuleType, way_out: str) -> None:
    """Once a stream has ended, its proxy, state and span are freed by reference counting: nothing of them
    waits for the cyclic collector (which would keep each span's record alive until a collection)."""
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        span = start_detached_span("stream", span_type="LLM")
        proxy = span_stream(lib.Stream(["a", "b", "c"]), span, outputs=lambda: "done")
        if way_out == "exhausted":
            assert list(proxy) == ["a", "b", "c"]
        elif way_out == "closed":
            next(proxy)
            proxy.close()
        else:
            next(proxy)
        del proxy, span
        gc.collect()
        left = {getattr(obj, "__qualname__", None) or type(obj).__name__ for obj in gc.garbage}
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    ours = {"StreamState", "LiveSpan", "StreamProxy", "TraceRecord", "span_stream.<locals>.on_finish"}
    assert not left & ours, left
    assert the_span().outputs == "done"


def test_generator_protocol(lib: types.ModuleType) -> None:
    def gen() -> Any:
        got = yield 1
        yield got * 10

    proxy, _seen, finishes = stream_span(lib, gen())
    assert next(proxy) == 1
    assert proxy.send(5) == 50
    with pytest.raises(ValueError):
        proxy.throw(ValueError("stop"))
    assert finishes == [("error", "ValueError")]


def test_stream_span_nests_under_the_user_span_and_children_nest_under_it(lib: types.ModuleType) -> None:
    with spanlog.start_span("app"):
        span = start_detached_span("llm", span_type="LLM")
        with use_span(span):
            with spanlog.start_span("http"):
                pass
        stream = span_stream(lib.Stream(["a"]), span)
        assert list(stream) == ["a"]
    assert tree(spanlog.get_last_active_trace()) == "app [UNKNOWN] OK\n  llm [LLM] OK\n    http [UNKNOWN] OK"


# -- async -------------------------------------------------------------------------------------------------


async def test_async_exhaustion(lib: types.ModuleType) -> None:
    proxy, _seen, finishes = stream_span(lib, lib.AsyncStream(["a", "b"]))
    assert isinstance(proxy, AsyncStreamProxy) and isinstance(proxy, lib.AsyncStream)
    assert [item async for item in proxy] == ["a", "b"]
    assert finishes == [("exhausted", None)]
    assert the_span().outputs == "a b"


async def test_async_error(lib: types.ModuleType) -> None:
    proxy, _seen, finishes = stream_span(lib, lib.AsyncStream(["a", "b"], fail_at=1))
    with pytest.raises(lib.UserError):
        async for _ in proxy:
            pass
    assert finishes == [("error", "UserError")]
    assert the_span().status.status_code.value == "ERROR"


async def test_async_close_coroutine(lib: types.ModuleType) -> None:
    raw = lib.AsyncStream(["a", "b"])
    proxy, _seen, finishes = stream_span(lib, raw)
    assert await proxy.__anext__() == "a"
    closing = proxy.close()
    assert finishes == [], "the span ends once the stream's own close() has finished"
    await closing
    assert raw.closed and finishes == [("closed", None)]


async def test_async_aclose_of_async_generator(lib: types.ModuleType) -> None:
    async def agen() -> Any:
        yield 1
        yield 2

    proxy, _seen, finishes = stream_span(lib, agen())
    assert await proxy.__anext__() == 1
    assert await proxy.asend(None) == 2
    await proxy.aclose()
    assert finishes == [("closed", None)]


async def test_async_context_manager_exit(lib: types.ModuleType) -> None:
    raw = lib.AsyncStream(["a", "b"])
    proxy, _seen, finishes = stream_span(lib, raw)
    async with proxy as entered:
        assert entered is proxy
        async for _ in entered:
            break
    assert raw.closed and finishes == [("exited", None)]


async def test_async_break_then_garbage_collection(lib: types.ModuleType) -> None:
    proxy, _seen, finishes = stream_span(lib, lib.AsyncStream(["a", "b", "c"]))
    async for _ in proxy:
        break
    del proxy
    gc.collect()
    assert finishes == [("abandoned", None)]


def test_on_item_failure_never_changes_the_items(lib: types.ModuleType, production_mode: None) -> None:
    def bad(item: Any) -> None:
        raise RuntimeError("integration bug per item")

    span = start_detached_span("s")
    proxy = span_stream(lib.Stream(["a", "b"]), span, on_item=bad)
    assert list(proxy) == ["a", "b"]
    assert spanlog.tracing.stats()["internal_error:stream: handling a stream item"] == 2
    assert the_span().status.status_code.value == "OK"


def test_a_manager_that_fails_on_entering_ends_the_span_as_error(lib: types.ModuleType) -> None:
    class FailingManager:
        def __enter__(self) -> Any:
            raise lib.UserError("request failed")

        def __exit__(self, *exc: Any) -> None:
            raise AssertionError("never entered")

    proxy, _seen, finishes = stream_span(lib, FailingManager())
    with pytest.raises(lib.UserError, match="request failed"):
        with proxy:
            pass
    assert finishes == [("error", "UserError")]
    assert the_span().status.status_code.value == "ERROR"


async def test_an_async_manager_that_fails_on_entering_ends_the_span_as_error(lib: types.ModuleType) -> None:
    class FailingManager:
        def __aiter__(self) -> Any:
            return self

        async def __aenter__(self) -> Any:
            raise lib.UserError("async request failed")

        async def __aexit__(self, *exc: Any) -> None:
            raise AssertionError("never entered")

    proxy, _seen, finishes = stream_span(lib, FailingManager())
    with pytest.raises(lib.UserError, match="async request failed"):
        async with proxy:
            pass
    assert finishes == [("error", "UserError")]
