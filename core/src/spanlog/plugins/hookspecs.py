"""The hooks a spanlog plugin may implement. A plugin is a module or object with functions of these names,
each marked with ``@spanlog.plugins.hookimpl``; it is found through the ``spanlog`` entry-point group or
registered with ``spanlog.plugins.register``. A plugin implements only the hooks it needs.

Every hook runs guarded: an exception in one is logged once, counted in ``spanlog.tracing.stats()`` and
does not reach the user's code or the other plugins (under ``SPANLOG_TESTING=1`` it raises, so a plugin's
own tests see its bugs).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from spanlog.entities.span import LiveSpan
    from spanlog.entities.trace import Trace
    from spanlog.export.base import TraceExporter
    from spanlog.plugins.integration import Integration

PROJECT = "spanlog"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def spanlog_integrations() -> Sequence[Integration]:
    """Declare the libraries this plugin instruments.

    Return :class:`spanlog.plugins.Integration` objects: a name (``spanlog.<name>.autolog()``), the target
    distribution and import name, the supported version range, and the ``patch`` / ``unpatch`` functions.
    Called once, when plugins load; it must not import the target library (``patch`` does that).
    """
    raise NotImplementedError


@hookspec
def spanlog_span_start(span: LiveSpan) -> None:
    """A span has just started: add attributes (enrich), for example an environment or a user id.

    Runs on the thread that started the span, inside the user's call: keep it cheap.
    """


@hookspec
def spanlog_span_end(span: LiveSpan) -> None:
    """A span is about to end: its inputs, outputs and attributes are final but still writable.

    The place to enrich with results or to redact (``span.set_inputs(redact(span.inputs))``). Also called
    for spans that end because their trace ended while they were open.
    """


@hookspec
def spanlog_trace_end(trace: Trace) -> None:
    """A trace has finished and is about to be exported: read it, or change its tags (``trace.info.tags``).

    Its spans have ended; use ``spanlog_span_end`` to change span contents.
    """


@hookspec
def spanlog_exporters() -> Sequence[TraceExporter]:
    """Return exporters that receive every finished trace, next to the active one (``spanlog.export``).

    Each exporter's ``export`` runs on the thread that ended the trace: queue the work, never block.
    """
    raise NotImplementedError


@hookspec
def spanlog_serializers() -> Mapping[type | str, Callable[[Any], Any]]:
    """Return converters that turn a library's objects into JSON-able values for span inputs and outputs.

    A key is a type, or ``"module:QualName"`` so that the library is not imported just to register it:
    such a converter is registered when that module is imported.
    """
    raise NotImplementedError


ALL_HOOKS = (
    "spanlog_integrations",
    "spanlog_span_start",
    "spanlog_span_end",
    "spanlog_trace_end",
    "spanlog_exporters",
    "spanlog_serializers",
)
