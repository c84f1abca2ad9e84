"""Where plugin hooks meet the span lifecycle: plain lists of callables read on every span.

The plugin manager (``spanlog.plugins``) fills these lists from the hook implementations of the registered
plugins. The tracing layer only calls them, each guarded on its own, so one failing plugin neither breaks
the user's call nor stops the other plugins. Plugins are discovered when the first trace starts (or at the
first ``autolog()``), never at ``import spanlog``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from spanlog.tracing.state import report_internal_error

# (plugin name, function) pairs, in call order; empty lists cost one truth test per span
span_start: list[tuple[str, Callable[..., Any]]] = []
span_end: list[tuple[str, Callable[..., Any]]] = []
trace_end: list[tuple[str, Callable[..., Any]]] = []
exporters: list[tuple[str, Any]] = []

loaded = False


def load_plugins() -> None:
    """Discover and register installed plugins, once (the first trace of the process calls this).

    The manager sets ``loaded`` when discovery is over; a thread that starts a trace meanwhile waits for it,
    so no span misses the hooks of an installed plugin.
    """
    global loaded
    try:
        from spanlog.plugins import manager  # the plugin layer above; imported on first use only

        manager.get_manager().ensure_loaded()
    except Exception as exc:
        loaded = True
        report_internal_error("loading plugins", exc)


def run(hooks: list[tuple[str, Callable[..., Any]]], hook_name: str, target: Any) -> None:
    """Call every implementation of one hook with ``target``; a failure is reported under the plugin's name."""
    for plugin, fn in hooks:
        try:
            fn(target)
        except Exception as exc:
            report_internal_error(f"plugin {plugin!r} hook {hook_name}", exc)
