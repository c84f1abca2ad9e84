"""Span types: the built-in categories of a span. Any other string is accepted as a custom type."""

from __future__ import annotations


class SpanType:
    """Predefined span types. Plain strings, so ``span_type="MATH"`` works just as well."""

    LLM = "LLM"
    CHAT_MODEL = "CHAT_MODEL"
    CHAIN = "CHAIN"
    AGENT = "AGENT"
    TOOL = "TOOL"
    EMBEDDING = "EMBEDDING"
    RETRIEVER = "RETRIEVER"
    PARSER = "PARSER"
    RERANKER = "RERANKER"
    UNKNOWN = "UNKNOWN"

    ALL: tuple[str, ...] = (
        "LLM",
        "CHAT_MODEL",
        "CHAIN",
        "AGENT",
        "TOOL",
        "EMBEDDING",
        "RETRIEVER",
        "PARSER",
        "RERANKER",
        "UNKNOWN",
    )
