"""The fluent API: ``@spanlog.trace``, ``spanlog.start_span``, and access to the active span and trace.

Every wrapper checks the enabled switch first, so disabled tracing costs one attribute read. Any failure inside
spanlog is logged once, counted, and the user's function runs as if it were not decorated.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, overload

from spanlog.entities.span import NO_OP_SPAN, LiveSpan, NoOpSpan, SpanAttributeKey
from spanlog.entities.span_type import SpanType
from spanlog.entities.trace import Trace
from spanlog.tracing import trace_manager as _tm
from spanlog.tracing.inputs import Binder, make_binder
from spanlog.tracing.serialization import dumps
from spanlog.tracing.state import STATE, report_internal_error, warn_once

F = TypeVar("F", bound=Callable[..., Any])

_INPUTS = SpanAttributeKey.INPUTS
_OUTPUTS = SpanAttributeKey.OUTPUTS
_MAX_KEPT_ITEMS = 10_000
"""A traced generator's outputs keep at most this many yielded items (the count of the rest is recorded)."""

_open_span = _tm.open_span
_activate = _tm.activate
_deactivate = _tm.deactivate
_close_span = _tm.close_span


@overload
def trace(func: F) -> F: ...


@overload
def trace(
    func: None = None,
    name: str | None = None,
    span_type: str = SpanType.UNKNOWN,
    attributes: Mapping[str, Any] | None = None,
) -> Callable[[F], F]: ...


def trace(
    func: Any = None,
    name: str | None = None,
    span_type: str = SpanType.UNKNOWN,
    attributes: Mapping[str, Any] | None = None,
) -> Any:
    """Trace every call of a function: one span per call with its bound arguments as inputs and its result
    as outputs. Works on sync and async functions, generators and async generators (the span covers the whole
    iteration and its outputs are the yielded items), methods, classmethods and staticmethods, and on callables
    you do not own (``spanlog.trace(math.pow)``). Use bare (``@spanlog.trace``) or with arguments.
    """
    if func is None:
        return lambda f: trace(f, name=name, span_type=span_type, attributes=attributes)
    if isinstance(func, (classmethod, staticmethod)):
        inner: Any = func.__func__
        return type(func)(trace(inner, name=name, span_type=span_type, attributes=attributes))
    if not callable(func):
        from spanlog.exceptions import InvalidArgumentError

        raise InvalidArgumentError(f"spanlog.trace() needs a function or other callable, got {func!r}")
    span_name = name or getattr(func, "__name__", None) or type(func).__name__
    span_type = str(span_type)
    attrs = dict(attributes) if attributes else None
    binder = make_binder(func)
    target = inspect.unwrap(func) if hasattr(func, "__wrapped__") else func
    if inspect.isasyncgenfunction(target):
        return _wrap_async_generator(func, span_name, span_type, attrs, binder)
    if inspect.iscoroutinefunction(target):
        return _wrap_async(func, span_name, span_type, attrs, binder)
    if inspect.isgeneratorfunction(target):
        return _wrap_generator(func, span_name, span_type, attrs, binder)
    return _wrap_sync(func, span_name, span_type, attrs, binder)


def _begin(
    name: str,
    span_type: str,
    attrs: dict[str, Any] | None,
    binder: Binder,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> tuple[LiveSpan | NoOpSpan, Any]:
    """Open the span of one call, record its inputs and make it active; returns the span and the token."""
    span = _open_span(name, span_type, attrs)
    if span is NO_OP_SPAN:
        return span, _activate(span)
    try:
        if not STATE.hide_inputs:
            span._attrs[_INPUTS] = dumps(binder(args, kwargs))  # type: ignore[union-attr]
        return span, _activate(span)
    except BaseException:
        _close_span(span, None, None, False)
        raise


def _wraps(func: Callable[..., Any], wrapper: F) -> F:
    try:
        return functools.wraps(func)(wrapper)  # type: ignore[return-value]
    except Exception:  # exotic callables with read-only attributes
        return wrapper


def _wrap_sync(
    func: Callable[..., Any], name: str, span_type: str, attrs: dict[str, Any] | None, binder: Binder
) -> Any:
    def traced(*args: Any, **kwargs: Any) -> Any:
        if not STATE.enabled:
            return func(*args, **kwargs)
        try:
            span, token = _begin(name, span_type, attrs, binder, args, kwargs)
        except Exception as exc:
            report_internal_error("starting a span", exc)
            return func(*args, **kwargs)
        try:
            result = func(*args, **kwargs)
        except BaseException as exc:
            _deactivate(token)
            _close_span(span, exc, None, False)
            raise
        _deactivate(token)
        _close_span(span, None, result, True)
        return result

    return _wraps(func, traced)


def _wrap_async(
    func: Callable[..., Any], name: str, span_type: str, attrs: dict[str, Any] | None, binder: Binder
) -> Any:
    async def traced(*args: Any, **kwargs: Any) -> Any:
        if not STATE.enabled:
            return await func(*args, **kwargs)
        try:
            span, token = _begin(name, span_type, attrs, binder, args, kwargs)
        except Exception as exc:
            report_internal_error("starting a span", exc)
            return await func(*args, **kwargs)
        try:
            result = await func(*args, **kwargs)
        except BaseException as exc:
            _deactivate(token)
            _close_span(span, exc, None, False)
            raise
        _deactivate(token)
        _close_span(span, None, result, True)
        return result

    return _wraps(func, traced)


class _Collected:
    """The yielded items of a traced generator, capped at ``_MAX_KEPT_ITEMS``."""

    __slots__ = ("dropped", "items")

    def __init__(self) -> None:
        self.items: list[Any] = []
        self.dropped = 0

    def add(self, item: Any) -> None:
        if len(self.items) < _MAX_KEPT_ITEMS:
            self.items.append(item)
        else:
            self.dropped += 1

    def finish(self, span: LiveSpan | NoOpSpan, exc: BaseException | None) -> None:
        if span is NO_OP_SPAN:
            return
        if self.dropped:
            span.set_attribute("spanlog.outputsDroppedItems", self.dropped)
        if exc is None or isinstance(exc, GeneratorExit):
            _close_span(span, None, self.items, True)
        else:
            if not STATE.hide_outputs and self.items:
                span.set_outputs(self.items)
            _close_span(span, exc, None, False)


def _wrap_generator(
    func: Callable[..., Any], name: str, span_type: str, attrs: dict[str, Any] | None, binder: Binder
) -> Any:
    def traced(*args: Any, **kwargs: Any) -> Any:
        if not STATE.enabled:
            return (yield from func(*args, **kwargs))
        try:
            span, token = _begin(name, span_type, attrs, binder, args, kwargs)
        except Exception as exc:
            report_internal_error("starting a span", exc)
            return (yield from func(*args, **kwargs))
        collected = _Collected()
        try:
            inner = func(*args, **kwargs)
        except BaseException as exc:
            _deactivate(token)
            collected.finish(span, exc)
            raise
        _deactivate(token)
        send_value: Any = None
        throw: BaseException | None = None
        while True:
            token = _activate(span)
            try:
                if throw is not None:
                    exc_in, throw = throw, None
                    item = inner.throw(exc_in)
                else:
                    item = inner.send(send_value)
            except StopIteration as stop:
                _deactivate(token)
                collected.finish(span, None)
                return stop.value
            except BaseException as exc:
                _deactivate(token)
                collected.finish(span, exc)
                raise
            _deactivate(token)
            collected.add(item)
            try:
                send_value = yield item
            except GeneratorExit as exit_:
                # the consumer stopped early (break, close(), garbage collection)
                token = _activate(span)
                try:
                    inner.close()
                finally:
                    _deactivate(token)
                    collected.finish(span, exit_)
                raise
            except BaseException as exc:
                throw = exc

    return _wraps(func, traced)


def _wrap_async_generator(
    func: Callable[..., Any], name: str, span_type: str, attrs: dict[str, Any] | None, binder: Binder
) -> Any:
    async def traced(*args: Any, **kwargs: Any) -> Any:
        if not STATE.enabled:
            async for item in func(*args, **kwargs):
                yield item
            return
        try:
            span, token = _begin(name, span_type, attrs, binder, args, kwargs)
        except Exception as exc:
            report_internal_error("starting a span", exc)
            async for item in func(*args, **kwargs):
                yield item
            return
        collected = _Collected()
        try:
            inner = func(*args, **kwargs)
        except BaseException as exc:
            _deactivate(token)
            collected.finish(span, exc)
            raise
        _deactivate(token)
        send_value: Any = None
        throw: BaseException | None = None
        while True:
            token = _activate(span)
            try:
                if throw is not None:
                    exc_in, throw = throw, None
                    item = await inner.athrow(exc_in)
                else:
                    item = await inner.asend(send_value)
            except StopAsyncIteration:
                _deactivate(token)
                collected.finish(span, None)
                return
            except BaseException as exc:
                _deactivate(token)
                collected.finish(span, exc)
                raise
            _deactivate(token)
            collected.add(item)
            try:
                send_value = yield item
            except GeneratorExit as exit_:
                token = _activate(span)
                try:
                    await inner.aclose()
                finally:
                    _deactivate(token)
                    collected.finish(span, exit_)
                raise
            except BaseException as exc:
                throw = exc

    return _wraps(func, traced)


class _SpanContextManager:
    """What ``start_span`` returns: entering starts the span and makes it active, leaving ends it."""

    __slots__ = ("_attributes", "_name", "_span", "_span_type", "_token")

    def __init__(self, name: str, span_type: str, attributes: Mapping[str, Any] | None) -> None:
        self._name = name
        self._span_type = span_type
        self._attributes = attributes
        self._span: LiveSpan | NoOpSpan = NO_OP_SPAN
        self._token: Any = None

    def __enter__(self) -> LiveSpan | NoOpSpan:
        try:
            span = _open_span(self._name, self._span_type, self._attributes)
            try:
                self._token = _activate(span)
            except BaseException:
                _close_span(span, None, None, False)
                raise
            self._span = span
        except Exception as exc:
            report_internal_error("starting a span", exc)
        return self._span

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        _deactivate(self._token)
        self._token = None
        _close_span(self._span, exc, None, False)

    async def __aenter__(self) -> LiveSpan | NoOpSpan:
        return self.__enter__()

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        self.__exit__(exc_type, exc, tb)


def start_span(
    name: str = "span", span_type: str = SpanType.UNKNOWN, attributes: Mapping[str, Any] | None = None
) -> _SpanContextManager:
    """Trace a block: ``with spanlog.start_span("name") as span:`` starts a span under the active one (or a
    new trace), makes it active inside the block, and ends it on exit, recording an exception as ERROR.
    """
    return _SpanContextManager(str(name), str(span_type), attributes)


def get_current_active_span() -> LiveSpan | None:
    """The span active in this context, or None (also inside a sampled-out or disabled trace)."""
    span = _tm.current_span()
    return None if span is None or span is NO_OP_SPAN else span  # type: ignore[return-value]


def update_current_trace(
    tags: Mapping[str, Any] | None = None,
    metadata: Mapping[str, Any] | None = None,
    request_id: str | None = None,
) -> None:
    """Add tags and/or metadata to the active trace (or the open trace ``request_id``)."""
    if request_id is not None:
        _tm.update_trace(_tm.find_record(request_id), tags, metadata)
        return
    span = _tm.current_span()
    if span is NO_OP_SPAN:
        return
    if span is None:
        warn_once(
            "update-no-trace", "update_current_trace() called with no active trace; nothing was updated"
        )
        return
    _tm.update_trace(span._record, tags, metadata)  # type: ignore[union-attr]


def get_last_active_trace() -> Trace | None:
    """The trace that finished most recently in this process, or None."""
    return _tm.get_last_trace()


def get_trace(request_id: str) -> Trace | None:
    """The finished trace with this request id, or None (with a warning) if it is not known."""
    trace_ = _tm.get_finished_trace(request_id)
    if trace_ is None:
        warn_once(
            "get-trace-missing", "spanlog.get_trace(): no finished trace with request_id %r", request_id
        )
    return trace_
