"""The normalized attributes of model calls, written the same way by every integration.

Keys live in ``SpanAttributeKey`` (``spanlog.chat.messages``, ``spanlog.chat.tools``, ``spanlog.chat.toolCalls``,
``spanlog.chat.tokenUsage``, ``spanlog.llm.model``, ``spanlog.llm.provider``, ``spanlog.llm.finishReason``);
docs/schema.md describes their values. Messages, tools and tool calls use the OpenAI chat shapes, the
lingua franca of the libraries we trace, so one UI and one query work for every provider.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from spanlog.entities.span import SpanAttributeKey

FIRST_TOKEN_EVENT = "first_token"
"""Event added to a streamed call's span when its first content chunk arrives (time to first token)."""

_PROVIDER_HOSTS = (
    ("api.openai.com", "openai"),
    (".openai.azure.com", "azure_openai"),
    (".azure.com", "azure"),
    ("api.anthropic.com", "anthropic"),
    ("api.mistral.ai", "mistral"),
    ("api.groq.com", "groq"),
    ("api.together.xyz", "together"),
    ("api.together.ai", "together"),
    ("api.fireworks.ai", "fireworks"),
    ("api.deepseek.com", "deepseek"),
    ("openrouter.ai", "openrouter"),
    ("generativelanguage.googleapis.com", "google"),
    ("api.x.ai", "xai"),
    ("api.perplexity.ai", "perplexity"),
)
_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "0.0.0.0"}


def provider_from_base_url(base_url: Any, default: str = "openai") -> str:
    """The provider behind an API base URL: ``openai``, ``azure_openai``, ``anthropic``, ..., ``local`` for
    a server on this machine, else the URL's host (an OpenAI-compatible server of some other provider)."""
    if base_url is None:
        return default
    try:
        host = (urlsplit(str(base_url)).hostname or "").lower()
    except ValueError:
        return default
    if not host:
        return default
    if host in _LOCAL_HOSTS or host.startswith("127."):
        return "local"
    for suffix, provider in _PROVIDER_HOSTS:
        if host == suffix or host.endswith(suffix if suffix.startswith(".") else "." + suffix):
            return provider
    return host


def _as_int(value: Any) -> int | None:
    return value if type(value) is int or (isinstance(value, int) and not isinstance(value, bool)) else None


def token_usage(
    input_tokens: Any = None,
    output_tokens: Any = None,
    total_tokens: Any = None,
    cached_input_tokens: Any = None,
) -> dict[str, int] | None:
    """The normalized usage dict (ints only; total computed when missing); None when nothing is known."""
    inp = _as_int(input_tokens)
    out = _as_int(output_tokens)
    tot = _as_int(total_tokens)
    if inp is None and out is None and tot is None:
        return None
    usage: dict[str, int] = {}
    if inp is not None:
        usage["input_tokens"] = inp
    if out is not None:
        usage["output_tokens"] = out
    if tot is None and inp is not None and out is not None:
        tot = inp + out
    if tot is not None:
        usage["total_tokens"] = tot
    if cached_input_tokens is not None:
        cached = _as_int(cached_input_tokens)
        if cached is not None:
            usage["cached_input_tokens"] = cached
    return usage


def set_llm_attributes(
    span: Any,
    *,
    model: str | None = None,
    provider: str | None = None,
    messages: Sequence[Mapping[str, Any]] | None = None,
    tools: Sequence[Any] | None = None,
    tool_calls: Sequence[Any] | None = None,
    finish_reason: str | None = None,
    usage: Mapping[str, int] | None = None,
) -> None:
    """Set the normalized attributes that are known (None leaves an attribute unset)."""
    # one set_attributes call with only the known values: this runs once per model call, on the caller's thread
    values: dict[str, Any] = {}
    if model is not None:
        values[SpanAttributeKey.MODEL] = model
    if provider is not None:
        values[SpanAttributeKey.PROVIDER] = provider
    if messages is not None:
        values[SpanAttributeKey.CHAT_MESSAGES] = messages if type(messages) is list else list(messages)
    if tools:
        values[SpanAttributeKey.CHAT_TOOLS] = tools if type(tools) is list else list(tools)
    if tool_calls:
        values[SpanAttributeKey.CHAT_TOOL_CALLS] = (
            tool_calls if type(tool_calls) is list else list(tool_calls)
        )
    if finish_reason is not None:
        values[SpanAttributeKey.FINISH_REASON] = finish_reason
    if usage:
        values[SpanAttributeKey.TOKEN_USAGE] = usage
    span.set_attributes(values)
