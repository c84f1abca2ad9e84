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


def token_usage(
    input_tokens: Any = None,
    output_tokens: Any = None,
    total_tokens: Any = None,
    cached_input_tokens: Any = None,
) -> dict[str, int] | None:
    """The normalized usage dict (ints only; total computed when missing); None when nothing is known."""

    def as_int(value: Any) -> int | None:
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    inp, out, tot, cached = (
        as_int(v) for v in (input_tokens, output_tokens, total_tokens, cached_input_tokens)
    )
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
    values = {
        SpanAttributeKey.MODEL: model,
        SpanAttributeKey.PROVIDER: provider,
        SpanAttributeKey.CHAT_MESSAGES: list(messages) if messages is not None else None,
        SpanAttributeKey.CHAT_TOOLS: list(tools) if tools else None,
        SpanAttributeKey.CHAT_TOOL_CALLS: list(tool_calls) if tool_calls else None,
        SpanAttributeKey.FINISH_REASON: finish_reason,
        SpanAttributeKey.TOKEN_USAGE: dict(usage) if usage else None,
    }
    span.set_attributes({key: value for key, value in values.items() if value is not None})
