"""OpenTelemetry interplay: spanlog's own provider, foreign spans parented to spanlog's, global left alone."""

from __future__ import annotations

import subprocess
import sys

from opentelemetry import trace as otel_trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import spanlog
from spanlog.tracing.provider import get_tracer_provider, reset_for_tests


def test_foreign_instrumentation_sees_spanlog_span_as_parent() -> None:
    exporter = InMemorySpanExporter()
    foreign_provider = TracerProvider()
    foreign_provider.add_span_processor(SimpleSpanProcessor(exporter))
    foreign = foreign_provider.get_tracer("some.http.client")

    with spanlog.start_span("agent") as agent:
        with foreign.start_as_current_span("HTTP POST"):
            with spanlog.start_span("tool") as tool:
                pass
    (http_span,) = exporter.get_finished_spans()
    assert f"{http_span.context.trace_id:032x}" == agent.request_id[3:]
    assert f"{http_span.parent.span_id:016x}" == agent.span_id
    # spanlog's own tree skips the foreign span: tool is a child of agent
    assert tool.parent_id == agent.span_id and tool.request_id == agent.request_id


def test_spanlog_root_under_foreign_span_starts_its_own_trace() -> None:
    foreign = TracerProvider().get_tracer("web.framework")
    with foreign.start_as_current_span("GET /chat") as server_span:
        with spanlog.start_span("handler") as span:
            assert otel_trace.get_current_span().get_span_context().span_id == int(span.span_id, 16)
        assert otel_trace.get_current_span() is server_span
    assert span.parent_id is None


def test_own_provider_and_global_untouched() -> None:
    code = (
        "import spanlog\n"
        "from opentelemetry import trace\n"
        "with spanlog.start_span('x'): pass\n"
        "from spanlog.tracing.provider import get_tracer_provider\n"
        "print(type(trace.get_tracer_provider()).__name__, get_tracer_provider() is trace.get_tracer_provider())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["ProxyTracerProvider", "False"]


def test_span_processors_on_spanlogs_provider_see_its_spans() -> None:
    exporter = InMemorySpanExporter()
    processor = SimpleSpanProcessor(exporter)
    get_tracer_provider().add_span_processor(processor)
    try:
        with spanlog.start_span("outer") as outer:
            with spanlog.start_span("inner") as inner:
                pass
    finally:
        processor.shutdown()
        reset_for_tests()
    sdk_inner, sdk_outer = exporter.get_finished_spans()
    assert (sdk_inner.name, sdk_outer.name) == ("inner", "outer")
    assert f"{sdk_inner.context.span_id:016x}" == inner.span_id
    assert f"{sdk_inner.parent.span_id:016x}" == outer.span_id
    assert sdk_outer.context.trace_id == sdk_inner.context.trace_id == int(outer.request_id[3:], 16)
    assert sdk_inner.start_time == inner.start_time_ns and sdk_inner.end_time == inner.end_time_ns


def test_import_is_light() -> None:
    code = (
        "import sys, spanlog\n"
        "heavy = [m for m in ('opentelemetry.sdk.trace', 'opentelemetry.trace', 'pandas', 'sqlalchemy', "
        "'numpy', 'pydantic', 'orjson') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
