"""Helpers for tests: the tree of the last trace, its spans, and parent-link checks."""

from __future__ import annotations

from typing import Any

import spanlog
from spanlog.entities import Trace
from spanlog.tracing.render import render_trace


def tree(trace: Trace | None, **kwargs: object) -> str:
    """The rendered tree of ``trace`` (which must exist)."""
    assert trace is not None, "no trace was recorded"
    return render_trace(trace, **kwargs)  # type: ignore[arg-type]


def assert_well_formed(trace: Trace) -> None:
    """One root, every parent inside the trace, one request id, every span ended within its parent."""
    spans = trace.data.spans
    by_id = {s.span_id: s for s in spans}
    assert len(by_id) == len(spans), "duplicate span ids"
    roots = [s for s in spans if s.parent_id is None]
    assert len(roots) == 1, f"expected one root, got {[s.name for s in roots]}"
    assert spans[0] is roots[0], "the root must come first"
    for span in spans:
        assert span.request_id == trace.info.request_id
        assert span.end_time_ns is not None and span.end_time_ns >= span.start_time_ns
        if span.parent_id is not None:
            parent = by_id[span.parent_id]
            assert parent.start_time_ns <= span.start_time_ns
            assert span.end_time_ns <= parent.end_time_ns  # type: ignore[operator]


def the_trace() -> Any:
    """The last finished trace (it must exist)."""
    trace = spanlog.get_last_active_trace()
    assert trace is not None, "no trace was recorded"
    return trace


def the_span(name: str | None = None) -> Any:
    """The only span of the last trace, or its span called ``name``."""
    spans = the_trace().data.spans
    if name is None:
        assert len(spans) == 1, [s.name for s in spans]
        return spans[0]
    found = [s for s in spans if s.name == name]
    assert len(found) == 1, [s.name for s in spans]
    return found[0]


def event_names(span: Any) -> list[str]:
    """The names of a span's events, in order."""
    return [event.name for event in span.events]


def watch_finishes(proxy: Any) -> list[tuple[str, str | None]]:
    """A list that receives ``(reason, exception type name)`` each time a stream proxy finishes (a
    ``span_stream`` proxy ends its span first; a callback of the proxy's own still runs after)."""
    finishes: list[tuple[str, str | None]] = []
    state = proxy._self_state
    on_finish = state.on_finish

    def counting(reason: str, error: BaseException | None) -> None:
        finishes.append((reason, type(error).__name__ if error else None))
        if on_finish is not None:
            on_finish(reason, error)

    state.on_finish = counting
    return finishes
