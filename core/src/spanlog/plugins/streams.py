"""Stream proxies: hand the user the library's stream, unchanged, and end its span exactly once.

A proxy stands in for a sync or async iterator (and for its context manager, if it is one). It passes each
item through untouched after showing it to ``on_item``, and calls ``on_finish(reason, error)`` exactly
once, on the first of:

==================== ===================================================================================
reason               when
==================== ===================================================================================
``"exhausted"``      the stream raised StopIteration / StopAsyncIteration
``"error"``          the stream raised while producing an item (``error`` is the exception)
``"closed"``         the user called ``close()`` / ``aclose()``
``"exited"``         the ``with`` / ``async with`` block around the stream ended (``error``: what ended it)
``"abandoned"``      the proxy was garbage-collected unfinished (``break`` out of a loop, then dropped)
==================== ===================================================================================

Every other attribute reaches the wrapped stream, and ``isinstance`` sees its class.

A twin (see :func:`span_stream`) does the same without a proxy: an instance of a subclass of the stream's
class that shares the stream's ``__dict__`` and takes the proxy's methods for iteration, ``close`` and
``with``; span_stream hands one out when nothing runs per item and the stream's class allows it.
"""

from __future__ import annotations

import asyncio
import inspect
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from itertools import repeat
from operator import itemgetter, length_hint
from typing import Any

import wrapt

from spanlog.tracing.state import report_internal_error

_time_ns = time.time_ns
_first = itemgetter(0)
_UNCOUNTED = sys.maxsize  # a counted loop pairs each item with one of this many Nones (see StreamState.count)


class StreamState:
    """What two proxies of one stream share (a stream manager and the stream it enters into)."""

    __slots__ = ("collect", "items", "left", "name", "on_finish", "on_item", "outputs", "span", "unfinished")

    def __init__(
        self,
        on_item: Callable[[Any], Any] | None,
        on_finish: Callable[[str, BaseException | None], Any] | None,
        name: str,
        collect: list[tuple[Any, int]] | None = None,
        span: Any = None,
        outputs: Callable[[], Any] | None = None,
    ) -> None:
        self.on_item = on_item
        self.on_finish = on_finish
        self.name = name
        # span_stream's: the span to end (see end_stream_span) before on_finish runs, and its outputs
        self.span = span
        self.outputs = outputs
        self.items = 0
        # one token, taken by the first finish: list.pop is atomic, so the end runs once without a lock
        self.unfinished = [True]
        self.collect = collect
        # the for-loop counts in C: it pairs each item with one of these Nones, what is left says how many
        self.left: Any = None

    @property
    def finished(self) -> bool:
        """True once the end has been taken (by the first ``finish``)."""
        return not self.unfinished

    @property
    def count(self) -> int:
        """Items seen so far."""
        count = self.items
        if self.left is not None:
            count += _UNCOUNTED - length_hint(self.left)
        if self.collect is not None:
            count += len(self.collect)
        return count

    def item(self, item: Any) -> None:
        collect = self.collect
        if collect is not None:
            collect.append((item, _time_ns()))
            return
        self.items += 1
        on_item = self.on_item
        if on_item is not None:
            try:
                on_item(item)
            except Exception as exc:
                report_internal_error(f"{self.name}: handling a stream item", exc)

    def finish(self, reason: str, error: BaseException | None = None) -> None:
        try:
            self.unfinished.pop()
        except IndexError:  # finished already (maybe on another thread: the collector's, say)
            return
        span = self.span
        if span is not None:
            self.span = None
            try:
                if reason == "exhausted" and self.outputs is None:
                    span.end()  # read to the end: nothing to record but the end (the usual case, kept short)
                else:
                    end_stream_span(span, reason, error, self.count, self.outputs)
            except Exception as exc:
                report_internal_error(f"{self.name}: ending a stream", exc)
        on_finish = self.on_finish
        # the callbacks are done with: a closure over this state would otherwise keep the state in a
        # reference cycle that only the cyclic collector frees
        self.on_finish = self.on_item = self.outputs = None
        if on_finish is not None:
            try:
                on_finish(reason, error)
            except Exception as exc:
                report_internal_error(f"{self.name}: ending a stream", exc)


class _StreamProxyBase(wrapt.ObjectProxy):
    """What the sync and async proxies share: the stream's state, the entered stream, and the end on collection."""

    _proxy_class: Any  # the proxy class of this kind (sync or async), set below

    def __init__(
        self,
        wrapped: Any,
        on_item: Callable[[Any], Any] | None = None,
        on_finish: Callable[[str, BaseException | None], Any] | None = None,
        *,
        name: str = "stream",
        state: StreamState | None = None,
        collect: list[tuple[Any, int]] | None = None,
        items: Any = None,
    ) -> None:
        super().__init__(wrapped)
        self._self_state = state if state is not None else StreamState(on_item, on_finish, name, collect)
        self._self_iter: Any = items  # the iterator to read, when the caller knows it (see span_stream)

    @property
    def finished(self) -> bool:
        """True once the span of this stream has been ended."""
        return self._self_state.finished

    def _follow(self, entered: Any) -> Any:
        """What ``with`` hands the user: this proxy, or for a stream manager that enters into the stream
        proper, a proxy of that stream sharing this state."""
        if entered is self.__wrapped__:
            return self
        return self._proxy_class(entered, state=self._self_state)

    def __del__(self) -> None:
        try:
            state = self._self_state
        except AttributeError:  # __init__ never finished
            return
        if state.unfinished:
            state.finish("abandoned")


class StreamProxy(_StreamProxyBase):
    """A sync stream (iterator, iterable, and/or context manager) that reports its items and its end."""

    def __iter__(self) -> Iterator[Any]:
        # a ``for`` loop gets a generator over the same items: resuming it costs a fraction of a __next__
        # call per item. A subclass that changes __next__ is iterated through it.
        if type(self).__next__ is not StreamProxy.__next__:
            return self
        return self._iterate()

    def _iterate(self) -> Iterator[Any]:
        it = self._self_iter
        if it is None:
            it = self._self_iter = iter(self.__wrapped__)
        state = self._self_state
        collect = state.collect
        try:
            if collect is not None:
                append = collect.append
                for item in it:
                    append((item, _time_ns()))
                    yield item
            elif state.on_item is None:
                # nothing to run per item: the items pass through C (zip with the counter, map to the item),
                # and this frame only hands them on (``yield from``)
                left = state.left
                if left is None:
                    left = state.left = repeat(None, _UNCOUNTED)
                yield from map(_first, zip(it, left, strict=False))
            else:
                for item in it:
                    state.item(item)
                    yield item
        except GeneratorExit:  # the loop was left (break) and this generator dropped: not the stream's end
            raise
        except BaseException as exc:
            state.finish("error", exc)
            raise
        state.finish("exhausted")

    def __next__(self) -> Any:
        it = self._self_iter
        if it is None:
            it = self._self_iter = iter(self.__wrapped__)
        try:
            item = next(it)
        except StopIteration:
            self._self_state.finish("exhausted")
            raise
        except BaseException as exc:
            self._self_state.finish("error", exc)
            raise
        self._self_state.item(item)
        return item

    def _step(self, method: str, *args: Any) -> Any:
        """Run a generator method of the wrapped stream; its reply counts as an item, its end as the end."""
        step = getattr(self.__wrapped__, method)
        try:
            item = step(*args)
        except StopIteration:
            self._self_state.finish("exhausted")
            raise
        except BaseException as exc:
            self._self_state.finish("error", exc)
            raise
        self._self_state.item(item)
        return item

    def send(self, value: Any) -> Any:
        """Generator protocol: send into the wrapped generator (its reply counts as an item)."""
        return self._step("send", value)

    def throw(self, *args: Any) -> Any:
        """Generator protocol: throw into the wrapped generator."""
        return self._step("throw", *args)

    def close(self) -> Any:
        """Close the wrapped stream, then end the span."""
        close = self.__wrapped__.close
        try:
            return close()
        finally:
            self._self_state.finish("closed")

    def __enter__(self) -> Any:
        try:
            entered = self.__wrapped__.__enter__()
        except BaseException as exc:  # e.g. a stream manager whose request fails on entering
            self._self_state.finish("error", exc)
            raise
        return self._follow(entered)

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> Any:
        try:
            return self.__wrapped__.__exit__(exc_type, exc, tb)
        finally:
            self._self_state.finish("exited", exc)


class AsyncStreamProxy(_StreamProxyBase):
    """An async stream (async iterator, and/or async context manager) that reports its items and its end."""

    def __aiter__(self) -> AsyncStreamProxy:
        return self

    async def __anext__(self) -> Any:
        it = self._self_iter
        if it is None:
            it = self._self_iter = self.__wrapped__.__aiter__()
        try:
            item = await it.__anext__()
        except StopAsyncIteration:
            self._self_state.finish("exhausted")
            raise
        except BaseException as exc:
            self._self_state.finish("error", exc)
            raise
        self._self_state.item(item)
        return item

    async def asend(self, value: Any) -> Any:
        """Async generator protocol: send into the wrapped async generator."""
        try:
            item = await self.__wrapped__.asend(value)
        except StopAsyncIteration:
            self._self_state.finish("exhausted")
            raise
        except BaseException as exc:
            self._self_state.finish("error", exc)
            raise
        self._self_state.item(item)
        return item

    def _closing(self, method: str) -> Any:
        result = getattr(self.__wrapped__, method)()
        if not inspect.isawaitable(result):
            self._self_state.finish("closed")
            return result

        async def close_then_finish() -> Any:
            try:
                return await result
            finally:
                self._self_state.finish("closed")

        return close_then_finish()

    def close(self) -> Any:
        """Close the wrapped stream (``await`` it when the stream's ``close`` is a coroutine), then end the span."""
        return self._closing("close")

    def aclose(self) -> Any:
        """Async generator protocol: close, then end the span."""
        return self._closing("aclose")

    async def __aenter__(self) -> Any:
        try:
            entered = await self.__wrapped__.__aenter__()
        except BaseException as exc:
            self._self_state.finish("error", exc)
            raise
        return self._follow(entered)

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> Any:
        try:
            return await self.__wrapped__.__aexit__(exc_type, exc, tb)
        finally:
            self._self_state.finish("exited", exc)


StreamProxy._proxy_class = StreamProxy  # what _follow wraps an entered stream in (for twins too)
AsyncStreamProxy._proxy_class = AsyncStreamProxy

# -- twins: the stream's own class, without a proxy in between ----------------------------------------------

# what a twin takes from the proxy where its class has one; it always iterates as the proxy does
_TWIN_METHODS = {
    False: ("__next__", "close", "__enter__", "__exit__"),
    True: ("close", "aclose", "__aenter__", "__aexit__"),
}
_twin_classes: dict[tuple[type, bool], type | None] = {}


def _twin_class(cls: type, is_async: bool) -> type | None:
    """The twin class of ``cls``: a subclass whose instances share a stream's ``__dict__`` and take over its
    iteration, close and ``with`` with the proxy's methods. None for a class whose instances keep state
    outside their ``__dict__`` (slots), finalize themselves (``__del__``), are generators (``send``) or
    handle their own attributes (``__setattr__``, ``__getattribute__``): a proxy wraps those. Made once per
    class: ``_twin`` looks in ``_twin_classes`` first and calls this only for a class not there yet."""
    twin: type | None = None
    proxy_class: Any = AsyncStreamProxy if is_async else StreamProxy
    try:
        own_state = any(vars(k).get("__slots__") not in (None, ()) for k in cls.__mro__ if k is not object)
        plain = (
            cls.__dictoffset__
            and cls.__setattr__ is object.__setattr__
            and cls.__getattribute__ is object.__getattribute__
            and not hasattr(cls, "send")
            and not hasattr(cls, "__del__")
        )
        if plain and not own_state:
            namespace: dict[str, Any] = {
                "__slots__": ("__wrapped__", "_self_iter", "_self_state"),
                "__module__": cls.__module__,
                "__qualname__": cls.__qualname__,
                "__del__": _StreamProxyBase.__del__,
                "_follow": _StreamProxyBase._follow,
                "_proxy_class": proxy_class,
            }
            for name in _TWIN_METHODS[is_async]:
                if hasattr(cls, name):
                    namespace[name] = getattr(proxy_class, name)
            if is_async:
                namespace.update(
                    __aiter__=AsyncStreamProxy.__aiter__,
                    __anext__=AsyncStreamProxy.__anext__,
                    _closing=AsyncStreamProxy._closing,
                )
            else:
                namespace["__iter__"] = StreamProxy._iterate  # the proxy's __iter__ without its check
            twin = type(cls.__name__, (cls,), namespace)
            object.__new__(twin)  # a class whose instances object.__new__ cannot make gets a proxy
    except Exception:  # a class that refuses subclasses (final, or a metaclass that objects): not an error
        twin = None
    if len(_twin_classes) >= 256:
        _twin_classes.clear()
    _twin_classes[cls, is_async] = twin
    return twin


def _twin(stream: Any, state: StreamState, items: Iterator[Any] | AsyncIterator[Any], is_async: bool) -> Any:
    """An instance of the stream's twin class sharing its ``__dict__`` (None when its class has none): to the
    user it is the stream (``type`` aside), its methods read the same attributes, and it is freed by
    reference counting when the user drops it, which is what tells an abandoned stream (the stream itself
    usually sits in a reference cycle with its generator and waits for the cyclic collector)."""
    key = (type(stream), is_async)
    twin_class = _twin_classes[key] if key in _twin_classes else _twin_class(*key)
    if twin_class is None:
        return None
    twin: Any = object.__new__(twin_class)
    twin.__dict__ = stream.__dict__
    twin.__wrapped__ = stream
    twin._self_iter = items
    twin._self_state = state
    return twin


def is_async_stream(obj: Any) -> bool:
    """True for objects iterated with ``async for``."""
    return hasattr(obj, "__aiter__") or (hasattr(obj, "__aenter__") and not hasattr(obj, "__iter__"))


def end_stream_span(
    span: Any,
    reason: str,
    error: BaseException | None,
    items: int,
    outputs: Callable[[], Any] | None = None,
) -> None:
    """End a stream's span the way :func:`span_stream` does, for proxies an integration builds itself.

    An error from the stream marks the span ERROR (a cancelled task adds a ``stream_cancelled`` event
    instead); a stream the user stopped early (close, ``with`` exit, ``break``) ends OK with a
    ``stream_closed_early`` event saying how and after how many items. ``outputs()`` gives the outputs.
    """
    try:
        if reason == "error" and error is not None and not isinstance(error, GeneratorExit):
            if isinstance(error, asyncio.CancelledError):
                span.add_event("stream_cancelled", {"items": items})
            else:
                span.record_exception(error)
        elif reason != "exhausted":
            span.add_event("stream_closed_early", {"reason": reason, "items": items})
        if outputs is not None:
            span.set_outputs(outputs())
    finally:
        span.end()


def span_stream(
    stream: Any,
    span: Any,
    *,
    on_item: Callable[[Any], Any] | None = None,
    outputs: Callable[[], Any] | None = None,
    name: str = "stream",
    collect: list[tuple[Any, int]] | None = None,
    items: Iterator[Any] | AsyncIterator[Any] | None = None,
    is_async: bool | None = None,
) -> Any:
    """Wrap ``stream`` so that ``span`` ends with it, exactly once (see :func:`end_stream_span`).

    ``on_item`` sees each item (to aggregate chunks); ``outputs()`` builds the span's outputs at the end.
    With ``collect`` (a list), items are appended to it instead, as ``(item, arrival time in ns)``, and
    ``on_item`` is not called: the cheapest way to read a stream, for an integration that reassembles it
    later, off the user's thread (``span.defer``). With neither, nothing of spanlog runs per item.

    ``items`` is the iterator that iterating ``stream`` only hands on (an SDK stream whose ``__iter__`` is
    ``for item in self._iterator: yield item``): the proxy reads it directly, so the user's loop goes through
    one layer, the proxy's, instead of two. ``is_async`` says which proxy to use when the caller knows.
    With ``items`` and nothing to run per item, a stream whose state is all in its ``__dict__`` gets a twin
    instead of a proxy: cheaper to make and to iterate, and freed (so an abandoned stream's span ended) as
    soon as the user drops it, where the stream itself may wait in a reference cycle for the collector.
    """
    if is_async is None:
        is_async = is_async_stream(stream)
    # the state ends the span itself: no closure over it, so nothing but the proxy keeps it alive
    state = StreamState(on_item, None, name, collect, span, outputs)
    if items is not None and on_item is None and collect is None:
        twin = _twin(stream, state, items, is_async)
        if twin is not None:
            return twin
    return (AsyncStreamProxy if is_async else StreamProxy)(stream, state=state, items=items)
