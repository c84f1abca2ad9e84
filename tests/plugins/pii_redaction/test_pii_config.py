"""Turning redaction off and choosing categories, from Python and from the environment."""

from __future__ import annotations

import logging

import pytest
import spanlog_pii_redaction
from spanlog_pii_redaction import configure, redact

import spanlog

TEXT = "mail ann@example.com, call 555-123-4567, key sk-abcdefghijklmnopqrstuv"


def traced_inputs() -> str:
    """The inputs of a span that recorded ``TEXT``, as exported."""
    with spanlog.start_span("span") as span:
        span.set_inputs(TEXT)
    return spanlog.get_last_active_trace().data.spans[0].inputs


def test_everything_is_redacted_by_default() -> None:
    assert spanlog_pii_redaction.settings().categories == {"api_key", "email", "phone"}
    assert traced_inputs() == "mail [REDACTED:EMAIL], call [REDACTED:PHONE], key [REDACTED:API_KEY]"


def test_configure_chooses_categories_and_turns_spans_off() -> None:
    configure(categories=["email"])
    assert traced_inputs() == "mail [REDACTED:EMAIL], call 555-123-4567, key sk-abcdefghijklmnopqrstuv"
    configure(categories=("phone", "api_key"))
    assert traced_inputs() == "mail ann@example.com, call [REDACTED:PHONE], key [REDACTED:API_KEY]"
    configure(enabled=False)  # categories left out: back to the environment's (all)
    assert traced_inputs() == TEXT
    # redact() itself still works when the span hook is off
    assert redact(TEXT) == "mail [REDACTED:EMAIL], call [REDACTED:PHONE], key [REDACTED:API_KEY]"
    assert (
        redact(TEXT, categories="email")
        == "mail [REDACTED:EMAIL], call 555-123-4567, key sk-abcdefghijklmnopqrstuv"
    )
    configure()
    assert traced_inputs() == "mail [REDACTED:EMAIL], call [REDACTED:PHONE], key [REDACTED:API_KEY]"


def test_secret_named_keys_belong_to_the_api_key_category() -> None:
    assert redact({"api_key": "abc"}, categories=["email"]) == {"api_key": "abc"}
    assert redact({"api_key": "abc"}, categories=["api_key"]) == {"api_key": "[REDACTED:API_KEY]"}


def test_unknown_category_is_an_error_naming_the_valid_ones() -> None:
    with pytest.raises(
        spanlog.InvalidArgumentError, match=r"unknown PII categories \['emails'\]; valid .*'email'"
    ):
        configure(categories=["emails"])
    with pytest.raises(spanlog.InvalidArgumentError, match="ssn"):
        redact("x", categories=["ssn"])
    assert spanlog_pii_redaction.settings().categories == {"api_key", "email", "phone"}  # unchanged


@pytest.mark.parametrize("value", ["0", "false", "OFF", " no "])
def test_environment_turns_span_redaction_off(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("SPANLOG_PII_REDACTION", value)
    configure()
    assert traced_inputs() == TEXT


def test_environment_chooses_categories(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPANLOG_PII_REDACTION", "1")
    monkeypatch.setenv("SPANLOG_PII_REDACTION_CATEGORIES", " Email , api_key")
    configure()
    assert traced_inputs() == "mail [REDACTED:EMAIL], call 555-123-4567, key [REDACTED:API_KEY]"
    configure(categories=["phone"])  # an explicit argument wins over the environment
    assert traced_inputs() == "mail ann@example.com, call [REDACTED:PHONE], key sk-abcdefghijklmnopqrstuv"


def test_a_typo_in_the_environment_never_turns_redaction_off(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("SPANLOG_PII_REDACTION_CATEGORIES", "emial")
    with caplog.at_level(logging.WARNING, logger="spanlog_pii_redaction"):
        configure()
    assert "ignoring unknown categories ['emial']" in caplog.text
    assert spanlog_pii_redaction.settings().categories == {"api_key", "email", "phone"}
    monkeypatch.setenv("SPANLOG_PII_REDACTION_CATEGORIES", "phone,emial")
    configure()
    assert spanlog_pii_redaction.settings().categories == {"phone"}


def test_without_the_plugin_nothing_is_redacted() -> None:
    spanlog.plugins.unregister("pii_redaction")
    assert traced_inputs() == TEXT
