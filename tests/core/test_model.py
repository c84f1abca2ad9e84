"""The trace model: ids, dict/JSON round trips, and the documented shape of a span."""

from __future__ import annotations

import json

import pytest

import spanlog
from spanlog.entities import (
    Span,
    SpanEvent,
    SpanStatus,
    SpanStatusCode,
    Trace,
    TraceData,
    TraceInfo,
    TraceStatus,
)


def make_trace() -> Trace:
    with spanlog.start_span("root", span_type="CHAIN", attributes={"k": {"nested": [1, 2]}}) as root:
        root.set_inputs({"q": "hello"})
        with spanlog.start_span("child", span_type="LLM") as child:
            child.set_inputs(["a", "b"])
            child.add_event(SpanEvent("first_token", attributes={"ms": 12}))
            child.set_outputs({"text": "hi", "n": None})
        spanlog.update_current_trace(tags={"env": "test"}, metadata={"user": "u"})
        root.set_outputs("done")
    trace = spanlog.get_last_active_trace()
    assert trace is not None
    return trace


def test_trace_info_fields() -> None:
    trace = make_trace()
    info = trace.info
    root = trace.data.spans[0]
    assert info.request_id == root.request_id and info.trace_id == info.request_id
    assert info.experiment_id == "0"
    assert info.timestamp_ms == root.start_time_ns // 1_000_000
    assert info.execution_time_ms == (root.end_time_ns - root.start_time_ns) // 1_000_000
    assert info.status is TraceStatus.OK
    assert info.tags == {"env": "test", "spanlog.traceName": "root"}
    assert info.request_metadata == {"user": "u"}


def test_round_trip_through_dict_and_json() -> None:
    trace = make_trace()
    again = Trace.from_json(trace.to_json())
    assert again.to_dict() == trace.to_dict()
    assert Trace.from_dict(json.loads(trace.to_json(pretty=True))).to_dict() == trace.to_dict()
    child = again.data.spans[1]
    assert isinstance(child, Span)
    assert child.inputs == ["a", "b"] and child.outputs == {"text": "hi", "n": None}
    assert child.span_type == "LLM" and child.parent_id == again.data.spans[0].span_id
    assert child.events[0].name == "first_token" and child.events[0].attributes == {"ms": 12}
    assert TraceData.from_dict(trace.data.to_dict()).request == '{"q":"hello"}'


def test_span_dict_shape() -> None:
    trace = make_trace()
    root, child = (s.to_dict() for s in trace.data.spans)
    assert list(root) == [
        "name", "context", "parent_id", "start_time", "end_time", "status_code", "status_message", "attributes", "events",
    ]  # fmt: skip
    assert root["context"]["trace_id"] == "0x" + trace.info.request_id[3:]
    assert root["parent_id"] is None and child["parent_id"] == root["context"]["span_id"]
    assert root["status_code"] == "OK" and root["status_message"] == ""
    assert root["attributes"] == {
        "spanlog.traceRequestId": json.dumps(trace.info.request_id),
        "spanlog.spanType": '"CHAIN"',
        "k": '{"nested":[1,2]}',
        "spanlog.spanInputs": '{"q":"hello"}',
        "spanlog.spanOutputs": '"done"',
    }
    assert all(isinstance(v, str) for v in child["attributes"].values())
    data = trace.data.to_dict()
    assert data["request"] == '{"q":"hello"}' and data["response"] == '"done"'


def test_trace_lookup_helpers() -> None:
    trace = make_trace()
    assert trace.get_span("child").span_type == "LLM"
    assert trace.get_span(trace.data.spans[0].span_id).name == "root"
    assert [s.name for s in trace.search_spans(span_type="LLM")] == ["child"]
    assert trace.data.root_span.name == "root"


def test_get_trace_by_id_and_unknown_ids(caplog: pytest.LogCaptureFixture) -> None:
    trace = make_trace()
    make_trace()
    assert spanlog.get_trace(trace.info.request_id) is trace
    assert spanlog.get_trace("tr-" + "f" * 32) is None
    assert "no finished trace" in caplog.text
    with pytest.raises(spanlog.TraceNotFoundError):
        spanlog.SpanlogClient().get_trace("nope")
    with pytest.raises(spanlog.SpanlogError, match=r"got \['tr-1'\]"):
        spanlog.get_trace(["tr-1"])  # type: ignore[arg-type]


def test_status_coercion() -> None:
    assert SpanStatus.coerce("ok").status_code is SpanStatusCode.OK
    assert SpanStatus.coerce(SpanStatusCode.ERROR) == SpanStatus(SpanStatusCode.ERROR)
    with pytest.raises(spanlog.SpanlogError):
        SpanStatus.coerce(3)  # type: ignore[arg-type]


def test_trace_info_from_dict_coerces_values() -> None:
    info = TraceInfo.from_dict(
        {"request_id": "tr-1", "experiment_id": 3, "timestamp_ms": "5", "status": "ERROR", "tags": {"a": 1}}
    )
    assert info.experiment_id == "3" and info.timestamp_ms == 5 and info.tags == {"a": "1"}
    assert info.execution_time_ms is None and info.status is TraceStatus.ERROR
