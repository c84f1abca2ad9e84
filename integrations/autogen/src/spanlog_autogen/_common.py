"""What both AutoGen integrations share: streams whose span is active while they run, re-entry guards, and
the conversion of values to what a span can show.

An agent framework runs its work *inside* async generators (``run_stream``, ``on_messages_stream``,
``create_stream``): their body executes in the consumer's context, one step per ``__anext__``. For the spans
and tasks started in that body to nest under the stream's span, the span must be active during each step,
not only when the generator object is created. :class:`ActiveStream` does that, on top of the core's
:class:`~spanlog.plugins.AsyncStreamProxy` (so the span still ends exactly once, also on an early break).
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextvars import ContextVar, Token
from typing import Any

from spanlog.plugins import (
    PROVIDER,
    AsyncStreamProxy,
    NoOpSpan,
    end_stream_span,
    suppress_spans,
    use_span,
)


class Guard:
    """A per-context marker of the object whose call is being traced.

    A traced method that calls another traced method of the same object (``run`` calling ``run_stream``,
    ``on_messages`` calling ``on_messages_stream``) would make two spans for one thing; the inner call sees
    the marker and runs untraced. Being a ContextVar, the marker never leaks across concurrent tasks.
    """

    __slots__ = ("_var",)

    def __init__(self, name: str) -> None:
        self._var: ContextVar[Any] = ContextVar(name, default=None)

    def holds(self, owner: Any) -> bool:
        """True when the innermost traced call of this kind in this context belongs to ``owner``."""
        return self._var.get() is owner

    @property
    def current(self) -> Any:
        """The object whose call holds the marker (None when none does)."""
        return self._var.get()

    def set(self, owner: Any) -> Token[Any]:
        """Mark ``owner`` until :meth:`reset` (cheaper than a context manager on hot paths)."""
        return self._var.set(owner)

    def reset(self, token: Token[Any]) -> None:
        """Undo :meth:`set`."""
        self._var.reset(token)

    @contextlib.contextmanager
    def hold(self, owner: Any) -> Iterator[None]:
        """Mark ``owner`` inside the block."""
        token = self._var.set(owner)
        try:
            yield
        finally:
            self._var.reset(token)


class ActiveStream(AsyncStreamProxy):
    """An async stream whose span is the active span (and whose guard is held) while it makes each item.

    Items pass through unchanged; ``on_item`` sees each, ``outputs()`` gives the span's outputs when the
    stream ends (exhausted, failed, closed or dropped: exactly once, see ``end_stream_span``). With
    ``suppress=True`` provider spans are suppressed during each step (a model client's stream).
    """

    def __init__(
        self,
        wrapped: Any,
        span: Any,
        *,
        on_item: Callable[[Any], Any] | None = None,
        outputs: Callable[[], Any] | None = None,
        guard: Guard | None = None,
        owner: Any = None,
        suppress: bool = False,
        name: str = "autogen stream",
    ) -> None:
        def on_finish(reason: str, error: BaseException | None) -> None:
            end_stream_span(span, reason, error, state.items, outputs)

        super().__init__(wrapped, on_item, on_finish, name=name)
        state = self._self_state
        self._self_span = span
        self._self_guard = guard
        self._self_owner = owner
        self._self_suppress = suppress

    async def _step(self, step: Callable[[], Awaitable[Any]]) -> Any:
        # runs once per item: plain token handling rather than nested context managers
        guard = self._self_guard
        token = guard.set(self._self_owner) if guard is not None else None
        try:
            with use_span(self._self_span):
                if self._self_suppress:
                    with suppress_spans(PROVIDER):
                        return await step()
                return await step()
        finally:
            if token is not None:
                guard.reset(token)  # type: ignore[union-attr]

    async def __anext__(self) -> Any:
        return await self._step(super().__anext__)

    async def asend(self, value: Any) -> Any:
        """Async generator protocol: send into the wrapped generator, with the span active."""
        parent_asend = super().asend
        return await self._step(lambda: parent_asend(value))


def open_stream(call: Callable[..., Any], args: tuple[Any, ...], kwargs: Mapping[str, Any], span: Any) -> Any:
    """Call the wrapped stream method; a call that fails before any stream exists ends ``span`` as ERROR."""
    try:
        return call(*args, **kwargs)
    except BaseException as exc:
        span.record_exception(exc)
        span.end()
        raise


def last_item_stream(
    stream: Any,
    span: Any,
    kind: type | None,
    record: Callable[[Any, Any], None],
    guard: Guard,
    owner: Any,
) -> ActiveStream:
    """An :class:`ActiveStream` whose outputs are its last item of type ``kind`` (the ``TaskResult`` of a run,
    the ``Response`` of a turn), passed to ``record(span, item)`` first for the span's attributes."""
    final: list[Any] = []

    def on_item(item: Any) -> None:
        if kind is not None and isinstance(item, kind):
            final.append(item)

    def outputs() -> Any:
        if not final:
            return None
        record(span, final[-1])
        return final[-1]

    return ActiveStream(stream, span, on_item=on_item, outputs=outputs, guard=guard, owner=owner)


def is_noop(span: Any) -> bool:
    """True for the span handed out when tracing is off or the trace is sampled out."""
    return isinstance(span, NoOpSpan)


def argument(args: tuple[Any, ...], kwargs: Mapping[str, Any], index: int, name: str, default: Any) -> Any:
    """A wrapped call's argument ``name``, passed by keyword or at position ``index`` (``default`` if absent)."""
    if name in kwargs:
        return kwargs[name]
    return args[index] if len(args) > index else default
