"""The plugin manager: find plugins in the ``spanlog`` entry-point group, register them with pluggy, and
feed their hooks to the tracing layer.

Discovery runs once, at the first trace or the first use of ``spanlog.<integration>`` / ``spanlog.autolog``,
never at ``import spanlog``. A plugin that fails to import is recorded with its reason and skipped.
``SPANLOG_DISABLE_PLUGINS`` skips entry points by name (comma-separated), or all of them with ``all``.
"""

from __future__ import annotations

import logging
import os
import threading
import types
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pluggy

from spanlog.exceptions import SpanlogError
from spanlog.plugins import hookspecs
from spanlog.plugins.integration import Integration, IntegrationState
from spanlog.tracing import hooks as _hooks
from spanlog.tracing.state import report_internal_error

_logger = logging.getLogger("spanlog.plugins")

ENTRY_POINT_GROUP = "spanlog"

# first-party integrations: attribute name -> the spanlog extra that installs it
FIRST_PARTY_EXTRAS = {
    "openai": "openai",
    "langchain": "langchain",
    "llama_index": "llama-index",
    "autogen": "autogen",
    "ag2": "autogen",
}


class IntegrationNotInstalledError(SpanlogError, AttributeError):
    """``spanlog.<name>`` was used but no installed plugin provides that integration."""


@dataclass
class PluginInfo:
    """One plugin as ``spanlog plugins`` shows it."""

    name: str
    distribution: str | None = None
    version: str | None = None
    source: str = "entry point"  # or "registered"
    state: str = "loaded"  # loaded, failed to load, disabled
    error: str | None = None
    hooks: list[str] = field(default_factory=list)
    plugin: Any = None
    serializers: list[type] = field(default_factory=list)  # registered for this plugin, removed with it


class PluginManager:
    """Registers plugins and keeps the tracing layer's hook lists and the integrations in step with them."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.plugins: dict[str, PluginInfo] = {}
        self.integrations: dict[str, IntegrationState] = {}
        self._loaded = False
        self._lock = threading.RLock()

    # -- discovery ------------------------------------------------------------------------------------------

    def ensure_loaded(self) -> None:
        """Load every entry-point plugin, once; other threads wait until it is done."""
        if _hooks.loaded:
            return
        with self._lock:
            if self._loaded:  # done, or in progress on this thread (a plugin that traces while imported)
                return
            self._loaded = True
            try:
                self._load_entry_points()
            finally:
                _hooks.loaded = True

    def _load_entry_points(self) -> None:
        from importlib import metadata

        disabled = {n.strip() for n in os.environ.get("SPANLOG_DISABLE_PLUGINS", "").split(",") if n.strip()}
        try:
            entry_points: Iterable[Any] = metadata.entry_points(group=ENTRY_POINT_GROUP)
        except Exception as exc:
            report_internal_error("listing plugin entry points", exc)
            return
        seen: set[str] = set()
        for ep in sorted(entry_points, key=lambda e: e.name):
            if ep.name in seen:  # the same distribution found twice on sys.path
                continue
            seen.add(ep.name)
            dist = getattr(ep, "dist", None)
            info = PluginInfo(
                name=ep.name,
                distribution=dist.name if dist is not None else None,
                version=dist.version if dist is not None else None,
            )
            if "all" in disabled or ep.name in disabled:
                info.state = "disabled"
                info.error = "skipped by SPANLOG_DISABLE_PLUGINS"
                self.plugins[ep.name] = info
                continue
            try:
                plugin = ep.load()
            except Exception as exc:  # a broken plugin must not break spanlog
                info.state = "failed to load"
                info.error = f"{type(exc).__name__}: {exc}"
                self.plugins[ep.name] = info
                _logger.warning(
                    "spanlog plugin %r (%s) failed to load and is skipped: %s",
                    ep.name,
                    ep.value,
                    info.error,
                )
                continue
            self._register(plugin, info)

    # -- registration ---------------------------------------------------------------------------------------

    def register(self, plugin: Any, name: str | None = None) -> str:
        """Register a plugin object or module by hand; returns its name."""
        self.ensure_loaded()
        name = name or getattr(plugin, "__name__", None) or type(plugin).__name__
        with self._lock:
            if name in self.plugins and self.plugins[name].state == "loaded":
                raise SpanlogError(f"a plugin named {name!r} is already registered; unregister it first")
            self._register(plugin, PluginInfo(name=name, source="registered"))
        return name

    def _register(self, plugin: Any, info: PluginInfo) -> None:
        with self._lock:
            try:
                self.pm.register(plugin, name=info.name)
                try:
                    self.pm.check_pending()  # a spanlog_* function that matches no hook: a typo
                except Exception:
                    self.pm.unregister(name=info.name)
                    raise
            except Exception as exc:  # a hook with a wrong name or signature
                info.state = "failed to load"
                info.error = f"{type(exc).__name__}: {exc}"
                self.plugins[info.name] = info
                _logger.warning("spanlog plugin %r is invalid and is skipped: %s", info.name, info.error)
                return
            info.plugin = plugin
            info.hooks = sorted(
                impl_name
                for impl_name in hookspecs.ALL_HOOKS
                if any(
                    impl.plugin_name == info.name for impl in getattr(self.pm.hook, impl_name).get_hookimpls()
                )
            )
            self.plugins[info.name] = info
            self._collect_integrations(info)
            self._collect_serializers(info)
            self._refresh_hooks()

    def unregister(self, name: str) -> None:
        """Remove a plugin: its integrations are disabled (originals restored), its hooks stop running."""
        with self._lock:
            info = self.plugins.pop(name, None)
            if info is None:
                raise SpanlogError(f"no plugin named {name!r} is registered (known: {sorted(self.plugins)})")
            for state in [s for s in self.integrations.values() if s.plugin == name]:
                state.autolog(disable=True)
                del self.integrations[state.name]
            if info.plugin is not None:
                self.pm.unregister(name=name)
            _drop_serializers(info)
            self._refresh_hooks(shutdown_removed=True)

    def _call_one(self, info: PluginInfo, hook_name: str) -> Any:
        """Call one plugin's implementation of a hook that returns something; None if it has none."""
        for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
            if impl.plugin_name == info.name:
                try:
                    return impl.function()
                except Exception as exc:
                    report_internal_error(f"plugin {info.name!r} hook {hook_name}", exc)
        return None

    def _collect_integrations(self, info: PluginInfo) -> None:
        declared = self._call_one(info, "spanlog_integrations") or ()
        for integration in declared:
            if not isinstance(integration, Integration):
                report_internal_error(
                    f"plugin {info.name!r} hook spanlog_integrations",
                    TypeError(f"expected spanlog.plugins.Integration objects, got {integration!r}"),
                )
                continue
            if integration.name in self.integrations:
                _logger.warning(
                    "spanlog: integration %r of plugin %r is ignored: plugin %r already provides it",
                    integration.name,
                    info.name,
                    self.integrations[integration.name].plugin,
                )
                continue
            self.integrations[integration.name] = IntegrationState(integration, info.name, info.distribution)

    def _collect_serializers(self, info: PluginInfo) -> None:
        from spanlog.tracing.serialization import register_serializer

        serializers = self._call_one(info, "spanlog_serializers") or {}
        for key, fn in dict(serializers).items():
            if isinstance(key, type):
                register_serializer(key, fn)
                info.serializers.append(key)
            elif isinstance(key, str) and ":" in key:
                _register_on_import(key, fn, info)
            else:
                report_internal_error(
                    f"plugin {info.name!r} hook spanlog_serializers",
                    TypeError(f"a serializer key is a type or 'module:QualName', got {key!r}"),
                )

    def _refresh_hooks(self, shutdown_removed: bool = False) -> None:
        """Rebuild the lists the tracing layer calls, in registration order."""

        def impls(hook_name: str) -> list[tuple[str, Callable[..., Any]]]:
            # pluggy lists implementations last-registered first; spanlog calls them first-registered first
            return [
                (impl.plugin_name, impl.function)
                for impl in reversed(getattr(self.pm.hook, hook_name).get_hookimpls())
            ]

        _hooks.span_start[:] = impls("spanlog_span_start")
        _hooks.span_end[:] = impls("spanlog_span_end")
        _hooks.trace_end[:] = impls("spanlog_trace_end")
        current = {name for name, _ in impls("spanlog_exporters")}
        kept = [(name, exp) for name, exp in _hooks.exporters if name in current]
        removed = [(name, exp) for name, exp in _hooks.exporters if name not in current]
        have = {name for name, _ in kept}
        for name in sorted(current - have, key=list(self.plugins).index):
            info = self.plugins[name]
            for exporter in self._call_one(info, "spanlog_exporters") or ():
                kept.append((name, exporter))
        _hooks.exporters[:] = kept
        if shutdown_removed:
            for name, exporter in removed:
                try:
                    exporter.shutdown()
                except Exception as exc:
                    report_internal_error(f"plugin {name!r} exporter shutdown", exc)

    # -- integrations ---------------------------------------------------------------------------------------

    def integration(self, name: str) -> IntegrationState:
        """The integration called ``name``; raises IntegrationNotInstalledError naming the extra to install."""
        self.ensure_loaded()
        state = self.integrations.get(name)
        if state is not None:
            return state
        extra = FIRST_PARTY_EXTRAS.get(name)
        if extra is not None:
            raise IntegrationNotInstalledError(
                f"spanlog.{name} needs the {name} integration, which is not installed: "
                f"pip install 'spanlog[{extra}]'"
            )
        raise IntegrationNotInstalledError(
            f"module 'spanlog' has no attribute {name!r}, and no installed plugin provides an integration "
            f"named {name!r} (installed integrations: {sorted(self.integrations) or 'none'})"
        )

    def autolog_all(self, disable: bool = False, silent: bool = False, log_traces: bool = True) -> None:
        """Turn every installed integration on (or off): imported libraries now, the others when imported."""
        self.ensure_loaded()
        for state in list(self.integrations.values()):
            state.autolog(disable=disable, silent=silent, log_traces=log_traces, import_now=False)


_manager: PluginManager | None = None
_manager_lock = threading.Lock()


def get_manager() -> PluginManager:
    """The process-wide plugin manager (created on first use)."""
    global _manager
    if _manager is None:
        with _manager_lock:
            if _manager is None:
                _manager = PluginManager()
    return _manager


def reset_for_tests() -> None:
    """Disable every integration and forget all plugins; the next use discovers entry points again."""
    global _manager
    with _manager_lock:
        manager, _manager = _manager, None
    if manager is not None:
        for state in list(manager.integrations.values()):
            state.autolog(disable=True, silent=True)
        for info in manager.plugins.values():
            _drop_serializers(info)
    _hooks.span_start.clear()
    _hooks.span_end.clear()
    _hooks.trace_end.clear()
    for _name, exporter in _hooks.exporters:
        try:
            exporter.shutdown()
        except Exception:
            pass
    _hooks.exporters.clear()
    _hooks.loaded = False


def _drop_serializers(info: PluginInfo) -> None:
    """Unregister the serializers a plugin contributed (and forget those still waiting for an import)."""
    from spanlog.tracing.serialization import unregister_serializer

    info.plugin = None  # pending post-import registrations check this
    while info.serializers:
        unregister_serializer(info.serializers.pop())


def _register_on_import(key: str, fn: Callable[[Any], Any], info: PluginInfo) -> None:
    """Register a serializer for ``module:QualName`` once that module is imported, if the plugin is still there."""
    import wrapt

    module_name, _, qualname = key.partition(":")
    plugin = info.plugin

    def on_import(module: types.ModuleType) -> None:
        from spanlog.tracing.serialization import register_serializer

        if info.plugin is not plugin or plugin is None:
            return  # unregistered before the module was imported
        target: Any = module
        for part in qualname.split("."):
            target = getattr(target, part)
        register_serializer(target, fn)
        info.serializers.append(target)

    def guarded(module: types.ModuleType) -> None:
        try:
            on_import(module)
        except Exception as exc:
            report_internal_error(f"registering the serializer for {key}", exc)

    wrapt.register_post_import_hook(guarded, module_name)
