"""The plugin on real spans: what an exporter receives once ``spanlog_span_end`` has run."""

from __future__ import annotations

import pytest

import spanlog
import spanlog.plugins
from spanlog.entities import SpanAttributeKey, SpanType
from spanlog.export import InMemoryTraceExporter

from tree_helpers import tree

EMAIL = "[REDACTED:EMAIL]"
PHONE = "[REDACTED:PHONE]"
KEY = "[REDACTED:API_KEY]"


def exported_span(traces: InMemoryTraceExporter, name: str) -> spanlog.entities.Span:
    """The span called ``name`` in the one trace the exporter received."""
    (trace,) = traces.get_traces()
    return next(span for span in trace.data.spans if span.name == name)


def test_inputs_outputs_and_attributes_are_redacted_before_export(traces: InMemoryTraceExporter) -> None:
    @spanlog.trace(span_type=SpanType.TOOL)
    def lookup_customer(email: str, notes: list[str]) -> dict:
        span = spanlog.get_current_active_span()
        span.set_attribute("customer", {"contact": {"phone": "+1 (555) 123-4567", "tier": "gold"}})
        span.set_attribute("retries", 2)
        return {
            "found": True,
            "phone": "555-123-4567",
            "history": [{"note": "key sk-abcdefghijklmnopqrstuv"}],
        }

    @spanlog.trace(span_type=SpanType.AGENT)
    def agent(question: str) -> str:
        lookup_customer("ann@example.com", ["prefers e-mail", "ann@example.com again"])
        return "done"

    agent("Who is ann@example.com?")
    trace = spanlog.get_last_active_trace()
    assert traces.get_traces() == [trace]
    assert tree(trace, io=True, attributes=True, width=200) == (
        "agent [AGENT] OK\n"
        f'  in: {{"question":"Who is {EMAIL}?"}}\n'
        '  out: "done"\n'
        "  lookup_customer [TOOL] OK\n"
        f'    in: {{"email":"{EMAIL}","notes":["prefers e-mail","{EMAIL} again"]}}\n'
        f'    out: {{"found":true,"phone":"{PHONE}","history":[{{"note":"key {KEY}"}}]}}\n'
        f'    @customer: {{"contact":{{"phone":"{PHONE}","tier":"gold"}}}}\n'
        "    @retries: 2"
    )


def test_chat_attributes_are_redacted_and_bookkeeping_is_not(traces: InMemoryTraceExporter) -> None:
    messages = [
        {"role": "system", "content": "You are a support bot."},
        {"role": "user", "content": "My number is 555-123-4567, mail me at ann@example.com"},
    ]
    tool_calls = [{"id": "call_1", "function": {"name": "send", "arguments": '{"to": "ann@example.com"}'}}]
    with spanlog.start_span("chat", span_type=SpanType.CHAT_MODEL) as span:
        span.set_inputs({"messages": messages, "model": "gpt-4o-mini"})
        span.set_attribute(SpanAttributeKey.CHAT_MESSAGES, messages)
        span.set_attribute(SpanAttributeKey.CHAT_TOOL_CALLS, tool_calls)
        span.set_attribute(SpanAttributeKey.TOKEN_USAGE, {"input_tokens": 5551234567, "output_tokens": 12})
        span.set_attribute(SpanAttributeKey.MODEL, "gpt-4o-mini-2024-07-18")
        span.set_attribute(SpanAttributeKey.PROVIDER, "ann@example.com")  # not message text: left alone
        span.set_outputs("Sure.")
    exported = exported_span(traces, "chat")
    redacted_messages = [
        {"role": "system", "content": "You are a support bot."},
        {"role": "user", "content": f"My number is {PHONE}, mail me at {EMAIL}"},
    ]
    assert exported.inputs == {"messages": redacted_messages, "model": "gpt-4o-mini"}
    assert exported.get_attribute(SpanAttributeKey.CHAT_MESSAGES) == redacted_messages
    assert exported.get_attribute(SpanAttributeKey.CHAT_TOOL_CALLS) == [
        {"id": "call_1", "function": {"name": "send", "arguments": f'{{"to": "{EMAIL}"}}'}}
    ]
    assert exported.get_attribute(SpanAttributeKey.TOKEN_USAGE) == {
        "input_tokens": 5551234567,
        "output_tokens": 12,
    }
    assert exported.get_attribute(SpanAttributeKey.MODEL) == "gpt-4o-mini-2024-07-18"
    assert exported.get_attribute(SpanAttributeKey.PROVIDER) == "ann@example.com"
    assert exported.get_attribute(SpanAttributeKey.REQUEST_ID) == exported.request_id
    assert exported.get_attribute(SpanAttributeKey.SPAN_TYPE) == SpanType.CHAT_MODEL
    assert exported.span_type == SpanType.CHAT_MODEL


def test_span_without_pii_is_not_rewritten(traces: InMemoryTraceExporter) -> None:
    # an integer beyond 64 bits comes back from JSON as a float, so a rewritten value would show it
    big = 2**70
    value = {"query": "quarterly report 2024-05-01, version 1.2.3", "count": big}
    with spanlog.start_span("clean") as span:
        span.set_inputs(value)
        span.set_attribute("app.request", value)
        span.set_outputs([big, "ok"])
    exported = exported_span(traces, "clean")
    attributes = exported.to_dict()["attributes"]
    assert (
        attributes[SpanAttributeKey.INPUTS]
        == '{"query":"quarterly report 2024-05-01, version 1.2.3","count":1180591620717411303424}'
    )
    assert attributes["app.request"] == attributes[SpanAttributeKey.INPUTS]
    assert attributes[SpanAttributeKey.OUTPUTS] == '[1180591620717411303424,"ok"]'


def test_only_the_values_with_pii_are_rewritten(traces: InMemoryTraceExporter) -> None:
    big = 2**70
    with spanlog.start_span("mixed") as span:
        span.set_inputs({"to": "bob@example.com"})
        span.set_outputs({"id": big})
    attributes = exported_span(traces, "mixed").to_dict()["attributes"]
    assert attributes[SpanAttributeKey.INPUTS] == f'{{"to":"{EMAIL}"}}'
    assert attributes[SpanAttributeKey.OUTPUTS] == '{"id":1180591620717411303424}'


def test_spans_ended_with_their_trace_are_redacted(traces: InMemoryTraceExporter) -> None:
    with spanlog.start_span("request", span_type=SpanType.CHAIN) as root:
        root.set_inputs("from bob@example.com")
        stream = spanlog.plugins.start_detached_span(
            "stream", SpanType.LLM, inputs={"key": "sk-abcdefghijklmnopqrstuv"}
        )
        stream.set_outputs("partial answer, call 555-123-4567")
        # the stream is never ended: it ends with the trace
    trace = spanlog.get_last_active_trace()
    assert tree(trace, io=True) == (
        "request [CHAIN] OK\n"
        f'  in: "from {EMAIL}"\n'
        "  stream [LLM] UNSET\n"
        f'    in: {{"key":"{KEY}"}}\n'
        f'    out: "partial answer, call {PHONE}"'
    )
    assert exported_span(traces, "stream").get_attribute(SpanAttributeKey.ENDED_WITH_TRACE) is True


def test_client_spans_and_failed_spans_are_redacted(traces: InMemoryTraceExporter) -> None:
    client = spanlog.SpanlogClient()
    root = client.start_trace("job", inputs={"user": "ann@example.com"})
    child = client.start_span("step", root.request_id, root.span_id, inputs="Bearer abcdefghijklmnop0123")
    client.end_span(root.request_id, child.span_id, outputs={"password": "hunter22"}, status="ERROR")
    client.end_trace(root.request_id, outputs="sent to +44 20 7946 0958")
    assert tree(spanlog.get_last_active_trace(), io=True) == (
        "job [UNKNOWN] OK\n"
        f'  in: {{"user":"{EMAIL}"}}\n'
        f'  out: "sent to {PHONE}"\n'
        "  step [UNKNOWN] ERROR\n"
        f'    in: "Bearer {KEY}"\n'
        f'    out: {{"password":"{KEY}"}}'
    )


def test_a_raising_function_is_still_redacted(traces: InMemoryTraceExporter) -> None:
    @spanlog.trace
    def send(to: str) -> None:
        raise ValueError("mailbox full")

    with pytest.raises(ValueError, match="mailbox full"):
        send("ann@example.com")
    assert tree(spanlog.get_last_active_trace(), io=True) == (
        f'send [UNKNOWN] ERROR (ValueError: mailbox full)\n  in: {{"to":"{EMAIL}"}}'
    )
