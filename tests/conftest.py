"""Test-suite wide setup: testing mode (errors inside spanlog raise), and a fresh trace sink per test."""

from __future__ import annotations

import os
import sys
import tempfile

os.environ["SPANLOG_TESTING"] = "1"
# installed means on for the redaction plugin; its own tests register it, the other suites see raw values
os.environ.setdefault("SPANLOG_DISABLE_PLUGINS", "pii_redaction")
# experiments, runs and traces of the suite go to a throwaway store, never ./.spanlog
os.environ["SPANLOG_TRACKING_URI"] = "sqlite:///" + os.path.join(
    tempfile.mkdtemp(prefix="spanlog-tests-"), "t.db"
)

import pytest

import spanlog
from spanlog.export import InMemoryTraceExporter, set_exporter


@pytest.fixture(autouse=True)
def traces() -> InMemoryTraceExporter:
    """Every test gets its own in-memory exporter and default switches; yields the exporter."""
    from spanlog.tracing import state, trace_manager
    from spanlog.tracking import fluent as tracking

    exporter = InMemoryTraceExporter(max_traces=None)
    set_exporter(exporter)
    trace_manager.reset()
    tracking.reset()
    state.reset_stats()
    spanlog.tracing.enable()
    saved = (state.STATE.sampling_ratio, state.STATE.hide_inputs, state.STATE.hide_outputs)
    yield exporter
    spanlog.tracing.enable()
    spanlog.tracing.set_masking_function(None)
    state.STATE.sampling_ratio, state.STATE.hide_inputs, state.STATE.hide_outputs = saved
    set_exporter(None)
    if "spanlog.plugins.manager" in sys.modules:  # forget registered plugins and undo every autolog
        sys.modules["spanlog.plugins.manager"].reset_for_tests()
