"""``redact`` on plain values: what each category finds, the look-alikes it must leave alone, and how
nested values keep their structure."""

from __future__ import annotations

import pytest
from spanlog_pii_redaction import redact

EMAIL = "[REDACTED:EMAIL]"
PHONE = "[REDACTED:PHONE]"
KEY = "[REDACTED:API_KEY]"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # e-mail addresses
        ("write to bob@example.com today", f"write to {EMAIL} today"),
        ("<Jane.Doe+news@mail.example.co.uk>", f"<{EMAIL}>"),
        ("from: ops_team-1@sub.example.io.", f"from: {EMAIL}."),
        # phone numbers
        ("call +1 (555) 123-4567 now", f"call {PHONE} now"),
        ("+44 20 7946 0958", PHONE),
        ("whatsapp +14155552671", f"whatsapp {PHONE}"),
        ("+33 6 12 34 56 78", PHONE),
        ("555-123-4567", PHONE),
        ("(555) 123-4567", PHONE),
        ("555.123.4567, ok", f"{PHONE}, ok"),
        ("1-800-555-0199", f"1-{PHONE}"),
        ("tel:555 123 4567", f"tel:{PHONE}"),
        # API keys and secrets
        ("key sk-abcdefghijklmnopqrstuvwxyz0123 end", f"key {KEY} end"),
        ("sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z_-AbC", KEY),
        ("sk-ant-api03-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z-AA", KEY),
        ("AKIAIOSFODNN7EXAMPLE", KEY),
        ("ghp_" + "a1B2c3D4e5" * 4, KEY),
        ("github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz", KEY),
        ("AIzaSyA-1234567890abcdefghijklmnopqrstu", KEY),
        ("xoxb-1234567890-0987654321-AbCdEfGhIjKl", KEY),
        ("hf_" + "AbCdEfGhIj" * 3 + "kl", KEY),
        ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U", KEY),
        ("Authorization: Bearer abc.DEF-123_456~xyz/789+=", f"Authorization: Bearer {KEY}"),
        ("api_key=s3cr3tvalue&page=2", f"api_key={KEY}&page=2"),
        ("OPENAI_API_KEY: not-really-a-key", f"OPENAI_API_KEY: {KEY}"),
        ('{"password": "hunter22"}', f'{{"password": "{KEY}"}}'),
        ('client_secret = "abcdefgh"', f'client_secret = "{KEY}"'),
        ("apiKey:xyz123abc", f"apiKey:{KEY}"),
        ("x-api-key: 0123456789", f"x-api-key: {KEY}"),
    ],
)
def test_finds_and_replaces_pii(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        # times and ids
        "2024-01-15T10:30:00.123456+00:00",
        "2024-01-15 10:30:00 +0530",
        "created 1700000000, updated 1700000000123",
        "tr-0123456789abcdef0123456789abcdef / span 00f067aa0ba902b7",
        "550e8400-e29b-41d4-a716-446655440000",
        "12345678-1234-1234-1234-123456789012",
        "order 2024-555-1234 shipped",
        # versions, addresses, numbers
        "spanlog 1.2.3, build 10.0.19041.1234",
        "host 192.168.100.200:8080",
        "pi is 3.14159265358979 and e is 2.71828182845",
        "prompt_tokens: 1234567, completion_tokens: 7654321, total_tokens: 8888888",
        "timezone +0000, growth +12.5%, 1e+10, 6.02e+23",
        "$1,234,567.89 in 2023",
        "ISBN 978-3-16-148410-0",
        # model names and identifiers
        "gpt-4o-2024-08-06, claude-3-5-sonnet-20241022",
        "task-management-system-overview-document",
        "sk-short",
        # things with @ that are not addresses
        "icon@2x.png, react@18.2.0, @username, user@localhost, @decorator",
        # secret-ish words that are not secrets
        "Key: an important point; the secret to success; password reset",
        "eos_token: </s>, max_tokens=1024, stop_token: <|end|>",
        "api_key: null",
        "",
    ],
)
def test_leaves_look_alikes_alone(text: str) -> None:
    assert redact(text) is text


def test_nested_values_keep_their_structure_and_other_values() -> None:
    value = {
        "user": {"email": "ann@example.org", "age": 41, "vip": True, "score": 0.5, "notes": None},
        "history": [["call 555-123-4567", 3], ("a", "b@example.com")],
        "meta": {"tags": ["a", "b"], "ids": [1, 2]},
    }
    redacted = redact(value)
    assert redacted == {
        "user": {"email": EMAIL, "age": 41, "vip": True, "score": 0.5, "notes": None},
        "history": [[f"call {PHONE}", 3], ("a", EMAIL)],
        "meta": {"tags": ["a", "b"], "ids": [1, 2]},
    }
    assert value["user"]["email"] == "ann@example.org"  # the input is not changed in place
    # parts without PII are the very same objects: only the paths to a change are rebuilt
    assert redacted["meta"] is value["meta"]
    unchanged = {"a": ["x", {"b": 1}]}
    assert redact(unchanged) is unchanged


def test_values_under_secret_names_are_redacted_whatever_they_look_like() -> None:
    value = {"api_key": "x", "OPENAI_API_KEY": "abc", "x-api-key": "k", "password": "pw", "empty_secret": ""}
    assert redact(value) == {
        "api_key": KEY,
        "OPENAI_API_KEY": KEY,
        "x-api-key": KEY,
        "password": KEY,
        "empty_secret": "",
    }
    # other names and non-string values are left alone: a streamed token is model text, not a secret
    others = {"token": "Hello", "eos_token": "</s>", "max_tokens": 100, "secret_count": 3, "api_key": None}
    assert redact(others) is others


def test_redaction_is_idempotent() -> None:
    once = redact(
        "mail bob@example.com, key sk-abcdefghijklmnopqrstuvwxyz, api_key=abcdef12, +44 20 7946 0958"
    )
    assert once == f"mail {EMAIL}, key {KEY}, api_key={KEY}, {PHONE}"
    assert redact(once) is once
    assert redact({"password": KEY}) == {"password": KEY}


def test_each_match_in_a_long_text_is_replaced() -> None:
    line = "The quarterly report (version 2.1.0, 2024-05-01) covers 1234 tokens. "
    text = line * 200 + "Contact: ana@example.com or +1 555 010 9999." + line * 200
    assert redact(text) == line * 200 + f"Contact: {EMAIL} or {PHONE}." + line * 200
