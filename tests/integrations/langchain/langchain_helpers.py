"""Helpers of the LangChain tests: span lookup by name and a user callback handler that records events."""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import BaseCallbackHandler

from tree_helpers import the_trace


def spans_named(name: str, trace: Any = None) -> list[Any]:
    """The spans of ``trace`` (default: the last one) called ``name``, in start order."""
    trace = trace or the_trace()
    return [span for span in trace.data.spans if span.name == name]


def parent_of(span: Any, trace: Any = None) -> Any:
    """The parent span of ``span`` in its trace (None for the root)."""
    trace = trace or the_trace()
    return next((s for s in trace.data.spans if s.span_id == span.parent_id), None)


class RecordingHandler(BaseCallbackHandler):
    """A user's own callback handler: records which callbacks LangChain called, in order."""

    def __init__(self) -> None:
        self.events: list[str] = []

    def on_chain_start(self, serialized: Any, inputs: Any, **kwargs: Any) -> None:
        self.events.append(f"chain_start:{kwargs.get('name')}")

    def on_chain_end(self, outputs: Any, **kwargs: Any) -> None:
        self.events.append("chain_end")

    def on_chat_model_start(self, serialized: Any, messages: Any, **kwargs: Any) -> None:
        self.events.append("chat_model_start")

    def on_llm_end(self, response: Any, **kwargs: Any) -> None:
        self.events.append("llm_end")

    def on_tool_error(self, error: BaseException, **kwargs: Any) -> None:
        self.events.append(f"tool_error:{type(error).__name__}")
