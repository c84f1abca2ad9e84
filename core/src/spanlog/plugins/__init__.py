"""spanlog's plugin API: everything a plugin (first-party or not) uses, and nothing else.

- ``hookimpl`` marks a plugin's hook functions (``spanlog.plugins.hookspecs`` lists and documents them).
- ``Integration`` declares a library to instrument; ``AutologContext.patch`` patches it safely.
- ``safe_patch``, ``suppress_spans``, ``span_stream``, ``end_stream_span``, ``StreamProxy`` and
  ``AsyncStreamProxy``: the patching toolkit. ``start_detached_span`` and ``use_span`` start spans whose
  lifetime outlives a call; ``activate_span`` / ``deactivate_span`` make a span active across the callbacks of
  a framework run, ``current_span`` reads the active one. ``report_patch_failure`` reports a failure an
  integration caught itself, ``testing_mode`` says whether such failures should raise instead.
- ``SpanType``, ``SpanAttributeKey``, ``LiveSpan`` and ``NoOpSpan`` (what a span is when tracing is off or
  sampled out): the span vocabulary a plugin needs.
- ``register`` / ``unregister`` add and remove plugins by hand; ``list_plugins`` and
  ``list_integrations`` report what is installed; ``autolog`` turns every installed integration on.
"""

from __future__ import annotations

import types
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from spanlog.entities.span import NO_OP_SPAN, LiveSpan, NoOpSpan, SpanAttributeKey
from spanlog.entities.span_type import SpanType
from spanlog.plugins.hookspecs import hookimpl, hookspec
from spanlog.plugins.integration import (
    ACTIVE,
    AVAILABLE,
    FAILED,
    INCOMPATIBLE,
    NOT_INSTALLED,
    WAITING,
    AutologContext,
    Integration,
    IntegrationState,
)
from spanlog.plugins.manager import (
    ENTRY_POINT_GROUP,
    IntegrationNotInstalledError,
    PluginInfo,
    get_manager,
)
from spanlog.plugins.patching import (
    PROVIDER,
    Patch,
    is_patched,
    is_suppressed,
    report_patch_failure,
    safe_patch,
    suppress_spans,
    unpatch,
)
from spanlog.tracing import trace_manager as _tm
from spanlog.tracing.state import STATE, report_internal_error

if TYPE_CHECKING:
    from spanlog.plugins.streams import AsyncStreamProxy, StreamProxy, end_stream_span, span_stream

_STREAMS = ("AsyncStreamProxy", "StreamProxy", "end_stream_span", "span_stream")


def __getattr__(name: str) -> Any:
    # the stream proxies build on wrapt, which is loaded only when an integration first needs it
    if name in _STREAMS:
        from spanlog.plugins import streams

        return getattr(streams, name)
    raise AttributeError(f"module 'spanlog.plugins' has no attribute {name!r}")


def register(plugin: Any, name: str | None = None) -> str:
    """Register a plugin module or object (one with ``@hookimpl`` functions) without an entry point."""
    return get_manager().register(plugin, name)


def unregister(name: str) -> None:
    """Remove a registered plugin; its integrations are disabled and their originals restored."""
    get_manager().unregister(name)


def list_plugins() -> list[PluginInfo]:
    """Every plugin found or registered, including those that failed to load (with the reason)."""
    manager = get_manager()
    manager.ensure_loaded()
    return list(manager.plugins.values())


def list_integrations() -> list[IntegrationState]:
    """Every integration the installed plugins declare, with its state."""
    manager = get_manager()
    manager.ensure_loaded()
    return list(manager.integrations.values())


def autolog(disable: bool = False, silent: bool = False, log_traces: bool = True) -> None:
    """Turn on every installed integration: libraries already imported are patched now, the others the
    moment they are imported. ``disable=True`` turns them all off and restores the originals."""
    get_manager().autolog_all(disable=disable, silent=silent, log_traces=log_traces)


def start_detached_span(
    name: str,
    span_type: str = SpanType.UNKNOWN,
    inputs: Any = None,
    attributes: Mapping[str, Any] | None = None,
) -> LiveSpan | NoOpSpan:
    """Start a span under the active one (a new trace if none) without making it active.

    For calls whose span outlives the call, such as a stream: end it with ``span.end()`` or ``span_stream``.
    Returns a no-op span when tracing is off or the trace is sampled out; never raises.
    """
    try:
        span = _tm.open_span(name, span_type, attributes)
        if inputs is not None:
            span.set_inputs(inputs)
        return span
    except Exception as exc:
        report_internal_error("starting a span", exc)
        return NO_OP_SPAN


@contextmanager
def use_span(span: LiveSpan | NoOpSpan, end: bool = False) -> Iterator[LiveSpan | NoOpSpan]:
    """Make ``span`` the active span inside the block, so spans started there nest under it.

    With ``end=True`` the span also ends at the block's end, recording an escaping exception as ERROR.
    """
    token = _tm.activate(span)
    try:
        yield span
    except BaseException as exc:
        if end:
            _tm.close_span(span, exc, None, False)
        raise
    else:
        if end:
            _tm.close_span(span, None, None, False)
    finally:
        _tm.deactivate(token)


# the tracing layer's own functions, not wrappers around them: integrations call these around every call
activate_span = _tm.activate
deactivate_span = _tm.deactivate


def current_span() -> LiveSpan | NoOpSpan | None:
    """The active span of this context (a NoOpSpan inside a sampled-out trace), or None."""
    return _tm.current_span()


def testing_mode() -> bool:
    """True under ``SPANLOG_TESTING=1``: failures a plugin catches inside itself should then raise, so that
    tests see them (in production they are logged once and counted, see ``report_patch_failure``)."""
    return STATE.testing


class IntegrationModule(types.ModuleType):
    """What ``spanlog.<name>`` is: ``autolog()`` for that integration, plus the names of its ``api`` module."""

    def __init__(self, state: IntegrationState) -> None:
        super().__init__(f"spanlog.{state.name}", state.integration.description or None)
        self._state = state

    def autolog(
        self,
        disable: bool = False,
        silent: bool = False,
        log_traces: bool = True,
        **options: Any,
    ) -> None:
        """Trace every call of the library (``disable=True`` restores it exactly). Calling it again only
        updates the settings. ``force=True`` patches a library version outside the supported range."""
        force = bool(options.pop("force", False))
        self._state.autolog(disable=disable, silent=silent, log_traces=log_traces, force=force, **options)

    @property
    def state(self) -> str:
        """The integration's state: active, available, waiting for import, incompatible, failed, ..."""
        return self._state.state()

    def __getattr__(self, attr: str) -> Any:
        api = self._state.integration.api
        if api is None or attr.startswith("__"):
            raise AttributeError(f"module 'spanlog.{self._state.name}' has no attribute {attr!r}")
        import importlib

        return getattr(importlib.import_module(api), attr)


_modules: dict[str, IntegrationModule] = {}


def integration_module(name: str) -> IntegrationModule:
    """``spanlog.<name>``; raises IntegrationNotInstalledError (an AttributeError) naming the pip extra."""
    module = _modules.get(name)
    state = get_manager().integration(name)
    if module is None or module._state is not state:
        module = _modules[name] = IntegrationModule(state)
    return module


__all__ = [
    "ACTIVE",
    "AVAILABLE",
    "ENTRY_POINT_GROUP",
    "FAILED",
    "INCOMPATIBLE",
    "NOT_INSTALLED",
    "PROVIDER",
    "WAITING",
    "AsyncStreamProxy",
    "AutologContext",
    "Integration",
    "IntegrationModule",
    "IntegrationNotInstalledError",
    "IntegrationState",
    "LiveSpan",
    "NoOpSpan",
    "Patch",
    "PluginInfo",
    "SpanAttributeKey",
    "SpanType",
    "StreamProxy",
    "activate_span",
    "autolog",
    "current_span",
    "deactivate_span",
    "end_stream_span",
    "hookimpl",
    "hookspec",
    "integration_module",
    "is_patched",
    "is_suppressed",
    "list_integrations",
    "list_plugins",
    "register",
    "report_patch_failure",
    "safe_patch",
    "span_stream",
    "start_detached_span",
    "suppress_spans",
    "testing_mode",
    "unpatch",
    "unregister",
    "use_span",
]
