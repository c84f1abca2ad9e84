"""Every hook runs at its moment, in registration order; a fault in any hook or exporter leaves the user's
call with its correct result and the other plugins running."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

import spanlog
from spanlog.export import InMemoryTraceExporter
from spanlog.plugins import hookimpl
from spanlog.tracing import stats

from tree_helpers import tree


class Enricher:
    """Adds attributes at start and end, a tag at trace end, an exporter and a serializer."""

    def __init__(self) -> None:
        self.exporter = InMemoryTraceExporter(max_traces=None)
        self.calls: list[str] = []

    @hookimpl
    def spanlog_span_start(self, span: Any) -> None:
        self.calls.append(f"start {span.name}")
        span.set_attribute("env", "test")

    @hookimpl
    def spanlog_span_end(self, span: Any) -> None:
        self.calls.append(f"end {span.name}")
        span.set_attribute("output_chars", len(str(span.outputs)))

    @hookimpl
    def spanlog_trace_end(self, trace: Any) -> None:
        self.calls.append("trace")
        trace.info.tags["enriched"] = "yes"

    @hookimpl
    def spanlog_exporters(self) -> list[Any]:
        return [self.exporter]

    @hookimpl
    def spanlog_serializers(self) -> dict[Any, Any]:
        return {Point: lambda p: f"<{p.x},{p.y}>", "decimal:Decimal": lambda d: f"decimal {d}"}


@dataclasses.dataclass
class Point:
    x: int
    y: int

    def __repr__(self) -> str:
        raise AssertionError("the plugin's serializer should be used")


def test_hooks_run_at_their_moments(traces: InMemoryTraceExporter) -> None:
    enricher = Enricher()
    spanlog.plugins.register(enricher, name="enricher")

    with spanlog.start_span("root") as root:
        root.set_inputs({"point": Point(1, 2)})
        with spanlog.start_span("child") as child:
            child.set_outputs("four")
    assert enricher.calls == ["start root", "start child", "end child", "end root", "trace"]

    trace = spanlog.get_last_active_trace()
    root_span, child_span = trace.data.spans
    assert root_span.attributes["env"] == "test" and child_span.attributes["output_chars"] == 4
    assert root_span.inputs == {"point": "<1,2>"}
    assert trace.info.tags["enriched"] == "yes"
    assert [t.info.request_id for t in enricher.exporter.get_traces()] == [trace.info.request_id]
    assert [t.info.request_id for t in traces.get_traces()] == [trace.info.request_id]

    import decimal  # registered by module name, when imported

    with spanlog.start_span("dec") as span:
        span.set_outputs(decimal.Decimal("1.5"))
    assert spanlog.get_last_active_trace().data.spans[0].outputs == "decimal 1.5"


def test_span_end_hook_sees_spans_ended_with_their_trace() -> None:
    enricher = Enricher()
    spanlog.plugins.register(enricher, name="enricher")
    client = spanlog.SpanlogClient()
    root = client.start_trace("root")
    client.start_span("left open", request_id=root.request_id, parent_id=root.span_id)
    client.end_trace(root.request_id)
    assert "end left open" in enricher.calls


class Faulty:
    """Raises in every hook it implements, including its exporter."""

    class BrokenExporter(InMemoryTraceExporter):
        def export(self, trace: Any) -> None:
            raise RuntimeError("exporter bug")

    @hookimpl
    def spanlog_span_start(self, span: Any) -> None:
        raise RuntimeError("span_start bug")

    @hookimpl
    def spanlog_span_end(self, span: Any) -> None:
        raise RuntimeError("span_end bug")

    @hookimpl
    def spanlog_trace_end(self, trace: Any) -> None:
        raise RuntimeError("trace_end bug")

    @hookimpl
    def spanlog_exporters(self) -> list[Any]:
        return [self.BrokenExporter()]

    @hookimpl
    def spanlog_serializers(self) -> dict[Any, Any]:
        return {Point: lambda p: 1 / 0}


def test_faults_in_every_hook_leave_the_user_call_and_other_plugins_intact(
    traces: InMemoryTraceExporter, production_mode: None
) -> None:
    spanlog.plugins.register(Faulty(), name="faulty")
    enricher = Enricher()
    spanlog.plugins.register(enricher, name="enricher")

    @spanlog.trace
    def work(x: int) -> int:
        with spanlog.start_span("inner"):
            return x * 2

    assert work(21) == 42
    trace = spanlog.get_last_active_trace()
    assert tree(trace) == "work [UNKNOWN] OK\n  inner [UNKNOWN] OK"
    assert trace.info.tags["enriched"] == "yes", "the healthy plugin still ran after the faulty one"
    assert len(traces) == 1 and len(enricher.exporter.get_traces()) == 1
    counts = stats()
    for hook in ("spanlog_span_start", "spanlog_span_end", "spanlog_trace_end"):
        assert counts[f"internal_error:plugin 'faulty' hook {hook}"] >= 1
    assert counts["internal_error:plugin 'faulty' exporter"] == 1


def test_under_testing_mode_a_hook_fault_raises() -> None:
    class Bad:
        @hookimpl
        def spanlog_span_start(self, span: Any) -> None:
            raise RuntimeError("bug")

    spanlog.plugins.register(Bad(), name="bad")
    with pytest.raises(RuntimeError, match="bug"):
        with spanlog.start_span("x"):
            pass


def test_faulty_integration_declarations_are_reported(production_mode: None) -> None:
    class Declares:
        @hookimpl
        def spanlog_integrations(self) -> list[Any]:
            return ["not an Integration"]

    class Raises:
        @hookimpl
        def spanlog_integrations(self) -> list[Any]:
            raise RuntimeError("declaration bug")

    spanlog.plugins.register(Declares(), name="declares")
    spanlog.plugins.register(Raises(), name="raises")
    counts = stats()
    assert counts["internal_error:plugin 'declares' hook spanlog_integrations"] == 1
    assert counts["internal_error:plugin 'raises' hook spanlog_integrations"] == 1
    with spanlog.start_span("still traced"):
        pass
    assert spanlog.get_last_active_trace() is not None


def test_a_hook_with_a_wrong_name_is_rejected_clearly() -> None:
    class Typo:
        @hookimpl
        def spanlog_span_stat(self, span: Any) -> None: ...

    spanlog.plugins.register(Typo(), name="typo")
    info = {p.name: p for p in spanlog.plugins.list_plugins()}["typo"]
    assert info.state == "failed to load" and "spanlog_span_stat" in info.error


def test_unregister_stops_hooks_and_shuts_exporters_down() -> None:
    enricher = Enricher()
    spanlog.plugins.register(enricher, name="enricher")
    spanlog.plugins.unregister("enricher")
    with spanlog.start_span("after"):
        pass
    assert enricher.calls == []
    assert "enriched" not in spanlog.get_last_active_trace().info.tags
    with pytest.raises(spanlog.SpanlogError, match="no plugin named 'enricher'"):
        spanlog.plugins.unregister("enricher")


def test_a_plugins_serializers_leave_with_it() -> None:
    import decimal

    spanlog.plugins.register(Enricher(), name="enricher")
    with spanlog.start_span("with") as span:
        span.set_outputs([decimal.Decimal("2.5"), Point(3, 4)])
    assert spanlog.get_last_active_trace().data.spans[0].outputs == ["decimal 2.5", "<3,4>"]
    spanlog.plugins.unregister("enricher")
    with spanlog.start_span("without") as span:
        span.set_outputs(decimal.Decimal("2.5"))
    assert spanlog.get_last_active_trace().data.spans[0].outputs == "2.5", "the built-in rule again"


def test_a_span_end_hook_may_start_spans(traces: InMemoryTraceExporter) -> None:
    """Hooks run outside the trace's lock: one that starts a span while spans end does not deadlock."""

    class Auditor:
        @hookimpl
        def spanlog_span_end(self, span: Any) -> None:
            if span.name == "left open":
                with spanlog.start_span("audit"):
                    pass

    spanlog.plugins.register(Auditor(), name="auditor")
    with spanlog.start_span("root"):
        spanlog.plugins.start_detached_span("left open")
    roots = sorted(t.data.spans[0].name for t in traces.get_traces())
    assert roots == ["audit", "root"]
    assert [s.name for s in spanlog.get_last_active_trace().data.spans] == ["root", "left open"]


def test_every_name_of_the_plugin_api_resolves() -> None:
    import spanlog.plugins as api

    missing = [name for name in api.__all__ if not hasattr(api, name)]
    assert missing == []


def test_activate_span_across_callbacks(traces: Any) -> None:
    # what a framework's start and end callbacks do: activate the run's span in one, deactivate in the other
    from spanlog.plugins import activate_span, current_span, deactivate_span, start_detached_span

    run = start_detached_span("run", "CHAIN")
    token = activate_span(run)
    assert current_span() is run
    with spanlog.start_span("inside"):
        pass
    deactivate_span(token)
    assert current_span() is None
    run.end()
    (trace,) = traces.get_traces()
    inside = next(s for s in trace.data.spans if s.name == "inside")
    assert inside.parent_id == run.span_id
