"""Integrations and their ``autolog()`` lifecycle: version gate, patch, unpatch, post-import hooks.

An :class:`Integration` declares what a plugin instruments. :class:`IntegrationState` drives it: ``autolog()``
patches once (a second call only updates the settings), ``autolog(disable=True)`` restores every patched
attribute to the original object, and a library that is not imported yet is patched by a post-import hook
the moment it is.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from spanlog.exceptions import InvalidArgumentError
from spanlog.plugins import patching
from spanlog.tracing.state import report_internal_error

_logger = logging.getLogger("spanlog.plugins")


@dataclass(frozen=True)
class Integration:
    """What a plugin instruments, returned from its ``spanlog_integrations`` hook.

    ``name`` is the attribute users call: ``spanlog.<name>.autolog()``. ``library`` is the target's
    distribution name (for its version) and ``module`` its import name (whose import triggers patching).
    ``supported`` is a PEP 440 range such as ``">=1.40,<4"``; left None, it is read from the plugin
    distribution's ``instruments`` extra, so the range is written once, in the plugin's pyproject.toml.
    ``patch(ctx)`` patches through ``ctx.patch``; ``unpatch(ctx)``, if given, undoes anything else it did.
    ``api`` names a module whose public names appear as ``spanlog.<name>.<attr>``.
    """

    name: str
    library: str
    module: str
    patch: Callable[[AutologContext], None]
    supported: str | None = None
    unpatch: Callable[[AutologContext], None] | None = None
    extra: str | None = None
    api: str | None = None
    description: str = ""

    def __post_init__(self) -> None:
        if not self.name.isidentifier() or self.name.startswith("_"):
            raise InvalidArgumentError(f"an integration name must be a public identifier, got {self.name!r}")
        if not callable(self.patch):
            raise InvalidArgumentError(
                f"integration {self.name!r}: patch must be callable, got {self.patch!r}"
            )


@dataclass
class AutologSettings:
    """The arguments of the latest ``autolog()`` call of one integration."""

    log_traces: bool = True
    silent: bool = False
    options: dict[str, Any] = field(default_factory=dict)


class AutologContext:
    """Handed to ``Integration.patch``: patch through it, and read the user's ``autolog()`` settings.

    Settings are read live: ``autolog(log_traces=False)`` after patching stops spans without re-patching.
    """

    def __init__(self, integration: Integration, settings: AutologSettings) -> None:
        self.integration = integration
        self.settings = settings
        self.patches: list[patching.Patch] = []
        self.state: dict[
            str, Any
        ] = {}  # room for the integration's own bookkeeping between patch and unpatch

    @property
    def name(self) -> str:
        """The integration's name."""
        return self.integration.name

    @property
    def options(self) -> dict[str, Any]:
        """Integration-specific keyword arguments of the latest ``autolog()`` call."""
        return self.settings.options

    @property
    def log_traces(self) -> bool:
        """False when the user asked for patches without traces (``autolog(log_traces=False)``)."""
        return self.settings.log_traces

    def refresh(self) -> None:
        """Apply the current ``log_traces`` setting to every patch (they check one flag per call)."""
        for patch in self.patches:
            patch.active = patch.live and self.settings.log_traces

    def patch(
        self,
        owner: Any,
        name: str,
        wrapper: Callable[..., Any],
        *,
        category: str | None = None,
        is_async: bool | None = None,
    ) -> None:
        """Safely patch ``owner.name`` with ``wrapper(call, instance, args, kwargs)`` (see ``safe_patch``);
        it is undone by ``autolog(disable=True)`` and does nothing while ``log_traces`` is False."""
        patch = patching.safe_patch(
            self.integration.name,
            owner,
            name,
            wrapper,
            category=category,
            is_async=is_async,
        )
        if patch is not None:
            patch.active = self.settings.log_traces
            self.patches.append(patch)

    def undo(self) -> None:
        """Restore every attribute this context patched, newest first."""
        while self.patches:
            patching.unpatch(self.patches.pop())


# states shown by ``spanlog plugins``
ACTIVE = "active"
WAITING = "waiting for import"
AVAILABLE = "available"
INCOMPATIBLE = "incompatible"
NOT_INSTALLED = "library not installed"
FAILED = "failed"


def installed_version(library: str) -> str | None:
    """The installed version of a distribution, or None."""
    from importlib import metadata

    try:
        return metadata.version(library)
    except metadata.PackageNotFoundError:
        return None


def version_supported(version: str, supported: str | None) -> bool:
    """True when ``version`` lies in the PEP 440 range ``supported`` (no range: anything goes)."""
    if not supported:
        return True
    from packaging.specifiers import SpecifierSet
    from packaging.version import InvalidVersion, Version

    try:
        return SpecifierSet(supported).contains(Version(version), prereleases=True)
    except InvalidVersion:
        return False


def range_from_metadata(distribution: str | None, library: str) -> str | None:
    """The range of ``library`` that ``distribution`` declares in its ``instruments`` extra, if any."""
    if distribution is None:
        return None
    from importlib import metadata

    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    try:
        requirements = metadata.requires(distribution) or []
    except metadata.PackageNotFoundError:
        return None
    wanted = canonicalize_name(library)
    for line in requirements:
        try:
            req = Requirement(line)
        except InvalidRequirement:
            continue
        if (
            canonicalize_name(req.name) == wanted
            and req.marker is not None
            and "instruments" in str(req.marker)
        ):
            return str(req.specifier) or None
    return None


class IntegrationState:
    """The lifecycle of one integration in this process."""

    def __init__(self, integration: Integration, plugin: str, distribution: str | None) -> None:
        self.integration = integration
        self.plugin = plugin
        self.distribution = distribution
        self._supported: str | bool | None = False  # read from metadata on first use (not at plugin load)
        self.settings = AutologSettings()
        self.context: AutologContext | None = None
        self.wanted = False  # autolog() asked for it and no disable since
        self.force = False
        self.error: str | None = None
        self.skipped: str | None = None  # why the last attempt did not patch
        self._generation = 0
        self._lock = threading.RLock()

    @property
    def name(self) -> str:
        return self.integration.name

    @property
    def supported(self) -> str | None:
        """The supported version range of the library (None: any version)."""
        if self._supported is False:
            self._supported = self.integration.supported or range_from_metadata(
                self.distribution, self.integration.library
            )
        return self._supported  # type: ignore[return-value]

    def state(self) -> str:
        """One of active, waiting for import, available, incompatible, library not installed, failed."""
        if self.context is not None:
            return ACTIVE
        if self.error is not None:
            return FAILED
        version = installed_version(self.integration.library)
        if version is None and self.integration.module not in sys.modules and not self._importable():
            return WAITING if self.wanted else NOT_INSTALLED
        if version is not None and not version_supported(version, self.supported):
            return INCOMPATIBLE
        return WAITING if self.wanted else AVAILABLE

    # -- autolog --------------------------------------------------------------------------------------------

    def autolog(
        self,
        disable: bool = False,
        silent: bool = False,
        log_traces: bool = True,
        force: bool = False,
        import_now: bool = True,
        **options: Any,
    ) -> None:
        """Turn the integration on (patching once) or, with ``disable``, off (restoring the originals)."""
        with self._lock:
            if disable:
                self.wanted = False
                self._generation += 1  # pending post-import hooks become no-ops
                self._unpatch(silent)
                return
            self.settings.log_traces = bool(log_traces)
            self.settings.silent = bool(silent)
            self.settings.options = dict(options)
            self.force = bool(force)
            self.wanted = True
            self.error = None
            if self.context is not None:
                self.context.refresh()  # already patched: only the settings change
                return
            module = sys.modules.get(self.integration.module)
            if module is None and import_now and self._importable():
                try:
                    module = importlib.import_module(self.integration.module)
                except Exception as exc:
                    self._log(
                        silent,
                        "spanlog.%s: importing %s failed (%s); it will be patched when imported",
                        self.name,
                        self.integration.module,
                        exc,
                    )
            if module is not None:
                self._patch(silent)
                return
            if import_now and not self._importable():
                self._log(
                    silent,
                    "spanlog.%s: %s is not installed; it will be traced if it is installed and imported later",
                    self.name,
                    self.integration.library,
                )
            self._arm_post_import_hook(silent)

    def _top_level(self) -> str:
        return self.integration.module.partition(".")[0]

    def _importable(self) -> bool:
        try:
            return importlib.util.find_spec(self._top_level()) is not None
        except (ImportError, ValueError):
            return False

    def _log(self, silent: bool, message: str, *args: Any) -> None:
        (_logger.debug if silent else _logger.warning)(message, *args)

    def _arm_post_import_hook(self, silent: bool) -> None:
        import wrapt

        generation = self._generation

        def on_import(module: Any) -> None:
            with self._lock:
                if self.wanted and self._generation == generation and self.context is None:
                    self._patch(self.settings.silent)

        wrapt.register_post_import_hook(on_import, self.integration.module)

    def _patch(self, silent: bool) -> None:
        version = installed_version(self.integration.library)
        if version is not None and not version_supported(version, self.supported) and not self.force:
            self.skipped = (
                f"{self.integration.library} {version} is outside the supported range {self.supported}"
            )
            self._log(
                silent,
                "spanlog.%s: %s; not patching it. Install a supported version, or call "
                "spanlog.%s.autolog(force=True) to patch anyway.",
                self.name,
                self.skipped,
                self.name,
            )
            return
        self.skipped = None
        context = AutologContext(self.integration, self.settings)
        try:
            self.integration.patch(context)
        except Exception as exc:
            context.undo()
            self.error = f"patch raised {type(exc).__name__}: {exc}"
            report_internal_error(f"patching {self.name}", exc)
            return
        self.context = context
        _logger.debug("spanlog.%s: patched %d attributes", self.name, len(context.patches))

    def _unpatch(self, silent: bool) -> None:
        context, self.context = self.context, None
        if context is None:
            return
        try:
            if self.integration.unpatch is not None:
                self.integration.unpatch(context)
        except Exception as exc:
            report_internal_error(f"unpatching {self.name}", exc)
        finally:
            context.undo()
