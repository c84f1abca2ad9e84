"""Helpers for core tests: the tree of the last trace, and parent-link checks."""

from __future__ import annotations

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
