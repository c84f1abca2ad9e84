"""A bug inside redaction: spanlog logs and counts it, and the raw value is never exported."""

from __future__ import annotations

import re
from typing import Any

import pytest
from spanlog_pii_redaction import configure, patterns, redaction

import spanlog
from spanlog.tracing import stats

from tree_helpers import tree

FAILED = "[REDACTED:REDACTION_FAILED]"
HOOK_ERROR = "internal_error:plugin 'pii_redaction' hook spanlog_span_end"


def boom(match: re.Match[str]) -> str:
    raise RuntimeError("bug in a replacement")


@pytest.fixture
def broken_email_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    """The e-mail rule finds addresses but its replacement raises."""
    broken = patterns.Rule(patterns.EMAIL, re.compile(r"\S+@\S+"), boom)
    monkeypatch.setitem(patterns.RULES, patterns.EMAIL, (broken,))
    configure()


def record_span() -> None:
    with spanlog.start_span("span") as span:
        span.set_inputs({"to": "ann@example.com", "body": "hello"})
        span.set_attribute("callback", "+44 20 7946 0958")
        span.set_attribute("app.version", "1.2.3")
        span.set_outputs("sent")


def test_a_failing_value_is_replaced_and_the_error_counted(
    broken_email_rule: None, production_mode: None
) -> None:
    record_span()
    # the inputs could not be redacted, so they are dropped; the phone number is still redacted
    assert tree(spanlog.get_last_active_trace(), io=True, attributes=True) == (
        "span [UNKNOWN] OK\n"
        f'  in: "{FAILED}"\n'
        '  out: "sent"\n'
        '  @callback: "[REDACTED:PHONE]"\n'
        '  @app.version: "1.2.3"'
    )
    assert stats()[HOOK_ERROR] == 1


def test_a_failing_value_raises_in_testing_mode(broken_email_rule: None, traces: Any) -> None:
    with pytest.raises(RuntimeError, match="bug in a replacement"):
        record_span()
    assert traces.get_traces() == []  # a plugin's bug fails its tests instead of hiding


def test_a_failing_search_falls_back_to_value_by_value(
    monkeypatch: pytest.MonkeyPatch, production_mode: None
) -> None:
    original = redaction.Settings.finds

    def finds(self: redaction.Settings, value: Any) -> bool:
        if isinstance(value, list):  # the search over the whole span
            raise RuntimeError("bug in the search")
        return original(self, value)

    monkeypatch.setattr(redaction.Settings, "finds", finds)
    record_span()
    span = spanlog.get_last_active_trace().data.spans[0]
    assert span.inputs == {"to": "[REDACTED:EMAIL]", "body": "hello"}
    assert span.get_attribute("callback") == "[REDACTED:PHONE]"
    assert stats()[HOOK_ERROR] == 1


def test_a_rule_that_cannot_even_search_loses_every_value_it_scans(
    monkeypatch: pytest.MonkeyPatch, production_mode: None
) -> None:
    class Unsearchable:
        def search(self, text: str) -> None:
            raise RuntimeError("bug in a pattern")

        sub = search

    monkeypatch.setitem(patterns.RULES, patterns.PHONE, (patterns.Rule(patterns.PHONE, Unsearchable(), "x"),))
    configure()
    record_span()
    span = spanlog.get_last_active_trace().data.spans[0]
    assert span.inputs == FAILED
    assert span.get_attribute("callback") == FAILED
    assert span.get_attribute("app.version") == FAILED
    assert span.outputs == FAILED
    assert stats()[HOOK_ERROR] == 1
