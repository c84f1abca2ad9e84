"""Helpers of the OpenAI integration tests: the last trace and its spans, the SDK's HTTP library."""

from __future__ import annotations

import importlib
import types
from typing import Any

import pytest


def http_module() -> types.ModuleType:
    """The HTTP library this openai version sends through: ``httpx2`` (openai 3.x) or ``httpx`` (2.x)."""
    base_client = importlib.import_module("openai._base_client")
    module = getattr(base_client, "httpx2", None) or base_client.httpx
    return module


def chat_usage(usage: Any) -> dict[str, int]:
    """spanlog's normalized usage for the SDK's chat/completions usage object."""
    expected = {
        "input_tokens": usage.prompt_tokens,
        "output_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }
    details = getattr(usage, "prompt_tokens_details", None)
    cached = (
        details.get("cached_tokens") if isinstance(details, dict) else getattr(details, "cached_tokens", None)
    )
    if cached is not None:
        expected["cached_input_tokens"] = cached
    return expected


def dumped(response: Any) -> Any:
    """What the span's outputs must be for a response object: the fields the server sent."""
    return response.model_dump(exclude_unset=True, mode="json")


def _sdk_has(module: str, attribute: str) -> bool:
    try:
        owner = importlib.import_module(module)
    except ImportError:
        return False
    for part in attribute.split("."):
        owner = getattr(owner, part, None)
        if owner is None:
            return False
    return True


def _version() -> str:
    import openai

    return openai.__version__


needs_chat_parse = pytest.mark.skipif(
    not _sdk_has("openai.resources.chat.completions", "Completions.parse"),
    reason=f"openai {_version()} has no chat.completions.parse (it was beta.chat.completions.parse before 1.92)",
)
needs_chat_stream_helper = pytest.mark.skipif(
    not _sdk_has("openai.resources.chat.completions", "Completions.stream"),
    reason=f"openai {_version()} has no chat.completions.stream (it was beta.chat.completions.stream before 1.92)",
)
needs_responses = pytest.mark.skipif(
    not _sdk_has("openai.resources.responses", "Responses"),
    reason=f"openai {_version()} has no Responses API (added in 1.66)",
)
