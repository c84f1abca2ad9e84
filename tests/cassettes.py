"""Replay recorded HTTP traffic in tests; record it anew from a real local model for maintainers.

Tests replay ``cassettes/<integration>/<test name>.yaml`` with ``record_mode="none"``, so a missing or
outdated recording fails loudly instead of reaching the network. ``scripts/record_cassettes.py`` starts a
real model behind an OpenAI-compatible server on :data:`MODEL_PORT` and runs the recording tests with
``SPANLOG_RECORD=1``, which switches to ``record_mode="all"``. Secrets in headers never reach a cassette.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import vcr

ROOT = Path(__file__).resolve().parents[1]
CASSETTES = ROOT / "cassettes"
RECORDING = os.environ.get("SPANLOG_RECORD") == "1"

MODEL_PORT = 8765  # the recorder serves the model here; replay matches requests on it
MODEL_BASE_URL = f"http://127.0.0.1:{MODEL_PORT}/v1"
MODEL_NAME = "gemma-3-270m"
FAKE_API_KEY = "sk-test-not-a-real-key"

_SECRET_HEADERS = (
    "authorization",
    "api-key",
    "x-api-key",
    "openai-organization",
    "openai-project",
    "cookie",
    "set-cookie",
    "x-goog-api-key",
)
_VOLATILE_RESPONSE_HEADERS = ("date", "set-cookie", "server", "x-request-id", "cf-ray")


def _scrub_response(response: dict[str, Any]) -> dict[str, Any]:
    headers = response.get("headers") or {}
    for name in list(headers):
        if name.lower() in _VOLATILE_RESPONSE_HEADERS:
            del headers[name]
    return response


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_")


def use_cassette(integration: str, name: str, **options: Any) -> Any:
    """A vcrpy context manager for ``cassettes/<integration>/<name>.yaml`` (replay, or record when asked)."""
    recorder = vcr.VCR(
        cassette_library_dir=str(CASSETTES / integration),
        record_mode="all" if RECORDING else "none",
        filter_headers=[(h, None) for h in _SECRET_HEADERS],
        before_record_response=_scrub_response,
        match_on=["method", "scheme", "host", "port", "path", "query", "body"],
        decode_compressed_response=True,
    )
    return recorder.use_cassette(f"{_safe_name(name)}.yaml", **options)


def without_legacy_function_call(body: bytes) -> bytes | None:
    """A chat completion body without the deprecated ``function_call`` that llama-cpp-python's function-calling
    chat format puts next to ``tool_calls`` (with a malformed name such as ``"add:"``); None if there is none.

    The OpenAI API never sends both. Agent frameworks either reject any ``function_call`` (AutoGen) or run it
    instead of the tool calls (AG2), so their tests drop it in an httpx response hook, on replay and on recording
    alike; the cassettes keep the server's reply as it was.
    """
    data = json.loads(body)
    changed = False
    for choice in data.get("choices") or ():
        message = choice.get("message") or {}
        if message.get("tool_calls") and message.get("function_call") is not None:
            del message["function_call"]
            changed = True
    return json.dumps(data).encode() if changed else None
