"""spanlog: tracing for GenAI applications.

``@spanlog.trace`` and ``with spanlog.start_span(...)`` turn calls into typed span trees; ``SpanlogClient``
controls traces by id. Public names are loaded on first use so that ``import spanlog`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from spanlog.exceptions import InvalidArgumentError, SpanlogError, SpanNotFoundError, TraceNotFoundError

__version__ = "0.1.0"

_LAZY: dict[str, tuple[str, str | None]] = {
    # fluent tracing API
    "trace": ("spanlog.tracing.fluent", "trace"),
    "start_span": ("spanlog.tracing.fluent", "start_span"),
    "get_current_active_span": ("spanlog.tracing.fluent", "get_current_active_span"),
    "update_current_trace": ("spanlog.tracing.fluent", "update_current_trace"),
    "get_last_active_trace": ("spanlog.tracing.fluent", "get_last_active_trace"),
    "get_trace": ("spanlog.tracing.fluent", "get_trace"),
    # experiments and runs
    "set_experiment": ("spanlog.tracking.fluent", "set_experiment"),
    "start_run": ("spanlog.tracking.fluent", "start_run"),
    "end_run": ("spanlog.tracking.fluent", "end_run"),
    "active_run": ("spanlog.tracking.fluent", "active_run"),
    # stored traces
    "search_traces": ("spanlog.store.fluent", "search_traces"),
    "delete_traces": ("spanlog.store.fluent", "delete_traces"),
    "set_trace_tag": ("spanlog.store.fluent", "set_trace_tag"),
    "delete_trace_tag": ("spanlog.store.fluent", "delete_trace_tag"),
    "count_traces": ("spanlog.store.fluent", "count_traces"),
    "set_tracking_uri": ("spanlog.config", "set_tracking_uri"),
    "get_tracking_uri": ("spanlog.config", "get_tracking_uri"),
    "flush_trace_async_logging": ("spanlog.config", "flush_trace_async_logging"),
    "config": ("spanlog.config", None),
    # client
    "SpanlogClient": ("spanlog.client", "SpanlogClient"),
    # integrations
    "autolog": ("spanlog.plugins", "autolog"),
    "plugins": ("spanlog.plugins", None),
    # submodules
    "client": ("spanlog.client", None),
    "entities": ("spanlog.entities", None),
    "tracing": ("spanlog.tracing", None),
    "tracking": ("spanlog.tracking", None),
    "export": ("spanlog.export", None),
}

if TYPE_CHECKING:
    from spanlog import client, config, entities, export, plugins, tracing, tracking
    from spanlog.client import SpanlogClient
    from spanlog.config import flush_trace_async_logging, get_tracking_uri, set_tracking_uri
    from spanlog.plugins import autolog
    from spanlog.store.fluent import (
        count_traces,
        delete_trace_tag,
        delete_traces,
        search_traces,
        set_trace_tag,
    )
    from spanlog.tracing.fluent import (
        get_current_active_span,
        get_last_active_trace,
        get_trace,
        start_span,
        trace,
        update_current_trace,
    )
    from spanlog.tracking.fluent import active_run, end_run, set_experiment, start_run


def __getattr__(name: str) -> Any:
    try:
        module_name, attribute = _LAZY[name]
    except KeyError:
        if name.startswith("_") or not name.isidentifier():
            raise AttributeError(f"module 'spanlog' has no attribute {name!r}") from None
        # spanlog.<integration>: provided by an installed plugin (found on first use)
        from spanlog.plugins import integration_module

        return integration_module(name)
    module = importlib.import_module(module_name)
    value = module if attribute is None else getattr(module, attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


__all__ = [
    "InvalidArgumentError",
    "SpanNotFoundError",
    "SpanlogClient",
    "SpanlogError",
    "TraceNotFoundError",
    "__version__",
    "active_run",
    "autolog",
    "client",
    "config",
    "count_traces",
    "delete_trace_tag",
    "delete_traces",
    "end_run",
    "entities",
    "export",
    "flush_trace_async_logging",
    "get_current_active_span",
    "get_last_active_trace",
    "get_trace",
    "get_tracking_uri",
    "plugins",
    "search_traces",
    "set_experiment",
    "set_trace_tag",
    "set_tracking_uri",
    "start_run",
    "start_span",
    "trace",
    "tracing",
    "tracking",
    "update_current_trace",
]
