"""Switches: disable/enable, sampling, masking, hiding inputs/outputs, and resilience to internal failures."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import spanlog
from spanlog.export import TraceExporter
from spanlog.tracing import state

from tree_helpers import tree


@spanlog.trace
def double(x):
    return 2 * x


@spanlog.trace
def gen(n):
    yield from range(n)


def test_disable_records_nothing_and_enable_resumes(traces) -> None:
    spanlog.tracing.disable()
    assert not spanlog.tracing.is_enabled()
    assert double(2) == 4
    assert list(gen(3)) == [0, 1, 2]
    with spanlog.start_span("block") as span:
        span.set_inputs({"ignored": True})
        assert span.request_id is None
        assert spanlog.get_current_active_span() is None
    root = spanlog.SpanlogClient().start_trace("client")
    spanlog.SpanlogClient().end_trace(root.request_id)
    assert traces.get_traces() == []
    spanlog.tracing.enable()
    assert double(3) == 6
    assert tree(spanlog.get_last_active_trace()) == "double [UNKNOWN] OK"


def test_disable_midway_keeps_open_trace_consistent() -> None:
    with spanlog.start_span("outer"):
        spanlog.tracing.disable()
        double(1)  # not recorded
        spanlog.tracing.enable()
        double(2)
    assert tree(spanlog.get_last_active_trace()) == "outer [UNKNOWN] OK\n  double [UNKNOWN] OK"


def test_sampling_keeps_whole_traces_or_nothing(traces) -> None:
    spanlog.tracing.set_sampling_ratio(0.5)
    for i in range(400):
        with spanlog.start_span("root"):
            double(i)
            with spanlog.start_span("child"):
                assert (
                    spanlog.get_current_active_span() is None
                    or spanlog.get_current_active_span().name == "child"
                )
    kept = traces.get_traces()
    assert 120 < len(kept) < 280
    assert all(len(t.data.spans) == 3 for t in kept)
    spanlog.tracing.set_sampling_ratio(0.0)
    double(1)
    assert len(traces.get_traces()) == len(kept)
    with pytest.raises(spanlog.SpanlogError, match="between 0 and 1"):
        spanlog.tracing.set_sampling_ratio(1.5)


def test_masking_function_applies_to_inputs_outputs_and_attributes() -> None:
    def mask(value, field):
        if field == "inputs":
            return {k: "***" if k == "password" else v for k, v in value.items()}
        if field == "attributes.api_key":
            return "***"
        if field == "outputs" and isinstance(value, str):
            return value.replace("secret", "[redacted]")
        return value

    spanlog.tracing.set_masking_function(mask)

    @spanlog.trace(attributes={"api_key": "sk-123", "model": "m"})
    def login(user, password):
        return f"token for {user}: secret"

    login("ann", "hunter2")
    span = spanlog.get_last_active_trace().data.spans[0]
    assert span.inputs == {"user": "ann", "password": "***"}
    assert span.outputs == "token for ann: [redacted]"
    assert span.attributes["api_key"] == "***" and span.attributes["model"] == "m"
    assert "hunter2" not in spanlog.get_last_active_trace().to_json()


def test_failing_masking_function_drops_values_rather_than_leaking() -> None:
    state.STATE.testing = False
    try:
        spanlog.tracing.set_masking_function(lambda value, field: 1 / 0)
        assert double(21) == 42
    finally:
        state.STATE.testing = True
    span = spanlog.get_last_active_trace().data.spans[0]
    assert span.inputs == "<masking failed>" and span.outputs == "<masking failed>"
    assert spanlog.tracing.stats()["internal_error:masking function"] == 2


def test_hide_inputs_and_outputs() -> None:
    spanlog.tracing.hide_inputs()
    spanlog.tracing.hide_outputs()
    double(5)
    with spanlog.start_span("s") as s:
        s.set_inputs({"a": 1})
        s.set_outputs({"b": 1})
    for trace in (spanlog.get_last_active_trace(),):
        assert trace.data.spans[0].inputs is None and trace.data.spans[0].outputs is None


def test_hide_switches_from_environment() -> None:
    code = (
        "import spanlog\n"
        "@spanlog.trace\n"
        "def f(x): return x\n"
        "f(1)\n"
        "s = spanlog.get_last_active_trace().data.spans[0]\n"
        "print(s.inputs, s.outputs)\n"
    )
    env = {"SPANLOG_HIDE_INPUTS": "1", "PATH": "", "SPANLOG_TRACKING_URI": os.environ["SPANLOG_TRACKING_URI"]}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "None 1"
    env = {
        "SPANLOG_TRACE_SAMPLING_RATIO": "0",
        "PATH": "",
        "SPANLOG_TRACKING_URI": os.environ["SPANLOG_TRACKING_URI"],
    }
    code = "import spanlog\n@spanlog.trace\ndef f(x): return x\nf(1)\nprint(spanlog.get_last_active_trace())"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "None"


class ExplodingExporter(TraceExporter):
    def export(self, trace):
        raise OSError("disk on fire")


def test_exporter_failure_never_reaches_user_code(caplog: pytest.LogCaptureFixture) -> None:
    spanlog.tracing.set_exporter(ExplodingExporter())
    state.STATE.testing = False
    try:
        assert [double(i) for i in range(3)] == [0, 2, 4]
    finally:
        state.STATE.testing = True
    assert caplog.text.count("OSError: disk on fire") == 1  # logged once
    assert spanlog.tracing.stats()["internal_error:exporting a trace"] == 3  # counted every time


def test_internal_failure_when_starting_runs_the_function_untraced(monkeypatch: pytest.MonkeyPatch) -> None:
    from spanlog.tracing import fluent

    def broken(*args, **kwargs):
        raise RuntimeError("bug inside spanlog")

    monkeypatch.setattr(fluent, "_open_span", broken)
    state.STATE.testing = False
    try:
        assert double(4) == 8
        assert list(gen(2)) == [0, 1]
        with spanlog.start_span("s") as span:
            span.set_inputs(1)
    finally:
        state.STATE.testing = True
    assert spanlog.tracing.stats()["internal_error:starting a span"] == 3


def test_set_exporter_rejects_wrong_type() -> None:
    with pytest.raises(spanlog.SpanlogError, match="TraceExporter"):
        spanlog.tracing.set_exporter(object())
