"""The "Tracing Client APIs" and FAQ examples of the guide, run as written (MlflowClient -> SpanlogClient)."""

from __future__ import annotations

import logging
import threading
from pprint import pformat

import pytest

import spanlog
from spanlog import SpanlogClient
from spanlog.exceptions import SpanlogError, SpanNotFoundError, TraceNotFoundError

from tree_helpers import assert_well_formed, tree


def test_client_start_child_end_span_end_trace() -> None:
    client = SpanlogClient()
    root_span = client.start_trace("my_trace")
    request_id = root_span.request_id
    assert request_id.startswith("tr-") and len(request_id) == 35
    child_span = client.start_span(
        name="child_span",
        request_id=request_id,
        parent_id=root_span.span_id,
        inputs={"input_key": "input_value"},
        attributes={"attribute_key": "attribute_value"},
    )
    client.end_span(
        request_id=child_span.request_id,
        span_id=child_span.span_id,
        outputs={"output_key": "output_value"},
        attributes={"custom_attribute": "value"},
    )
    client.end_trace(
        request_id=request_id,
        outputs={"final_output_key": "final_output_value"},
        attributes={"token_usage": "1174"},
    )
    trace = client.get_trace(request_id)
    assert tree(trace, io=True, attributes=True) == (
        "my_trace [UNKNOWN] OK\n"
        '  out: {"final_output_key":"final_output_value"}\n'
        '  @token_usage: "1174"\n'
        "  child_span [UNKNOWN] OK\n"
        '    in: {"input_key":"input_value"}\n'
        '    out: {"output_key":"output_value"}\n'
        '    @attribute_key: "attribute_value"\n'
        '    @custom_attribute: "value"'
    )
    assert_well_formed(trace)
    assert spanlog.get_trace(request_id) is trace


def test_spans_of_one_trace_on_many_threads_in_any_order() -> None:
    client = SpanlogClient()
    root = client.start_trace("fan-out", tags={"kind": "threads"})
    started: list = []
    lock = threading.Lock()

    def start(i: int) -> None:
        span = client.start_span(f"child-{i}", request_id=root.request_id, parent_id=root.span_id)
        with lock:
            started.append(span)

    threads = [threading.Thread(target=start, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    def end(span) -> None:
        client.end_span(span.request_id, span.span_id, outputs=span.name)

    # end them in reverse, again from other threads
    threads = [threading.Thread(target=end, args=(s,)) for s in reversed(started)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    client.end_trace(root.request_id)
    trace = client.get_trace(root.request_id)
    assert len(trace.data.spans) == 21
    assert sorted(s.outputs for s in trace.data.spans[1:]) == sorted(f"child-{i}" for i in range(20))
    assert trace.info.tags["kind"] == "threads"
    assert_well_formed(trace)


def test_end_trace_ends_open_children_and_warns(caplog: pytest.LogCaptureFixture) -> None:
    client = SpanlogClient()
    root = client.start_trace("parent")
    child = client.start_span("forgotten", root.request_id, root.span_id)
    client.start_span("grandchild", root.request_id, child.span_id)
    with caplog.at_level(logging.WARNING, logger="spanlog"):
        client.end_trace(root.request_id, outputs="done")
    assert "2 of its spans were still open" in caplog.text and "'forgotten'" in caplog.text
    trace = client.get_trace(root.request_id)
    assert tree(trace) == "parent [UNKNOWN] OK\n  forgotten [UNKNOWN] UNSET\n    grandchild [UNKNOWN] UNSET"
    assert trace.data.spans[1].get_attribute("spanlog.spanEndedWithTrace") is True
    assert_well_formed(trace)


def test_wrong_ids_raise_clear_errors() -> None:
    client = SpanlogClient()
    root = client.start_trace("t")
    with pytest.raises(TraceNotFoundError, match="tr-0000"):
        client.start_span("c", request_id="tr-" + "0" * 32, parent_id=root.span_id)
    with pytest.raises(SpanNotFoundError, match="'nope'"):
        client.start_span("c", request_id=root.request_id, parent_id="nope")
    with pytest.raises(SpanNotFoundError, match="ffffffffffffffff"):
        client.end_span(root.request_id, "ffffffffffffffff")
    with pytest.raises(SpanlogError, match="non-empty string"):
        client.start_span("", root.request_id, root.span_id)
    with pytest.raises(SpanlogError, match="invalid span status 'MAYBE'"):
        client.end_trace(root.request_id, status="MAYBE")
    client.end_trace(root.request_id)
    with pytest.raises(TraceNotFoundError, match="already ended"):
        client.end_trace(root.request_id)
    with pytest.raises(TraceNotFoundError):
        client.get_trace("tr-unknown")


def test_end_span_with_error_status() -> None:
    client = SpanlogClient()
    root = client.start_trace("t")
    child = client.start_span("c", root.request_id, root.span_id)
    client.end_span(root.request_id, child.span_id, status="ERROR")
    client.end_trace(
        root.request_id, status=spanlog.entities.SpanStatus(spanlog.entities.SpanStatusCode.ERROR, "boom")
    )
    trace = client.get_trace(root.request_id)
    assert tree(trace) == "t [UNKNOWN] ERROR (boom)\n  c [UNKNOWN] ERROR"
    assert trace.info.status.value == "ERROR"


def test_fluent_span_with_client_child() -> None:
    client = SpanlogClient()
    with spanlog.start_span(name="Testing!") as span:
        child_span = client.start_span(
            name="Child Span From Client",
            request_id=span.request_id,
            parent_id=span.span_id,
            inputs={"request": "test input"},
            attributes={"attribute1": "value1"},
        )
        client.end_span(
            request_id=span.request_id,
            span_id=child_span.span_id,
            outputs={"response": "test output"},
            attributes={"attribute2": "value2"},
        )
    assert (
        tree(spanlog.get_last_active_trace())
        == "Testing! [UNKNOWN] OK\n  Child Span From Client [UNKNOWN] OK"
    )


def test_fluent_span_inside_client_trace_makes_two_traces(traces) -> None:
    """The FAQ's warning case: the fluent API cannot see a client-started span."""
    client = SpanlogClient()
    root = client.start_trace("client root")
    with spanlog.start_span("fluent") as span:
        assert span.request_id != root.request_id
        assert span.parent_id is None
    client.end_trace(root.request_id)
    assert [t.data.spans[0].name for t in traces.get_traces()] == ["fluent", "client root"]


def test_custom_metadata_ways() -> None:
    client = SpanlogClient()
    with spanlog.start_span(
        name="Parent", attributes={"attribute1": "value1", "attribute2": "value2"}
    ) as span:
        span.set_inputs({"input1": "value1", "input2": "value2"})
        span.set_outputs({"output1": "value1", "output2": "value2"})
    with spanlog.start_span(name="Parent") as span:
        span.set_attributes({"attribute1": "value1", "attribute2": "value2"})
        span.set_attribute("attribute3", "value3")
    assert spanlog.get_last_active_trace().data.spans[0].attributes == {
        "spanlog.traceRequestId": span.request_id,
        "spanlog.spanType": "UNKNOWN",
        "attribute1": "value1",
        "attribute2": "value2",
        "attribute3": "value3",
    }

    parent_span = client.start_trace(
        name="Parent Span", attributes={"attribute1": "value1", "attribute2": "value2"}
    )
    child_span = client.start_span(
        name="Child Span",
        request_id=parent_span.request_id,
        parent_id=parent_span.span_id,
        attributes={"attribute1": "value1", "attribute2": "value2"},
    )
    parent_span.set_attribute("attribute3", "value3")
    parent_span.set_attributes({"attribute4": "value4", "attribute5": "value5"})
    client.end_span(
        request_id=parent_span.request_id,
        span_id=child_span.span_id,
        attributes={"attribute1": "value1", "attribute2": "value2"},
    )
    client.end_trace(
        request_id=parent_span.request_id, attributes={"attribute3": "value3", "attribute4": "value4"}
    )
    trace = client.get_trace(parent_span.request_id)
    assert tree(trace, attributes=True) == (
        "Parent Span [UNKNOWN] OK\n"
        '  @attribute1: "value1"\n  @attribute2: "value2"\n  @attribute3: "value3"\n'
        '  @attribute4: "value4"\n  @attribute5: "value5"\n'
        "  Child Span [UNKNOWN] OK\n"
        '    @attribute1: "value1"\n    @attribute2: "value2"'
    )


def test_run_associated_tracing() -> None:
    experiment = spanlog.set_experiment("Run Associated Tracing")
    with spanlog.start_run() as run:
        with spanlog.start_span(name="Run Span") as parent_span:
            parent_span.set_inputs({"input": "a"})
            parent_span.set_outputs({"response": "b"})
            parent_span.set_attribute("a", "b")
            with spanlog.start_span(name="Child Span") as child_span:
                child_span.set_inputs({"input": "b"})
                child_span.set_outputs({"response": "c"})
                child_span.set_attributes({"b": "c", "c": "d"})
    trace = spanlog.get_last_active_trace()
    assert trace.info.request_metadata["spanlog.sourceRun"] == run.info.run_id
    assert trace.info.experiment_id == experiment.experiment_id
    assert tree(trace, io=True) == (
        'Run Span [UNKNOWN] OK\n  in: {"input":"a"}\n  out: {"response":"b"}\n'
        '  Child Span [UNKNOWN] OK\n    in: {"input":"b"}\n    out: {"response":"c"}'
    )
    with spanlog.start_span(name="after the run"):
        pass
    assert "spanlog.sourceRun" not in spanlog.get_last_active_trace().info.request_metadata


def test_exception_stack_trace_faq() -> None:
    experiment = spanlog.set_experiment("Intentional Exception")
    with pytest.raises(Exception, match="Intentionally throwing!"):
        with spanlog.start_span(name="A Problematic Span") as span:
            span.set_inputs({"input": "Exception should log as event"})
            span.set_attribute("a", "b")
            raise Exception("Intentionally throwing!")
    trace = spanlog.get_trace(span.request_id)
    trace_data = trace.data
    printed = pformat(trace_data.to_dict(), indent=1)
    assert "'status_message': 'Exception: Intentionally throwing!'" in printed
    data = trace_data.to_dict()
    (span_dict,) = data["spans"]
    assert span_dict["name"] == "A Problematic Span"
    assert span_dict["context"]["span_id"] == "0x" + span.span_id
    assert span_dict["context"]["trace_id"] == "0x" + span.request_id[3:]
    assert span_dict["parent_id"] is None
    assert span_dict["status_code"] == "ERROR"
    assert span_dict["attributes"] == {
        "spanlog.traceRequestId": f'"{span.request_id}"',
        "spanlog.spanType": '"UNKNOWN"',
        "spanlog.spanInputs": '{"input":"Exception should log as event"}',
        "a": '"b"',
    }
    (event,) = span_dict["events"]
    assert event["name"] == "exception"
    stack = event["attributes"]["exception.stacktrace"]
    assert stack.startswith("Traceback (most recent call last):")
    assert 'raise Exception("Intentionally throwing!")' in stack
    assert "spanlog/" not in stack.replace("tests/core", "")  # spanlog's own frames are left out
    assert stack.endswith("Exception: Intentionally throwing!\n")
    assert data["request"] == '{"input":"Exception should log as event"}' and data["response"] is None
    assert trace.info.experiment_id == experiment.experiment_id
