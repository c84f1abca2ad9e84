"""Which provider serves a LangChain model: from the base URL of the client it sends through.

``spanlog.llm.provider`` must say the same as the provider integrations say for the same server (``openai``,
``local`` for a server on this machine, ...), so it is read from the model's client, where the SDK's own
defaults and environment variables (``OPENAI_BASE_URL``) have already been applied, then from the model's
settings; LangChain's ``ls_provider`` metadata is the fallback.
"""

from __future__ import annotations

import contextvars
from typing import Any

from spanlog.plugins.llm import provider_from_base_url

CURRENT_MODEL: contextvars.ContextVar[Any] = contextvars.ContextVar("spanlog_langchain_model", default=None)
"""The model whose stream is being read: its run starts inside the stream, where only this tells which
model it is."""

_URL_ATTRIBUTES = ("openai_api_base", "base_url", "api_base", "azure_endpoint", "endpoint_url")
_cache: dict[str, str] = {}


def base_url(model: Any) -> Any:
    """The base URL a model (or embeddings object) sends to, or None when it has none."""
    for client_attribute in ("root_client", "async_root_client"):
        url = getattr(getattr(model, client_attribute, None), "base_url", None)
        if url is not None:
            return url
    client = getattr(getattr(model, "client", None), "_client", None)  # OpenAI(), OpenAIEmbeddings()
    url = getattr(client, "base_url", None)
    if url is not None:
        return url
    for attribute in _URL_ATTRIBUTES:
        value = getattr(model, attribute, None)
        if isinstance(value, str) and value:
            return value
    return None


def provider_of(model: Any) -> str | None:
    """The provider serving ``model``, or None when its base URL is unknown."""
    url = base_url(model)
    if url is None:
        return None
    key = str(url)
    provider = _cache.get(key)
    if provider is None:
        if len(_cache) >= 256:
            _cache.clear()
        provider = _cache[key] = provider_from_base_url(key)
    return provider
