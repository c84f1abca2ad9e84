"""Helpers of the Anthropic plugin tests: the last trace, its spans, and what a span recorded."""

from __future__ import annotations

from typing import Any

import spanlog

from cassettes import MODEL_PORT

MODEL_ROOT_URL = f"http://127.0.0.1:{MODEL_PORT}"
"""The recorded server's root: the Anthropic SDK appends ``/v1/messages`` itself."""

MESSAGES = "spanlog.chat.messages"
TOOLS = "spanlog.chat.tools"
TOOL_CALLS = "spanlog.chat.toolCalls"
USAGE = "spanlog.chat.tokenUsage"
MODEL = "spanlog.llm.model"
PROVIDER = "spanlog.llm.provider"
FINISH_REASON = "spanlog.llm.finishReason"


def the_trace() -> Any:
    """The last finished trace (it must exist)."""
    trace = spanlog.get_last_active_trace()
    assert trace is not None, "no trace was recorded"
    return trace


def the_span(name: str | None = None) -> Any:
    """The only span of the last trace, or its span called ``name``."""
    spans = the_trace().data.spans
    if name is None:
        assert len(spans) == 1, [s.name for s in spans]
        return spans[0]
    found = [s for s in spans if s.name == name]
    assert len(found) == 1, [s.name for s in spans]
    return found[0]


def event_names(span: Any) -> list[str]:
    """The names of a span's events, in order."""
    return [event.name for event in span.events]


def expected_usage(usage: Any) -> dict[str, int]:
    """The normalized usage of an SDK ``Usage`` (or its dict): the whole prompt as ``input_tokens``."""
    get = usage.get if isinstance(usage, dict) else lambda key: getattr(usage, key, None)
    read = get("cache_read_input_tokens") or 0
    prompt = get("input_tokens") + read + (get("cache_creation_input_tokens") or 0)
    output = get("output_tokens")
    result = {"input_tokens": prompt, "output_tokens": output, "total_tokens": prompt + output}
    if get("cache_read_input_tokens") is not None:
        result["cached_input_tokens"] = read
    return result
