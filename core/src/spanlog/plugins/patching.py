"""The patching toolkit: safe patches that never break the user's call, exact unpatching, and suppression.

A *wrapper* is written like an ordinary wrapt wrapper, except that it receives ``call`` instead of the
original function::

    def wrapper(call, instance, args, kwargs):
        with spanlog.start_span("create", span_type="LLM") as span:
            span.set_inputs(kwargs)
            result = call(*args, **kwargs)
            span.set_outputs(result)
        return result

``call`` runs the original and remembers how it went. If the wrapper raises, the toolkit tells spanlog's own
failures from the user's: an exception that the original raised propagates unchanged; any other exception
is spanlog's, so it is logged once and counted, and the user gets the original's result (calling the
original now if the wrapper failed before calling it). Under ``SPANLOG_TESTING=1`` spanlog's failures raise.
"""

from __future__ import annotations

import contextvars
import inspect
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from spanlog.tracing.state import report_internal_error

PROVIDER = "provider"
"""Category of patches around a model provider's API (OpenAI, Anthropic, ...): a framework integration
whose span already covers such a call suppresses it with ``suppress_spans(PROVIDER)``."""

_NOT_CALLED, _RETURNED, _RAISED = 0, 1, 2

_suppressed: contextvars.ContextVar[frozenset[str]] = contextvars.ContextVar(
    "spanlog_suppressed_categories", default=frozenset()
)


@contextmanager
def suppress_spans(*categories: str) -> Iterator[None]:
    """Inside this block, patches of these categories (default: :data:`PROVIDER`) call the original
    without a span. A framework integration uses it where its own span already covers the provider call.
    """
    token = _suppressed.set(_suppressed.get() | frozenset(categories or (PROVIDER,)))
    try:
        yield
    finally:
        _suppressed.reset(token)


def is_suppressed(category: str | None) -> bool:
    """True when spans of ``category`` are suppressed in the current context."""
    return category is not None and category in _suppressed.get()


class Patch:
    """One patched attribute: where it is, what was there before, and whether it still traces."""

    __slots__ = (
        "active",
        "category",
        "had_own",
        "integration",
        "live",
        "name",
        "original",
        "owner",
        "qualname",
        "wrapped",
    )

    def __init__(self, integration: str, owner: Any, name: str, category: str | None) -> None:
        self.integration = integration
        self.owner = owner
        self.name = name
        self.category = category
        self.qualname = f"{getattr(owner, '__qualname__', getattr(owner, '__name__', repr(owner)))}.{name}"
        self.live = True  # False once unpatched: a wrapper someone else wrapped again passes through
        self.active = True  # makes spans: live, and the integration's log_traces is on (read per call)
        self.had_own = False
        self.original: Any = None
        self.wrapped: Any = None

    def __repr__(self) -> str:
        return f"<Patch {self.integration}: {self.qualname}{'' if self.live else ' (inactive)'}>"


def _raw_attribute(owner: Any, name: str) -> tuple[Any, bool]:
    """The attribute as stored (a classmethod object, not the bound method) and whether ``owner`` has it
    itself rather than inheriting it."""
    if isinstance(owner, type):
        for klass in owner.__mro__:
            if name in klass.__dict__:
                return klass.__dict__[name], klass is owner
        raise AttributeError(f"{owner.__qualname__} has no attribute {name!r}")
    own = vars(owner) if hasattr(owner, "__dict__") else {}
    if name in own:
        return own[name], True
    return getattr(owner, name), False


def _is_async(original: Any) -> bool:
    target = getattr(original, "__func__", original)  # classmethod / staticmethod
    # SDKs decorate async methods with plain functools.wraps wrappers (openai's required_args): look inside
    return inspect.iscoroutinefunction(target) or inspect.iscoroutinefunction(inspect.unwrap(target))


def _sync_patched(patch: Patch, wrapper: Callable[..., Any]) -> Any:
    def patched(
        wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        if not patch.active or (patch.category is not None and patch.category in _suppressed.get()):
            return wrapped(*args, **kwargs)
        outcome: list[Any] = [_NOT_CALLED, None]  # how the original went: a closure is cheaper than an object

        def call(*a: Any, **k: Any) -> Any:
            try:
                result = wrapped(*a, **k)
            except BaseException as exc:
                outcome[0], outcome[1] = _RAISED, exc
                raise
            outcome[0], outcome[1] = _RETURNED, result
            return result

        try:
            return wrapper(call, instance, args, kwargs)
        except Exception as exc:
            if outcome[0] == _RAISED and exc is outcome[1]:
                outcome[1] = None  # no exception -> traceback -> frame -> outcome cycle left for the GC
                raise
            failure = exc
        # spanlog's own failure: report it, then give the user what the original gave (outside the except
        # block, so the user's exception does not get spanlog's error attached as its context)
        report_internal_error(f"{patch.integration} patch of {patch.qualname}", failure)
        state, value = outcome
        outcome[1] = None
        if state == _RETURNED:
            return value
        if state == _RAISED:
            raise value
        return wrapped(*args, **kwargs)

    return patched


def _async_patched(patch: Patch, wrapper: Callable[..., Any]) -> Any:
    async def patched(
        wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        if not patch.active or (patch.category is not None and patch.category in _suppressed.get()):
            return await wrapped(*args, **kwargs)
        outcome: list[Any] = [_NOT_CALLED, None]

        async def call(*a: Any, **k: Any) -> Any:
            try:
                result = await wrapped(*a, **k)
            except BaseException as exc:
                outcome[0], outcome[1] = _RAISED, exc
                raise
            outcome[0], outcome[1] = _RETURNED, result
            return result

        try:
            return await wrapper(call, instance, args, kwargs)
        except Exception as exc:
            if outcome[0] == _RAISED and exc is outcome[1]:
                outcome[1] = None
                raise
            failure = exc
        report_internal_error(f"{patch.integration} patch of {patch.qualname}", failure)
        state, value = outcome
        outcome[1] = None
        if state == _RETURNED:
            return value
        if state == _RAISED:
            raise value
        return await wrapped(*args, **kwargs)

    return patched


_lock = threading.RLock()


def safe_patch(
    integration: str,
    owner: Any,
    name: str,
    wrapper: Callable[..., Any],
    *,
    category: str | None = None,
    is_async: bool | None = None,
) -> Patch | None:
    """Replace ``owner.name`` (a class or module attribute) by a wrapt wrapper that runs ``wrapper``.

    ``wrapper(call, instance, args, kwargs)`` (``async def`` for coroutine functions, detected or forced with
    ``is_async``) must call ``call(*args, **kwargs)`` to run the original. ``category`` lets a framework
    suppress it (see :func:`suppress_spans`). Setting ``patch.active = False`` makes the wrapper pass calls
    straight to the original (``autolog(log_traces=False)`` does this).
    Patching the same attribute twice for one integration does nothing and returns None.
    Prefer ``AutologContext.patch`` inside an integration: it records the patch for ``autolog(disable=True)``.
    """
    import wrapt  # loaded on the first patch, not with the plugin manager at the first trace

    with _lock:
        original, had_own = _raw_attribute(owner, name)
        if getattr(original, "_self_spanlog_patch", None) is not None:
            existing: Patch = original._self_spanlog_patch
            if existing.integration == integration and existing.live:
                return None
        patch = Patch(integration, owner, name, category)
        patch.original, patch.had_own = original, had_own
        async_ = _is_async(original) if is_async is None else is_async
        make = _async_patched if async_ else _sync_patched
        function_wrapper = wrapt.FunctionWrapper(original, make(patch, wrapper))
        function_wrapper._self_spanlog_patch = patch  # type: ignore[attr-defined]
        patch.wrapped = function_wrapper
        setattr(owner, name, function_wrapper)
        return patch


def unpatch(patch: Patch) -> bool:
    """Undo one patch: the attribute is the original object again (or inherited again, when the owner
    had none of its own). If another tool has wrapped our wrapper since, ours is left in place but passes
    every call straight through; returns False in that case.
    """
    with _lock:
        patch.live = patch.active = False
        owner, name = patch.owner, patch.name
        current = (vars(owner) if hasattr(owner, "__dict__") else {}).get(name)
        if current is not patch.wrapped:
            return False
        if patch.had_own:
            setattr(owner, name, patch.original)
        else:
            delattr(owner, name)
        return True


def is_patched(obj: Any) -> bool:
    """True when ``obj`` (an attribute value) is a live spanlog patch."""
    patch = getattr(obj, "_self_spanlog_patch", None)
    return patch is not None and patch.live


def report_patch_failure(integration: str, what: str, exc: BaseException) -> None:
    """For integration code that catches its own errors: log once, count, raise under testing mode."""
    report_internal_error(f"{integration}: {what}", exc)
