"""Stream twins: ``span_stream(..., items=...)`` with nothing to run per item hands the user an instance of a
subclass of the stream's class that shares the stream's ``__dict__``, instead of a wrapt proxy. The span still
ends exactly once, and an abandoned stream ends it as soon as the user drops it, although the stream itself
sits in a reference cycle with its generator (as the OpenAI and Anthropic SDKs' streams do)."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

import pytest
import wrapt

from spanlog.entities.span_status import SpanStatusCode
from spanlog.plugins import span_stream, start_detached_span

from tree_helpers import event_names, the_span, watch_finishes


class SdkStream:
    """Iterates the way the SDKs' streams do: ``__iter__`` only hands on ``_iterator``, a generator of a method
    of the stream (so the stream and the generator refer to each other); ``close`` closes the response."""

    def __init__(self, items: list[str], fail_at: int | None = None) -> None:
        self.items = items
        self.fail_at = fail_at
        self.closed = 0
        self._iterator = self.__stream__()

    def __stream__(self) -> Iterator[str]:
        for index, item in enumerate(self.items):
            if index == self.fail_at:
                raise ConnectionError("stream broke")
            yield item

    def __iter__(self) -> Iterator[str]:
        yield from self._iterator

    def __next__(self) -> str:
        return self._iterator.__next__()

    def close(self) -> None:
        self.closed += 1

    def __enter__(self) -> SdkStream:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class AsyncSdkStream:
    """The async shape: ``__aiter__`` hands on ``_iterator``, an async generator; ``close`` is a coroutine."""

    def __init__(self, items: list[str]) -> None:
        self.items = items
        self.closed = 0
        self._iterator = self.__stream__()

    async def __stream__(self) -> AsyncIterator[str]:
        for item in self.items:
            await asyncio.sleep(0)
            yield item

    async def __aiter__(self) -> AsyncIterator[str]:
        async for item in self._iterator:
            yield item

    async def __anext__(self) -> str:
        return await self._iterator.__anext__()

    async def close(self) -> None:
        self.closed += 1

    async def __aenter__(self) -> AsyncSdkStream:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()


def traced(stream: Any, is_async: bool = False) -> Any:
    span = start_detached_span("stream", span_type="LLM")
    return span_stream(stream, span, items=stream._iterator, is_async=is_async)


def closed_early(reason: str, items: int) -> Mapping[str, Any]:
    return {"reason": reason, "items": items}


def test_a_twin_is_the_stream_to_the_user() -> None:
    """No proxy: an instance of a subclass of the stream's class, with the stream's attributes (one dict)."""
    stream = SdkStream(["a", "b"])
    twin = traced(stream)
    assert isinstance(twin, SdkStream) and type(twin) is not SdkStream
    assert not isinstance(twin, wrapt.ObjectProxy)
    assert type(twin).__name__ == "SdkStream" and type(twin).__qualname__ == SdkStream.__qualname__
    assert twin.items is stream.items
    twin.extra = 1  # one dict: what either sets, the other sees
    assert stream.extra == 1
    assert type(traced(SdkStream(["c"]))) is type(twin)  # one twin class per stream class
    assert list(twin) == ["a", "b"]


def test_read_to_the_end_ends_the_span_once() -> None:
    twin = traced(SdkStream(["a", "b", "c"]))
    finishes = watch_finishes(twin)
    assert list(twin) == ["a", "b", "c"]
    assert list(twin) == []  # exhausted: nothing more, and nothing ends twice
    assert finishes == [("exhausted", None)]
    span = the_span()
    assert span.status.status_code is SpanStatusCode.OK and span.events == []


def test_dropped_after_a_break_ends_the_span_at_once() -> None:
    """Abandoned: the twin is freed by reference counting when the user drops it, so the span ends then, even
    with the cyclic collector off, while the stream waits in its cycle for the collector."""
    stream = SdkStream(["a", "b", "c", "d"])
    twin = traced(stream)
    for item in twin:
        if item == "b":
            break
    gc.disable()
    try:
        del twin
        span = the_span()
    finally:
        gc.enable()
    assert span.status.status_code is SpanStatusCode.OK
    assert span.events[-1].attributes == closed_early("abandoned", 2)


def test_break_then_resume_reads_on_in_the_same_span() -> None:
    twin = traced(SdkStream(["a", "b", "c"]))
    for item in twin:
        if item == "a":
            break
    assert list(twin) == ["b", "c"]
    span = the_span()
    assert span.events == [] and span.status.status_code is SpanStatusCode.OK


def test_with_block_close_and_next() -> None:
    stream = SdkStream(["a", "b", "c"])
    with traced(stream) as twin:
        assert next(twin) == "a"
    assert stream.closed == 1  # the stream's own __exit__ ran
    assert the_span().events[-1].attributes == closed_early("exited", 1)
    twin.close()  # closing again ends nothing twice
    assert event_names(the_span()).count("stream_closed_early") == 1

    stream = SdkStream(["a", "b"])
    twin = traced(stream)
    next(twin)
    twin.close()
    assert stream.closed == 1
    assert the_span().events[-1].attributes == closed_early("closed", 1)


class Entering(SdkStream):
    """A stream manager: ``with`` hands out another stream, the one to read."""

    def __enter__(self) -> SdkStream:  # type: ignore[override]
        return SdkStream(["x", "y"])


def test_a_twin_follows_into_the_stream_its_with_block_enters() -> None:
    twin = traced(Entering(["a"]))
    with twin as inner:
        assert isinstance(inner, wrapt.ObjectProxy) and isinstance(inner, SdkStream)
        assert list(inner) == ["x", "y"]
    span = the_span()  # ended once, when the entered stream ran out
    assert span.status.status_code is SpanStatusCode.OK and span.events == []


def test_a_failing_stream_is_an_error_and_the_user_gets_its_exception() -> None:
    twin = traced(SdkStream(["a", "b", "c"], fail_at=1))
    received = []
    with pytest.raises(ConnectionError, match="stream broke"):
        for item in twin:
            received.append(item)
    assert received == ["a"]
    span = the_span()
    assert span.status.status_code is SpanStatusCode.ERROR
    assert event_names(span) == ["exception"]


class Slotted:
    __slots__ = ("_iterator",)

    def __init__(self, items: list[str]) -> None:
        self._iterator = iter(items)

    def __iter__(self) -> Iterator[str]:
        return self._iterator


class Finalized(SdkStream):
    def __del__(self) -> None:
        pass


class Guarded(SdkStream):
    def __setattr__(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)


@pytest.mark.parametrize(
    "stream_class", [Slotted, Finalized, Guarded], ids=["slots", "__del__", "__setattr__"]
)
def test_classes_a_twin_cannot_stand_for_get_a_proxy(stream_class: type) -> None:
    """State outside ``__dict__`` would not be shared, a finalizer would run for the twin as well, and a class
    that handles its own attributes might not let the twin set its own."""
    proxy = traced(stream_class(["a", "b"]))
    assert isinstance(proxy, wrapt.ObjectProxy) and isinstance(proxy, stream_class)
    assert list(proxy) == ["a", "b"]
    assert the_span().status.status_code is SpanStatusCode.OK


async def test_async_twin() -> None:
    stream = AsyncSdkStream(["a", "b", "c"])
    twin = traced(stream, is_async=True)
    assert isinstance(twin, AsyncSdkStream) and not isinstance(twin, wrapt.ObjectProxy)
    assert [item async for item in twin] == ["a", "b", "c"]
    span = the_span()
    assert span.status.status_code is SpanStatusCode.OK and span.events == []

    stream = AsyncSdkStream(["a", "b", "c"])
    async with traced(stream, is_async=True) as twin:
        async for _item in twin:
            break
    assert stream.closed == 1
    assert the_span().events[-1].attributes == closed_early("exited", 1)

    stream = AsyncSdkStream(["a", "b"])
    twin = traced(stream, is_async=True)
    await twin.__anext__()
    await twin.close()
    assert stream.closed == 1
    assert the_span().events[-1].attributes == closed_early("closed", 1)
