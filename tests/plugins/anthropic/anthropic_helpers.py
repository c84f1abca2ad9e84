"""Helpers of the Anthropic plugin tests: the last trace, its spans, and what a span recorded."""

from __future__ import annotations

from typing import Any

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
